"""assay: pipeline."""
from pipeline import ray_env as _ray_env  # noqa: F401  the process environment (PROCESS_ENV), before pyarrow loads
