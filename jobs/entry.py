"""What every job entrypoint does: parse --config (a file or inline JSON), validate, run, exit non-zero on error."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from pipeline.config import ConfigError, load_config


def main(model, run: Callable, description: str, argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", required=True, help="TOML/YAML/JSON file, or an inline JSON object")
    parser.add_argument("--address", default=None, help="Ray address to join (default: the job's cluster, or a "
                                                        "private local instance)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    try:
        job = load_config(model, args.config)
        run(job, args.address, not args.no_progress)
    except (ConfigError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0
