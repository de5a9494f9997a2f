"""Submitting a stage as a Ray job through the Jobs API (what `--address http://HOST:8265` does).

The job runs `python -m jobs.<stage> --config '<json>'` with this repository as its working dir. Token auth:
with `RAY_AUTH_MODE=token` and a token in `RAY_AUTH_TOKEN_PATH`/`RAY_AUTH_TOKEN`/`~/.ray/auth_token`, the token is
sent as `Authorization: Bearer ...`.
"""
from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
EXCLUDES = [".git", ".venv", ".venv-*", "runs", "**/__pycache__", ".pytest_cache", "*.parquet", "*.warc.gz",
            "*.egg-info", "benchmarks/out"]
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}


def auth_headers() -> dict[str, str] | None:
    token = os.environ.get("RAY_AUTH_TOKEN")
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    if not token and os.path.exists(path):
        token = Path(path).read_text().strip()
    return {"Authorization": f"Bearer {token}"} if token else None


def job_client(address: str, headers: dict[str, str] | None = None):
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(address, headers=headers if headers is not None else auth_headers())


def submit_job(stage: str, config: dict, address: str, wait: bool = True, timeout_s: float = 24 * 3600,
               headers: dict[str, str] | None = None) -> str:
    """Submit `jobs.<stage>` with `config`; with `wait`, stream its logs and raise if it does not succeed."""
    client = job_client(address, headers)
    entrypoint = f"python -m jobs.{stage} --no-progress --config {shlex.quote(json.dumps(config))}"
    runtime_env = {"working_dir": str(REPO), "excludes": EXCLUDES,
                   "env_vars": {"RAY_USAGE_STATS_ENABLED": "0", "HF_HUB_OFFLINE": "1"}}
    deadline = time.time() + 90  # a freshly started head answers "No available agent" for a few seconds
    while True:
        try:
            job_id = client.submit_job(entrypoint=entrypoint, runtime_env=runtime_env)
            break
        except RuntimeError as e:
            if "No available agent" not in str(e) or time.time() > deadline:
                raise
            time.sleep(1.0)
    print(f"[assay] submitted {stage} as Ray job {job_id} to {address}", file=sys.stderr)
    if not wait:
        return job_id
    status = wait_for_job(client, job_id, timeout_s)
    if status != "SUCCEEDED":
        raise RuntimeError(f"Ray job {job_id} ({stage}) ended {status}:\n{client.get_job_logs(job_id)[-4000:]}")
    return job_id


def wait_for_job(client, job_id: str, timeout_s: float) -> str:
    deadline = time.time() + timeout_s
    printed = 0
    while True:
        status = str(client.get_job_status(job_id)).split(".")[-1]
        logs = client.get_job_logs(job_id)
        if len(logs) > printed:
            sys.stderr.write(logs[printed:])
            printed = len(logs)
        if status in TERMINAL:
            return status
        if time.time() > deadline:
            client.stop_job(job_id)
            raise TimeoutError(f"Ray job {job_id} did not finish in {timeout_s:.0f} s")
        time.sleep(1.0)
