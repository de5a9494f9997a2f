"""What every job entrypoint does: `python -m jobs.<stage> --config CFG` (a file or inline JSON) -> the stage's
typed job, run here (inside a Ray job: on that cluster). Expected failures print one line and exit 2."""
from __future__ import annotations

import argparse


def main(stage: str, argv: list[str] | None = None) -> int:
    from pipeline.cli.commands import one_line_errors
    from pipeline.config import load_config
    from pipeline.paths import absolute_paths
    from pipeline.progress import configure_logging, set_quiet
    from pipeline.stage import RunContext
    from pipeline.stages import get_stage

    spec = get_stage(stage)
    parser = argparse.ArgumentParser(prog=f"python -m jobs.{stage}", description=spec.help)
    parser.add_argument("--config", required=True, help="TOML/YAML/JSON file, or an inline JSON object")
    parser.add_argument("--address", default=None, help="Ray address to join (default: the job's cluster, or this "
                                                        "machine)")
    parser.add_argument("--overwrite", action="store_true", help="replace an output made by a different run")
    parser.add_argument("--no-progress", action="store_true", help="no progress output")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    args = parser.parse_args(argv)
    import typer

    try:
        with one_line_errors(args.debug):
            job = absolute_paths(load_config(spec.job_model(), args.config))  # workers run elsewhere
            configure_logging()
            set_quiet(args.no_progress)
            spec.run(job, RunContext(address=args.address, progress=not args.no_progress, overwrite=args.overwrite))
    except typer.Exit as e:
        return e.exit_code
    return 0
