"""Building `assay NAME` commands from the stage registry: the options every stage shares, the stage's own
shortcuts (`Opt`), config loading, and turning expected failures into one line."""
from __future__ import annotations

import inspect
import sys
import traceback
from typing import Any, Optional

import typer

from pipeline.config import deep_merge, load_config, parse_set, set_dotted
from pipeline.errors import one_line, user_error_in
from pipeline.stage import Opt, RunContext, StageSpec

CONFIG_HELP = "TOML/YAML/JSON config file (or an inline JSON object); command-line options override its values."
SET_HELP = "Override any config key: KEY=VALUE with a dotted key, e.g. filter.language.threshold=0.8; repeatable."
ADDRESS_HELP = ("Ray cluster: http://HOST:8265 submits this command as a Ray job through the Jobs API (paths must "
                "be reachable from the cluster); HOST:PORT, ray://HOST:PORT or auto runs the driver here against "
                "that cluster; omitted: runs on this machine.")
EXECUTOR_HELP = ("auto (default): Ray when --address names a cluster, else a local process pool with no Ray "
                 "start-up; local; ray (a private local Ray instance when no --address).")
JOB_PYTHON_HELP = ("Interpreter a submitted job runs with on the cluster (default: this one, "
                   f"{sys.executable}); the cluster's nodes must have it with assay installed.")


def _param(name: str, default, annotation) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def _opt_param(i: int, o: Opt) -> inspect.Parameter:
    if o.flag:
        return _param(f"opt_{i}", typer.Option(False, *o.decls, help=o.help), bool)
    if o.multiple or o.mapping:
        return _param(f"opt_{i}", typer.Option(None, *o.decls, help=o.help, metavar=o.metavar), Optional[list[str]])
    typ = Optional[o.type] if not o.split else Optional[str]
    return _param(f"opt_{i}", typer.Option(None, *o.decls, help=o.help, metavar=o.metavar), typ)


def _opt_overrides(spec: StageSpec, values: dict[str, Any]) -> dict:
    out: dict = {}
    for i, o in enumerate(spec.options):
        v = values.get(f"opt_{i}")
        if o.flag:
            if not v:
                continue
            v = o.value
        elif v is None or v == []:
            continue
        elif o.split:
            v = [x.strip() for x in v.split(",") if x.strip()]
        elif o.mapping:
            d = {}
            for item in v:
                name, sep, val = item.partition("=")
                if not sep or not name:
                    raise typer.BadParameter(f"expected {o.metavar or 'NAME=VALUE'}, got {item!r}",
                                             param_hint=o.decls[0])
                d[name] = val
            v = d
        set_dotted(out, o.path, v)
    return out


def stage_command(spec: StageSpec):
    """A typer callback for `spec`: shared options + the stage's shortcuts, with a generated signature."""
    params = []
    if spec.inputs:
        ann = Optional[str] if spec.single_input else Optional[list[str]]
        params.append(_param("inputs", typer.Argument(None, help=spec.inputs_help + " (Or `" + spec.inputs +
                                                      ":` in --config.)", metavar=spec.inputs_metavar,
                                                      show_default=False), ann))
    params += [
        _param("output", typer.Option(None, "--output", "-o", help=spec.output_help + " (Required: here or "
                                                                                      "`output:` in --config.)"),
               Optional[str]),
        _param("config", typer.Option(None, "--config", "-c", help=CONFIG_HELP), Optional[str]),
        _param("set_", typer.Option(None, "--set", help=SET_HELP, metavar="KEY=VALUE"), Optional[list[str]]),
    ]
    params += [_opt_param(i, o) for i, o in enumerate(spec.options)]
    params += [
        _param("address", typer.Option(None, "--address", help=ADDRESS_HELP, rich_help_panel="Running"),
               Optional[str]),
        _param("executor", typer.Option(None, "--executor", help=EXECUTOR_HELP, rich_help_panel="Running"),
               Optional[str]),
        _param("overwrite", typer.Option(False, "--overwrite", help="Replace an output made by a different run "
                                                                    "(another config or other inputs).",
                                         rich_help_panel="Running"), bool),
        _param("progress", typer.Option(True, "--progress/--no-progress", help="Show progress.",
                                        rich_help_panel="Running"), bool),
        _param("job_python", typer.Option(None, "--job-python", help=JOB_PYTHON_HELP, rich_help_panel="Running"),
               Optional[str]),
        _param("debug", typer.Option(False, "--debug", help="Show the full traceback of a failure.",
                                     rich_help_panel="Running"), bool),
    ]

    def command(**kw):
        with one_line_errors(kw.get("debug", False)):
            over = _opt_overrides(spec, kw)
            if kw.get("inputs"):
                over[spec.inputs] = kw["inputs"]
            if kw.get("output"):
                over["output"] = kw["output"]
            if kw.get("executor"):
                over["runtime"] = {"executor": kw["executor"]}
            if kw.get("set_"):
                over = deep_merge(over, parse_set(kw["set_"]))
            job = load_config(spec.job_model(), kw.get("config"), over)
            ctx = RunContext(address=kw.get("address"), progress=kw.get("progress", True),
                             overwrite=kw.get("overwrite", False), job_python=kw.get("job_python"))
            execute(spec, job, ctx)

    command.__signature__ = inspect.Signature(params)
    command.__annotations__ = {p.name: p.annotation for p in params}
    command.__doc__ = spec.help
    return command


def execute(spec: StageSpec, job, ctx: RunContext):
    """Run the stage here, or submit it as a Ray job when the address is a dashboard (http(s)://) address."""
    from pipeline.paths import absolute_paths
    from pipeline.progress import configure_logging, set_quiet

    configure_logging()
    set_quiet(not ctx.progress)
    job = absolute_paths(job)  # workers and submitted jobs run in other directories
    if ctx.address and ctx.address.startswith(("http://", "https://")):
        from pipeline.submit import submit_job

        return submit_job(spec.name, job, ctx.address, python=ctx.job_python)
    return spec.run(job, ctx)


class one_line_errors:
    """Expected failures -> `error: <one line>` and exit 2; anything else -> a short internal-error line and exit 1
    (`--debug` re-raises with the traceback)."""

    def __init__(self, debug: bool = False):
        self.debug = debug

    def __enter__(self):
        return self

    def __exit__(self, typ, exc, tb):
        if exc is None or isinstance(exc, (typer.Exit, SystemExit, typer.Abort)):
            return False
        import click

        if isinstance(exc, click.exceptions.ClickException):
            return False
        if isinstance(exc, KeyboardInterrupt):
            typer.secho("interrupted (rerun the same command to resume)", fg=typer.colors.YELLOW, err=True)
            raise typer.Exit(130)
        if self.debug:
            return False
        user = user_error_in(exc)
        if user is not None:
            typer.secho(f"error: {one_line(user)}", fg=typer.colors.RED, err=True)
            raise typer.Exit(2)
        last = traceback.extract_tb(tb)[-1] if tb else None
        where = f" at {last.filename.rsplit('/', 1)[-1]}:{last.lineno}" if last else ""
        typer.secho(f"error: internal error: {type(exc).__name__}: {one_line(exc)}{where} "
                    "(rerun with --debug for the traceback)", fg=typer.colors.RED, err=True)
        raise typer.Exit(1)
