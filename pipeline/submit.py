"""Submitting a stage as a Ray job through the Jobs API (what `--address http://HOST:8265` does).

The job runs `<python> -m jobs.<stage> --config '<json>'` with this repository as its working dir. `<python>` is
the interpreter that has assay installed on the cluster's nodes: by default this one (`sys.executable`, right when
the cluster shares this machine or image), else `--job-python PATH`. The same interpreter is set as the runtime
environment's `py_executable`, so the job's Ray workers use it too: a head started from another Python (without
pyarrow, say) still runs assay jobs. The equivalent `ray job submit` command is printed.

Local paths in the job (inputs, output, data, tokenizer, models, ...: `pipeline.paths`) are made absolute before they
leave this machine, since the job runs in another directory. Token auth: with `RAY_AUTH_MODE=token` and a token in
`RAY_AUTH_TOKEN_PATH`/`RAY_AUTH_TOKEN`/`~/.ray/auth_token`, the token is sent as `Authorization: Bearer ...` (and
never printed).
"""
from __future__ import annotations

import json
import os
import shlex
import sys
import time
from pathlib import Path

from pipeline.errors import UserError
from pipeline.io import is_url
from pipeline.progress import log
from pipeline.ray_env import worker_env

REPO = Path(__file__).resolve().parent.parent
EXCLUDES = [".git", ".venv", ".venv-*", "runs", "**/__pycache__", ".pytest_cache", "*.parquet", "*.warc.gz",
            "*.egg-info", "benchmarks/out", ".bench"]
TERMINAL = {"SUCCEEDED", "FAILED", "STOPPED"}
PATH_FIELDS = ("inputs", "output", "data", "tokenizer", "model_dir", "runs", "eval_text")


def auth_headers() -> dict[str, str] | None:
    token = os.environ.get("RAY_AUTH_TOKEN")
    path = os.environ.get("RAY_AUTH_TOKEN_PATH") or str(Path.home() / ".ray" / "auth_token")
    if not token and os.path.exists(path):
        token = Path(path).read_text().strip()
    return {"Authorization": f"Bearer {token}"} if token else None


def job_client(address: str, headers: dict[str, str] | None = None):
    from ray.job_submission import JobSubmissionClient

    return JobSubmissionClient(address, headers=headers if headers is not None else auth_headers())


def absolute_paths(config: dict, stage: str | None = None) -> dict:
    """A job config (a dict) with its local relative paths made absolute (URLs untouched): validated into the
    stage's job model and walked by `pipeline.paths.absolute_paths` (every path field at any depth); without a
    stage, or when it does not validate (the job will say why), the top-level path fields."""
    if stage is not None:
        from pipeline.paths import absolute_paths as resolve
        from pipeline.stages import get_stage

        model = get_stage(stage).job_model()
        try:
            job = model.model_validate(config)
        except Exception:
            job = None
        if job is not None:
            return resolve(job).model_dump(mode="json")

    def fix(v):
        if isinstance(v, str) and v and not is_url(v) and not os.path.isabs(v):
            return os.path.abspath(v)
        if isinstance(v, list):
            return [fix(x) for x in v]
        return v

    return {k: fix(v) if k in PATH_FIELDS else v for k, v in config.items()}


def runtime_env(python: str) -> dict:
    return {"working_dir": str(REPO), "excludes": EXCLUDES, "py_executable": python,
            "env_vars": worker_env()}


def submit_job(stage: str, job, address: str, wait: bool = True, timeout_s: float = 24 * 3600,
               headers: dict[str, str] | None = None, python: str | None = None) -> str:
    """Submit `jobs.<stage>` with `job` (a model or its dict); with `wait`, stream its logs and raise if it fails."""
    if hasattr(job, "model_dump"):
        from pipeline.paths import absolute_paths as resolve

        config = resolve(job).model_dump(mode="json")
    else:
        config = absolute_paths(dict(job), stage)
    python = python or os.environ.get("ASSAY_JOB_PYTHON") or sys.executable
    entrypoint = f"{shlex.quote(python)} -m jobs.{stage} --no-progress --config {shlex.quote(json.dumps(config))}"
    env = runtime_env(python)
    client = job_client(address, headers)
    log(f"equivalent: ray job submit --address {address} --working-dir {REPO} --runtime-env-json "
        f"{shlex.quote(json.dumps({'py_executable': python, 'env_vars': env['env_vars']}))} -- {python} -m "
        f"jobs.{stage} --config CONFIG",
        stage="submit")
    deadline = time.time() + 90  # a freshly started head answers "No available agent" for a few seconds
    while True:
        try:
            job_id = client.submit_job(entrypoint=entrypoint, runtime_env=env)
            break
        except RuntimeError as e:
            if "No available agent" not in str(e) or time.time() > deadline:
                raise
            time.sleep(1.0)
    log(f"submitted {stage} as Ray job {job_id} to {address}", stage="submit")
    if not wait:
        return job_id
    status = wait_for_job(client, job_id, timeout_s)
    if status != "SUCCEEDED":
        tail = [ln for ln in client.get_job_logs(job_id).splitlines() if ln.strip()]
        errors = [ln for ln in tail if ln.startswith("error:")]
        raise UserError(f"Ray job {job_id} ({stage}) ended {status}: {(errors or tail or ['no logs'])[-1]}")
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
