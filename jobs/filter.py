"""Ray job: the filter stage alone. `python -m jobs.filter --config CFG`"""
import sys

from jobs.entry import main
from pipeline.curate import FilterJob, run_filter

if __name__ == "__main__":
    sys.exit(main(FilterJob, run_filter, __doc__))
