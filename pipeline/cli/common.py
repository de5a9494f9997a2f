"""Options and helpers every stage command shares: --config, --address, job submission, error reporting."""
from __future__ import annotations

import sys
from typing import Any

import typer

from pipeline.config import ConfigError

CONFIG_HELP = "TOML/YAML/JSON config file; command-line options override its values."
ADDRESS_HELP = ("Ray cluster: http://HOST:8265 submits this stage as a Ray job through the Jobs API (paths must be "
                "reachable from the cluster); HOST:PORT or ray://HOST:PORT runs the driver here against that "
                "cluster; omitted: a private local Ray on 127.0.0.1.")


def drop_none(d: dict[str, Any]) -> dict[str, Any]:
    """Only the options the user gave (nested dicts kept when non-empty), so config files are not overridden."""
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            v = drop_none(v)
            if v:
                out[k] = v
        elif v is not None and v != [] and v != ():
            out[k] = v
    return out


def fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def run_or_submit(job_module: str, job_model, address: str | None, run_local, wait: bool = True) -> None:
    """Run `run_local(job_model, address)` here, or submit `python -m jobs.<module>` when address is http(s)://."""
    try:
        if address and address.startswith(("http://", "https://")):
            from jobs.submit import submit_job

            submit_job(job_module, job_model.model_dump(mode="json"), address, wait=wait)
        else:
            run_local(job_model, address)
    except ConfigError as e:
        fail(str(e))
    except FileNotFoundError as e:
        fail(str(e))


def load_job(model, config: str | None, overrides: dict[str, Any]):
    from pipeline.config import load_config

    try:
        return load_config(model, config, drop_none(overrides))
    except ConfigError as e:
        fail(str(e))


def echo_err(msg: str) -> None:
    print(msg, file=sys.stderr)
