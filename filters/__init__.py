"""assay: filters."""
