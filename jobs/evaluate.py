"""Ray job: `python -m jobs.evaluate --config CFG` (the same typed config as `assay evaluate`; see `assay evaluate --help`)."""
import sys

from jobs.entry import main

if __name__ == "__main__":
    sys.exit(main("evaluate"))
