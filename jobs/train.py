"""Ray job: train one student LM. `python -m jobs.train --config CFG` (TrainConfig fields; see `assay train --help`).

Set `device: cuda` and submit with `--entrypoint-num-gpus 1` to run on a GPU node; `pipeline.student.train.
train_distributed` is the multi-GPU (Ray Train DDP) path."""
import sys

from jobs.entry import main
from pipeline.student.train import TrainConfig, train

if __name__ == "__main__":
    sys.exit(main(TrainConfig, lambda cfg, address, progress: train(cfg, progress=progress), __doc__))
