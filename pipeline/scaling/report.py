"""`assay fit`: fit L(N, D) per arm from a runs table, compute multipliers, write fit.json, plots and report.md."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.scaling.fit import PARAM_NAMES, FitResult, fit_chinchilla
from pipeline.scaling.multiplier import (
    frontier_loss,
    multiplier_with_ci,
    optimal_allocation,
    target_losses,
)
from pipeline.io import write_text_atomic
from pipeline.scaling import plots

REQUIRED = ("params", "tokens")


def _atomic_write(path: Path, text: str) -> None:
    write_text_atomic(text, path)


def _clean(x):
    """JSON-safe values: NaN/inf -> null, numpy scalars -> Python."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


def load_runs(path: Path, loss_column: str = "loss") -> pd.DataFrame:
    """Read a runs CSV into columns arm, params, tokens, flops, loss (the chosen loss column), validated."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"runs table not found: {path}")
    df = pd.read_csv(path)
    missing = [c for c in (*REQUIRED, loss_column) if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}; columns are {list(df.columns)}")
    out = pd.DataFrame({
        "arm": df["arm"].astype(str) if "arm" in df.columns else "all",
        "params": pd.to_numeric(df["params"], errors="coerce"),
        "tokens": pd.to_numeric(df["tokens"], errors="coerce"),
        "loss": pd.to_numeric(df[loss_column], errors="coerce"),
    })
    flops = pd.to_numeric(df["flops"], errors="coerce") if "flops" in df.columns else None
    out["flops"] = 6.0 * out["params"] * out["tokens"] if flops is None else flops.fillna(6.0 * out["params"] * out["tokens"])
    for col in ("params", "tokens", "loss"):
        bad = out.index[~(out[col] > 0) | ~np.isfinite(out[col])]
        if len(bad):
            i = int(bad[0])
            raise ValueError(f"{path}: row {i + 2} (line in file) has invalid {col if col != 'loss' else loss_column}="
                             f"{df.iloc[i][col if col != 'loss' else loss_column]!r}; must be a number > 0")
    return out


def fit_arms(points: pd.DataFrame, *, drop_highest: int = 0, bootstrap: int = 1000, seed: int = 0
             ) -> tuple[dict[str, FitResult], pd.DataFrame]:
    """Fit each arm (dropping its `drop_highest` highest-loss points); returns the fits and the points used.

    Arm i's bootstrap uses seed `seed + i`, so arms resample independently (their runs are independent)."""
    fits, kept = {}, []
    for i, arm in enumerate(dict.fromkeys(points["arm"])):  # order of first appearance
        pts = points[points["arm"] == arm].sort_values("loss", ascending=False, kind="stable")
        pts = pts.iloc[drop_highest:]
        if pts.empty:
            raise ValueError(f"arm {arm!r}: no points left after dropping the {drop_highest} highest-loss ones")
        fits[arm] = fit_chinchilla(pts["params"], pts["tokens"], pts["loss"], bootstrap=bootstrap,
                                   seed=seed + i)  # arms resample independently
        kept.append(pts)
    return fits, pd.concat(kept).sort_index()


def _fmt(v: float) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    return f"{v:.4g}"


