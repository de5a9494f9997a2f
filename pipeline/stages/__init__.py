"""One module per stage; importing this package registers them all (order = order in `assay --help`): it is the
registry (`all_stages`, `get_stage`).

Document stages: filter, dedupe and curate (a chain of the document sub-stages). Measure stages: train, evaluate,
fit, ablate. Each module holds the stage's job model (or names it, when importing it would pull in torch), its run
function and its `register(StageSpec(...))`.
"""
from pipeline.stages import filter, classify, dedupe  # noqa: F401,E401  (sub-stages first: curate's sections)
from pipeline.stages import classify_train  # noqa: F401,E402
from pipeline.stages import curate  # noqa: F401,E402
from pipeline.stages import decontaminate, generate  # noqa: F401,E401,E402
from pipeline.stages import train, evaluate, fit, ablate  # noqa: F401,E401,E402
from pipeline.errors import UserError  # noqa: E402
from pipeline.stage import STAGES, StageSpec  # noqa: E402


def all_stages() -> dict[str, StageSpec]:
    """Every registered stage (importing this package registered them)."""
    return STAGES


def get_stage(name: str) -> StageSpec:
    if name not in STAGES:
        raise UserError(f"unknown stage {name!r}; stages: {', '.join(STAGES)}")
    return STAGES[name]
