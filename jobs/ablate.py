"""Ray job: `python -m jobs.ablate --config CFG` (the same typed config as `assay ablate`; see `assay ablate --help`)."""
import sys

from jobs.entry import main

if __name__ == "__main__":
    sys.exit(main("ablate"))