def fit_runs(runs: Path, output: Path, *, drop_highest: int = 0, bootstrap: int = 1000, baseline: str | None = None,
             loss_column: str = "loss", seed: int = 0, report_targets: int = 5) -> dict:
    """Fit every arm of a runs table and write `output/fit.json`, the plots (PNG + SVG) and `output/report.md`.

    Returns the fit.json content."""
    runs, output = Path(runs), Path(output)
    points = load_runs(runs, loss_column)
    fits, used = fit_arms(points, drop_highest=drop_highest, bootstrap=bootstrap, seed=seed)
    arms = list(fits)
    baseline = baseline if baseline is not None else arms[0]
    if baseline not in fits:
        raise ValueError(f"baseline arm {baseline!r} not in {runs} (arms: {arms})")

    targets = target_losses(fits, used["loss"])
    curves = {a: multiplier_with_ci(fits[baseline], fits[a], targets) for a in arms if a != baseline}
    mult_rows = [
        {"arm": a, "target_loss": float(t), "multiplier": float(m), "ci95": [float(lo), float(hi)], "valid_share": float(v)}
        for a, c in curves.items() for t, m, lo, hi, v in zip(c["loss"], c["m"], c["lo"], c["hi"], c["valid"])
    ]

    c_grid = np.geomspace(used["flops"].min(), used["flops"].max() * 100, 7)
    arms_json = {}
    for a, f in fits.items():
        n_opt, d_opt = optimal_allocation(f.params, c_grid)
        j = f.to_json()
        arms_json[a] = {
            "params": f.params, "ci95": j["intervals"], "n_points": f.n_points, "n_bootstrap": j["n_bootstrap"],
            "objective": f.objective, "converged": f.converged, "warnings": f.warnings,
            "frontier": [{"flops": float(c), "n_opt": float(n), "d_opt": float(d), "loss": float(l)}
                         for c, n, d, l in zip(c_grid, n_opt, d_opt, frontier_loss(f.params, c_grid))],
        }

    label = loss_column
    figs = []
    figs += plots.plot_loss_vs_compute(used, fits, output / "loss_vs_compute", label)
    figs += plots.plot_multiplier(curves, baseline, output / "multiplier", label)
    figs += plots.plot_loss_vs_tokens(used, fits, output / "loss_vs_tokens", label)

    result = {
        "runs": str(runs), "loss_column": loss_column, "baseline": baseline, "bootstrap": bootstrap,
        "drop_highest": drop_highest, "seed": seed, "n_points": int(len(points)),
        "model": "L(N,D) = E + A/N^alpha + B/D^beta (Chinchilla Approach 3; N = non-embedding params, D = tokens)",
        "arms": arms_json, "multipliers": mult_rows, "plots": [p.name for p in figs],
    }
    result = _clean(result)
    _atomic_write(output / "fit.json", json.dumps(result, indent=2, allow_nan=False) + "\n")
    _atomic_write(output / "report.md", render_report(result, fits, curves, report_targets))
    return result


def render_report(result: dict, fits: dict[str, FitResult], curves: dict, report_targets: int = 5) -> str:
    """Markdown report: plots, a table of fits with 95% CIs, multipliers at a few target losses, warnings."""
    lc, base = result["loss_column"], result["baseline"]
    lines = [
        "# Scaling-law fits", "",
        f"Runs: `{result['runs']}` ({result['n_points']} points); loss column `{lc}`; "
        f"{result['model']}; Huber(delta=1e-3) summed over log-loss residuals, L-BFGS-B from the 4500-start grid; "
        f"95% percentile intervals from {result['bootstrap']} bootstrap resamples of points (seed {result['seed']}); "
        f"{result['drop_highest']} highest-loss point(s) dropped per arm; baseline arm `{base}`.", "",
        "![loss vs compute](loss_vs_compute.png)", "",
        "![compute multiplier](multiplier.png)", "",
        "![loss vs tokens](loss_vs_tokens.png)", "",
        "## Fits", "",
        "| arm | points | " + " | ".join(PARAM_NAMES) + " |",
        "|---|---|" + "---|" * len(PARAM_NAMES),
    ]
    for arm, f in fits.items():
        cells = [f"{_fmt(f.params[k])} [{_fmt(f.intervals.get(k, (np.nan,) * 2)[0])}, "
                 f"{_fmt(f.intervals.get(k, (np.nan,) * 2)[1])}]" for k in PARAM_NAMES]
        lines.append(f"| {arm} | {f.n_points} | " + " | ".join(cells) + " |")
    lines += ["", "## Effective compute multiplier", "",
              f"M(L*) = C_{base}(L*) / C_arm(L*) along each arm's compute-optimal frontier (C = 6ND): how many "
              f"times less compute the arm needs than `{base}` to reach target {lc} L*. n/a: an arm never reaches "
              "L* (below its fitted E) or too few bootstrap fits do.", ""]
    if curves:
        any_curve = next(iter(curves.values()))
        n = len(any_curve["loss"])
        idx = sorted({int(round(i)) for i in np.linspace(0, n - 1, min(report_targets, n))}) if n else []
        lines += ["| arm | " + " | ".join(f"L*={any_curve['loss'][i]:.4g}" for i in idx) + " |",
                  "|---|" + "---|" * len(idx)]
        for arm, c in curves.items():
            cells = [f"{_fmt(c['m'][i])} [{_fmt(c['lo'][i])}, {_fmt(c['hi'][i])}]" for i in idx]
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    else:
        lines.append("(only one arm: no multipliers)")
    lines += ["", "## Warnings", ""]
    warned = False
    for arm, f in fits.items():
        for w in f.warnings:
            lines.append(f"- **{arm}**: {w}")
            warned = True
    if not warned:
        lines.append("None: every fit is well conditioned by the checks run (points, ranges, bounds, CI widths).")
    return "\n".join(lines) + "\n"
