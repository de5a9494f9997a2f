"""Shared fixtures. `ray_cluster`: one real Ray head for the session, on 127.0.0.1, with token auth on."""
from __future__ import annotations

import os
import secrets
import signal
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import pipeline  # noqa: F401  the process environment every assay process runs with (pipeline.ray_env.PROCESS_ENV)


REPO = Path(__file__).resolve().parent.parent

# Token auth for every Ray instance the tests start or join. Ray's core reads these at import time, so they are
# set here, before any test module imports ray.
_TOKEN_DIR = Path(tempfile.mkdtemp(prefix="assay-tok-"))
TOKEN = secrets.token_hex(32)
TOKEN_PATH = _TOKEN_DIR / "auth_token"
TOKEN_PATH.write_text(TOKEN)
TOKEN_PATH.chmod(0o600)
os.environ["RAY_AUTH_MODE"] = "token"
os.environ["RAY_AUTH_TOKEN_PATH"] = str(TOKEN_PATH)
RAY = str(Path(sys.executable).parent / "ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class RayCluster:
    address: str          # GCS address for ray.init(address=...)
    dashboard_url: str    # Jobs API / dashboard (127.0.0.1)
    token: str
    env: dict             # environment a client needs (token auth on)
    temp_dir: Path

    def job_client(self, with_token: bool = True):
        from ray.job_submission import JobSubmissionClient

        headers = {"Authorization": f"Bearer {self.token}"} if with_token else None
        return JobSubmissionClient(self.dashboard_url, headers=headers)


@pytest.fixture(scope="session")
def ray_cluster(tmp_path_factory):
    """A real `ray start --head` (2 CPUs, bounded memory) bound to 127.0.0.1 with RAY_AUTH_MODE=token."""
    tmp = Path("/tmp") / f"assay-ray-{secrets.token_hex(3)}"  # short: Ray's socket paths have a length limit
    tmp.mkdir()
    token_path, token = TOKEN_PATH, TOKEN
    gcs_port, dash_port = free_port(), free_port()
    # A head whose `python` is NOT assay's venv (the venv's bin is taken off PATH), as on a cluster started outside
    # it: submitted jobs must bring their interpreter (pipeline.submit sets the entrypoint's and py_executable).
    venv_bin = str(Path(sys.executable).parent)
    path = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep) if p and p != venv_bin)
    # nor assay's process environment (pipeline.ray_env.PROCESS_ENV): what workers need comes in the runtime env
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "ARROW_DEFAULT_MEMORY_POOL", "MALLOC_ARENA_MAX")}
    env.update({"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_path),
                "PATH": path})
    cmd = [RAY, "start", "--head", f"--port={gcs_port}", "--node-ip-address=127.0.0.1",
           "--dashboard-host=127.0.0.1", f"--dashboard-port={dash_port}", "--include-dashboard=true",
           "--num-cpus=2", f"--memory={6 * 1024**3}", f"--object-store-memory={1536 * 1024**2}",
           f"--temp-dir={tmp / 'ray'}", "--disable-usage-stats",
           # own ports for the agents, so a second Ray on the machine (a local run) cannot take them
           f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
           f"--metrics-export-port={free_port()}", f"--runtime-env-agent-port={free_port()}",
           f"--ray-client-server-port={free_port()}"]
    subprocess.run(cmd, env=env, check=True, capture_output=True, timeout=180)
    cluster = RayCluster(address=f"127.0.0.1:{gcs_port}", dashboard_url=f"http://127.0.0.1:{dash_port}",
                         token=token, env=env, temp_dir=tmp)
    _wait_for_dashboard(cluster)
    try:
        yield cluster
    finally:
        try:
            import ray

            ray.shutdown()
        except Exception:
            pass
        _stop_cluster(tmp)
        shutil.rmtree(tmp, ignore_errors=True)


def _stop_cluster(tmp: Path) -> None:
    """Stop only this cluster's processes (`ray stop` would also kill any other Ray on the machine)."""
    def ours() -> list[int]:
        pids = []
        for d in Path("/proc").iterdir():
            if d.name.isdigit() and int(d.name) != os.getpid():
                try:
                    if str(tmp).encode() in (d / "cmdline").read_bytes():
                        pids.append(int(d.name))
                except OSError:
                    pass
        return pids

    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in ours():
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + 15
        while ours() and time.time() < deadline:
            time.sleep(0.2)


def _wait_for_dashboard(cluster: RayCluster, timeout: float = 90) -> None:
    import urllib.request

    deadline = time.time() + timeout
    req = urllib.request.Request(f"{cluster.dashboard_url}/api/version",
                                 headers={"Authorization": f"Bearer {cluster.token}"})
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                if r.status == 200:
                    return
        except Exception:
            time.sleep(1)
    raise RuntimeError(f"Ray dashboard at {cluster.dashboard_url} did not come up")
