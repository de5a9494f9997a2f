"""Ray job: data ablation (train students per arm x size x budget, evaluate, fit, report).
`python -m jobs.ablate --config CFG.yaml`"""
import sys

from jobs.entry import main
from pipeline.ablate import AblateConfig, run_ablate

if __name__ == "__main__":
    sys.exit(main(AblateConfig, run_ablate, __doc__))
