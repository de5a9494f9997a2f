"""Ray job: `python -m jobs.classifier_evaluate --config CFG` (as `assay classifier evaluate`)."""
import sys

from jobs.entry import main

if __name__ == "__main__":
    sys.exit(main("classifier-evaluate"))
