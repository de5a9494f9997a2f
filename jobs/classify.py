"""Ray job: `python -m jobs.classify --config CFG` (score with the quality classifier; as `assay classifier score`)."""
import sys

from jobs.entry import main

if __name__ == "__main__":
    sys.exit(main("classify"))
