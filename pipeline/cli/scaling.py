"""`assay fit` (scaling-law fits + report from a runs table) and `assay ablate` (the data-ablation experiment)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from pipeline.cli.common import ADDRESS_HELP, fail, load_job, run_or_submit


def _parse_vars(items: list[str] | None) -> dict[str, str]:
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name:
            raise typer.BadParameter(f"expected NAME=VALUE, got {item!r}", param_hint="--var")
        out[name] = value
    return out


def register(app: typer.Typer) -> None:
    """Add the `fit` and `ablate` commands to `app`."""

    @app.command("fit")
    def fit_cmd(
        runs: Path = typer.Argument(..., help="Runs table (CSV) with columns params, tokens and the loss column; "
                                              "optional arm and flops (else 6ND)."),
        output: Path = typer.Option(..., "--output", "-o", help="Output dir: fit.json, report.md, PNG/SVG plots."),
        drop_highest: int = typer.Option(0, "--drop-highest", min=0, help="Drop the K highest-loss points of "
                                                                          "each arm before fitting."),
        bootstrap: int = typer.Option(1000, "--bootstrap", min=0, help="Bootstrap resamples of points for the "
                                                                       "95% intervals (0: none)."),
        baseline: Optional[str] = typer.Option(None, "--baseline", help="Arm the compute multipliers are measured "
                                                                        "against (default: the first arm)."),
        loss_column: str = typer.Option("loss", "--loss-column", help="Column to fit, e.g. loss, loss:heldout or "
                                                                      "bpb:heldout."),
        seed: int = typer.Option(0, "--seed", help="Seed of the bootstrap resampling."),
    ) -> None:
        """Fit L(N, D) = E + A/N^alpha + B/D^beta per arm (Chinchilla Approach 3) and write the scaling report."""
        from pipeline.scaling.report import fit_runs

        try:
            res = fit_runs(runs, output, drop_highest=drop_highest, bootstrap=bootstrap, baseline=baseline,
                           loss_column=loss_column, seed=seed)
        except (FileNotFoundError, ValueError) as e:
            fail(str(e))
        for arm, a in res["arms"].items():
            p = a["params"]
            typer.echo(f"{arm}: E={p['E']:.4g} A={p['A']:.4g} B={p['B']:.4g} alpha={p['alpha']:.3g} "
                       f"beta={p['beta']:.3g} ({a['n_points']} points, {len(a['warnings'])} warning(s))")
        typer.echo(f"report: {output / 'report.md'}")

    @app.command("ablate")
    def ablate_cmd(
        config: str = typer.Option(..., "--config", "-c", help="Experiment config (YAML/TOML/JSON): arms, "
                                                               "baseline, models, tokens, eval, seeds, tokenizer, "
                                                               "output, resources, fit."),
        address: Optional[str] = typer.Option(None, "--address", help=ADDRESS_HELP),
        var: Optional[list[str]] = typer.Option(None, "--var", help="NAME=VALUE for ${NAME} placeholders in the "
                                                                    "config (overrides its vars:); repeatable."),
        output: Optional[str] = typer.Option(None, "--output", "-o", help="Output dir (overrides the config's)."),
        bootstrap: Optional[int] = typer.Option(None, "--bootstrap", min=0, help="Bootstrap resamples of the "
                                                                                 "final fit (overrides fit.bootstrap)."),
        progress: bool = typer.Option(True, help="Print a line per finished point."),
    ) -> None:
        """Train students on every (arm, size, budget, seed) point as Ray tasks (resumable), evaluate them, write
        runs.csv, then fit and report into OUTPUT/fit/."""
        from pipeline.ablate import AblateConfig, run_ablate

        job = load_job(AblateConfig, config, {"vars": _parse_vars(var), "output": output,
                                              "fit": {"bootstrap": bootstrap}})
        run_or_submit("ablate", job, address, lambda j, a: run_ablate(j, a, progress))
