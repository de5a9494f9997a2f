"""Ray job: `python -m jobs.fit --config CFG` (the same typed config as `assay fit`; see `assay fit --help`)."""
import sys

from jobs.entry import main

if __name__ == "__main__":
    sys.exit(main("fit"))
