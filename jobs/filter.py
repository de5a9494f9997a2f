"""Ray job: `python -m jobs.filter --config CFG` (the same typed config as `assay filter`; see `assay filter --help`)."""
import sys

from jobs.entry import main

if __name__ == "__main__":
    sys.exit(main("filter"))
