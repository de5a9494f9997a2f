"""Ray job: curate (read, extract, language ID, filter, dedupe). `python -m jobs.curate --config CFG`"""
import sys

from jobs.entry import main
from pipeline.curate import CurateJob, run_curate

if __name__ == "__main__":
    sys.exit(main(CurateJob, run_curate, __doc__))
