"""`assay dedupe`: exact + MinHash near-duplicate removal over Parquet document shards."""
from __future__ import annotations

from typing import Optional

import typer

from pipeline.cli.common import ADDRESS_HELP, CONFIG_HELP, load_job, run_or_submit


def dedupe_overrides(threshold, num_perm, ngram, verify, no_exact, no_near, max_edges,
                     config: str | None = None) -> dict:
    """CLI options -> DedupeConfig fields. Giving --threshold or --num-perm re-derives bands x rows from them
    (datasketch's optimal_param), taking the other value from the config file or the default."""
    over = {"threshold": threshold, "num_perm": num_perm, "ngram": ngram, "verify": verify or None,
            "exact": False if no_exact else None, "near": False if no_near else None,
            "max_edges_in_memory": max_edges}
    if threshold is not None or num_perm is not None:
        from filters.dedupe.config import DedupeConfig
        from filters.dedupe.lsh import optimal_param
        from pipeline.config import read_config_data

        base = (read_config_data(config).get("dedupe") or {}) if config else {}
        defaults = DedupeConfig.model_fields
        t = threshold if threshold is not None else base.get("threshold", defaults["threshold"].default)
        p = num_perm if num_perm is not None else base.get("num_perm", defaults["num_perm"].default)
        over["bands"], over["rows"] = optimal_param(float(t), int(p))
    return over


def register(app: typer.Typer) -> None:
    @app.command("dedupe")
    def dedupe_cmd(
        inputs: list[str] = typer.Argument(..., help="Parquet document shards (columns id, text; others are passed "
                                                     "through), directories or globs."),
        output: str = typer.Option(..., "--output", "-o", help="Output dir: data/ (one kept shard per input "
                                                               "shard), rejects/, stats/, manifest.json."),
        threshold: Optional[float] = typer.Option(None, "--threshold", help="Jaccard threshold; with it, bands x "
                                                  "rows come from datasketch's optimal_param (default 14x8 ~ 0.72)."),
        num_perm: Optional[int] = typer.Option(None, "--num-perm", help="MinHash permutations (default 112); with "
                                               "it, bands x rows come from optimal_param."),
        ngram: Optional[int] = typer.Option(None, "--ngram", help="Word n-gram size of the shingles (default 5)."),
        verify: bool = typer.Option(False, "--verify", help="Keep only candidate pairs whose exact Jaccard "
                                                            "similarity reaches the threshold."),
        no_exact: bool = typer.Option(False, "--no-exact", help="Skip exact (normalised-text hash) dedupe."),
        no_near: bool = typer.Option(False, "--no-near", help="Skip MinHash near-duplicate dedupe."),
        max_edges: Optional[int] = typer.Option(None, "--max-edges-in-memory", help="Edge budget for in-driver "
                                                "union-find; above it components run distributed on Ray."),
        config: Optional[str] = typer.Option(None, "--config", "-c", help=CONFIG_HELP + " Keys: inputs, output, "
                                             "dedupe: {DedupeConfig fields}."),
        address: Optional[str] = typer.Option(None, "--address", help=ADDRESS_HELP),
        progress: bool = typer.Option(True, help="Print progress lines."),
    ):
        """Remove exact and near-duplicate documents (MinHash LSH, FineWeb's 5-gram 14x8 setting by default)."""
        from jobs.dedupe import DedupeJob, run_job

        job = load_job(DedupeJob, config, {"inputs": inputs, "output": output, "dedupe": dedupe_overrides(
            threshold, num_perm, ngram, verify, no_exact, no_near, max_edges, config)})
        run_or_submit("dedupe", job, address, lambda j, a: run_job(j, a, progress))
