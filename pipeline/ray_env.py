"""Starting or joining Ray.

- with ``address="HOST:PORT"`` / ``"ray://..."`` / ``"auto"``: join that cluster (asked for);
- inside a Ray job, or with ``RAY_ADDRESS`` in the environment: join that cluster (asked for);
- otherwise: start a private instance for this process, whatever other Ray runs or ran on the machine (Ray's
  current-cluster file is never consulted). Its node address is 127.0.0.1, so every server it starts (GCS, raylet,
  object manager, workers, dashboard and runtime-env agents, metrics) listens on loopback only; it runs in a fresh
  temp dir (removed at exit) and, unless the environment configures Ray's token auth itself, with token auth on and
  a fresh per-run token in a 0600 file of that dir (nothing is written to ~/.ray).

Token auth for clusters: set ``RAY_AUTH_MODE=token`` and ``RAY_AUTH_TOKEN_PATH`` (or ``RAY_AUTH_TOKEN``) in the
environment of the head, the workers and the client; Ray attaches the token itself. See README, "Security".

`PROCESS_ENV` is the environment every process assay starts runs with (a value already set wins): this process
(set when `pipeline` is imported, before pyarrow loads), its process-pool workers (inherited) and Ray workers (the
runtime env of `init_ray` and of submitted jobs). Two of them bound a reused worker's memory: Arrow's default
mimalloc pool, and glibc's per-thread arenas, keep what earlier tasks freed, so a Ray worker that has run many
tasks held ~2x the memory of one task (570 vs 270 MB at 100k documents; benchmarks/RESULTS.md, "Scale").
"""
from __future__ import annotations

import atexit
import contextlib
import logging
import os
import secrets
import shutil
import tempfile
from pathlib import Path

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

    from pipeline.errors import UserError

    if ray.is_initialized():
        return
    if address and address.startswith(("http://", "https://")):
        raise ValueError(f"{address} is a dashboard/Jobs address: use it to submit a job (--address on the CLI), "
                         "not to connect a driver; drivers take HOST:PORT, ray://HOST:PORT or 'auto'")
    common = dict(logging_level=logging.WARNING, log_to_driver=True, ignore_reinit_error=True)
    if address or os.environ.get("RAY_ADDRESS"):
        _reachable(address)
        try:
            if address:
                ray.init(address=address, runtime_env={"env_vars": worker_env()}, **common)
            else:  # inside a Ray job (or asked through the environment): the job's runtime env already applies
                ray.init(address=os.environ["RAY_ADDRESS"], **common)
        except (ConnectionError, TimeoutError, RuntimeError, ValueError) as e:
            where = address or f"RAY_ADDRESS={os.environ['RAY_ADDRESS']}"
            raise UserError(f"cannot join the Ray cluster at {where}: {str(e).splitlines()[0] if str(e) else e!r}")
        return
    store = object_store_mb or int(os.environ.get("ASSAY_RAY_OBJECT_STORE_MB", "2048"))
    temp = _private_temp_dir()
    try:
        with _loopback_node():
            ray.init(address="local", num_cpus=num_cpus, object_store_memory=store * 1024 * 1024,
                     include_dashboard=dashboard, dashboard_host="127.0.0.1", _temp_dir=temp,
                     runtime_env={"env_vars": worker_env()}, **common)
    except Exception as e:  # noqa: BLE001 - any start-up failure is an environment condition, said in one line
        raise UserError(f"cannot start a private Ray instance (temp dir {temp}): "
                        f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}") from e
    _quiet_ray_data()


def _reachable(address: str | None) -> None:
    """A HOST:PORT that nothing answers is one line at once (Ray itself retries for minutes)."""
    import socket

    from pipeline.errors import UserError

    if not address or "://" in address or address in ("auto", "local") or ":" not in address:
        return
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=10):
            pass
    except (OSError, ValueError) as e:
        raise UserError(f"cannot reach a Ray cluster at {address} (--address): {e}") from None


def _private_temp_dir() -> str:
    """A fresh, short (Ray's socket paths are limited to ~107 bytes) temp dir for one private instance, removed at
    exit after Ray's own shutdown; with a per-run token in it unless the environment configures token auth."""
    base = os.environ.get("RAY_TMPDIR") or ("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir())
    temp = tempfile.mkdtemp(prefix="assay-private-", dir=base)
    atexit.register(_remove_private, temp)
    if not any(k in os.environ for k in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH")):
        token = Path(temp) / "auth_token"
        fd = os.open(token, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        # RAY_AUTH_MODE stays unset: Ray then turns token auth on for a new local instance (and refreshes its
        # config), loading the token from this path instead of creating ~/.ray/auth_token. The Ray processes
        # inherit the path; this process keeps it for its own connections.
        os.environ["RAY_AUTH_TOKEN_PATH"] = str(token)
    return temp


def _remove_private(temp: str) -> None:
    """At exit: stop Ray first (Ray's own exit handler was registered earlier, so it would run after this one),
    then remove the instance's temp dir."""
    try:
        import ray

        ray.shutdown()
    except Exception:  # noqa: BLE001 - best effort at interpreter exit
        pass
    shutil.rmtree(temp, ignore_errors=True)


@contextlib.contextmanager
def _loopback_node():
    """Make the instance's node address 127.0.0.1 while it starts. Ray binds its gRPC servers to every interface
    unless the node address is loopback, and `ray.init(_node_ip_address="127.0.0.1")` is replaced by the
    machine's interface address; only its single-machine mode (the switch Ray uses on macOS and Windows) keeps
    loopback. The setting is read when `ray` is imported, so the module constant is set too; both are restored
    once the instance is up (its processes were started with the setting and keep it)."""
    from ray._private import ray_constants

    key = ray_constants.ENABLE_RAY_CLUSTERS_ENV_VAR
    old_env, old_const = os.environ.get(key), ray_constants.ENABLE_RAY_CLUSTER
    os.environ[key], ray_constants.ENABLE_RAY_CLUSTER = "0", False
    try:
        yield
    finally:
        ray_constants.ENABLE_RAY_CLUSTER = old_const
        if old_env is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old_env


def _quiet_ray_data() -> None:
    """Ray Data's own progress bars duplicate ours locally; keep the dashboard's."""
    try:
        from ray.data import DataContext

        ctx = DataContext.get_current()
        ctx.enable_progress_bars = False
        ctx.print_on_execution_start = False
    except Exception:  # pragma: no cover - older/newer Ray without these knobs
        pass
