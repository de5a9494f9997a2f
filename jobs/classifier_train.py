"""Ray job: `python -m jobs.classifier_train --config CFG` (as `assay classifier train`)."""
import sys

from jobs.entry import main

if __name__ == "__main__":
    sys.exit(main("classifier-train"))
