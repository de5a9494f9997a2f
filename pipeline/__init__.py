"""assay: pipeline."""
