"""Starting or joining Ray. Local instances bind to 127.0.0.1 with usage stats off.

- inside a Ray job (``RAY_ADDRESS`` set by the job supervisor) or with ``address="auto"``: join that cluster;
- with ``address="HOST:PORT"`` / ``"ray://..."``: connect to it;
- otherwise: start a private local instance on 127.0.0.1 (dashboard off unless asked).

Token auth: set ``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN_PATH`` (or ``RAY_AUTH_TOKEN``) in the environment of the
head, the workers and the client; Ray attaches the token itself. See README, "Security".

`PROCESS_ENV` is the environment every process assay starts runs with (a value already set wins): this process
(set when `pipeline` is imported, before pyarrow loads), its process-pool workers (inherited) and Ray workers (the
runtime env of `init_ray` and of submitted jobs). Two of them bound a reused worker's memory: Arrow's default
mimalloc pool, and glibc's per-thread arenas, keep what earlier tasks freed, so a Ray worker that has run many
tasks held ~2x the memory of one task (570 vs 270 MB at 100k documents; benchmarks/RESULTS.md, "Scale").
"""
from __future__ import annotations

import logging
import os

PROCESS_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
               "TOKENIZERS_PARALLELISM": "false",
               "ARROW_DEFAULT_MEMORY_POOL": "system",  # freed Arrow buffers go back to malloc, not a pool
               "MALLOC_ARENA_MAX": "2"}  # glibc: 2 arenas, not 8 per core, so freed memory is reused
for _k, _v in PROCESS_ENV.items():
    os.environ.setdefault(_k, _v)


def worker_env() -> dict[str, str]:
    """`PROCESS_ENV` as this process has it (a user's own value wins), for a Ray runtime env."""
    return {k: os.environ.get(k, v) for k, v in PROCESS_ENV.items()}


def init_ray(address: str | None = None, num_cpus: int | None = None, object_store_mb: int | None = None,
             dashboard: bool = False) -> None:
    """Start or join Ray once per process (a second call is a no-op)."""
    import ray

    if ray.is_initialized():
        return
    if address and address.startswith(("http://", "https://")):
        raise ValueError(f"{address} is a dashboard/Jobs address: use it to submit a job (--address on the CLI), "
                         "not to connect a driver; drivers take HOST:PORT, ray://HOST:PORT or 'auto'")
    runtime_env = {"env_vars": worker_env()}
    common = dict(logging_level=logging.WARNING, log_to_driver=True, runtime_env=runtime_env,
                  ignore_reinit_error=True)
    if address:
        ray.init(address=address, **common)
        return
    if os.environ.get("RAY_ADDRESS"):  # inside a Ray job: the job's runtime env already applies
        common.pop("runtime_env")
        ray.init(address=os.environ["RAY_ADDRESS"], **common)
        return
    store = object_store_mb or int(os.environ.get("ASSAY_RAY_OBJECT_STORE_MB", "2048"))
    ray.init(num_cpus=num_cpus, object_store_memory=store * 1024 * 1024, include_dashboard=dashboard,
             dashboard_host="127.0.0.1", _node_ip_address="127.0.0.1", **common)
    _quiet_ray_data()


def _quiet_ray_data() -> None:
    """Ray Data's own progress bars duplicate ours locally; keep the dashboard's."""
    try:
        from ray.data import DataContext

        ctx = DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
    except Exception:  # pragma: no cover - older/newer Ray without these knobs
        pass
