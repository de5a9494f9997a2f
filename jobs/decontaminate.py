"""Ray job: `python -m jobs.decontaminate --config CFG` (as `assay decontaminate`)."""
import sys

from jobs.entry import main

if __name__ == "__main__":
    sys.exit(main("decontaminate"))
