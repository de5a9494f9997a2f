"""Ray job: `python -m jobs.train --config CFG` (the same typed config as `assay train`; see `assay train --help`)."""
import sys

from jobs.entry import main

if __name__ == "__main__":
    sys.exit(main("train"))
