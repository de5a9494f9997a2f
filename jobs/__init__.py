"""Ray job entrypoints: `python -m jobs.<stage> --config CFG` (runs unchanged under `ray job submit`)."""
