"""`assay fit`: fit L(N, D) for every arm of a runs table, check the form, measure each arm against a baseline and
decide between arms; write fit.json, report.md and the plots (PNG + SVG).

Modes: `joint` (default; `share` parameters common to all arms, B per arm, least squares, parametric bootstrap with
the measured run-to-run noise) or `per-arm` (`share="none"`: every arm its own Approach 3 fit, exactly as
`fit_chinchilla` does it).  Repetition: when the runs table has `unique_tokens` (the arm's pool U), D is replaced by
the effective data D' of Muennighoff et al. (2023) with R* fixed or fitted (`pipeline.scaling.repetition`).
Pipeline: `assess` (fit, checks of `pipeline.scaling.validity`, refit without the smallest budgets when the form
fails), then on the fit the answer rests on: per-arm data multiplier (B_base / B_arm)^(1/beta) with its interval
(needs beta shared), pairwise decisions and ranking (`pipeline.scaling.decide`), predictions at `target`, compute
multiplier M(L*), shared-vs-free model comparison (`pipeline.scaling.compare`), pool-limited frontiers and
crossovers (`pipeline.scaling.crossover`); the lead (`pipeline.scaling.lead`) holds only what passed its checks.
Unfittable inputs raise `UserError` with a one-line reason when `strict`.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import UserError
from pipeline.io import write_text_atomic
from pipeline.progress import log
from pipeline.scaling import plots
from pipeline.scaling.assess import assess, from_per_arm
from pipeline.scaling.checks import design_warnings, fit_warnings, problems
from pipeline.scaling.decide import parse_target
from pipeline.scaling.fit import FitResult, fit_chinchilla
from pipeline.scaling.joint import make_layout, make_points, parse_share
from pipeline.scaling.lead import compose
from pipeline.scaling.repetition import RSTAR_PUBLISHED, epochs, over_epochs

REQUIRED = ("params", "tokens")
REPETITION_MODES = ("auto", "fit", "fixed", "off")


def _clean(x):
    """JSON-safe values: NaN/inf -> null, numpy scalars -> Python."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items()}
    if isinstance(x, (list, tuple, np.ndarray)):
        return [_clean(v) for v in x]
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    if isinstance(x, (np.integer, np.bool_)):
        return x.item()
    return x


def load_runs(path: Path, loss_column: str = "loss") -> pd.DataFrame:
    """Read a runs CSV into columns arm, params, tokens, flops, loss (the chosen loss column), unique_tokens (NaN
    when unknown), epochs and row (line in the file), validated."""
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
    six_nd = 6.0 * out["params"] * out["tokens"]
    out["flops"] = six_nd if flops is None else flops.fillna(six_nd)
    for col in ("params", "tokens", "loss"):
        bad = out.index[~(out[col] > 0) | ~np.isfinite(out[col])]
        if len(bad):
            i = int(bad[0])
            raise ValueError(f"{path}: row {i + 2} (line in file) has invalid {col if col != 'loss' else loss_column}="
                             f"{df.iloc[i][col if col != 'loss' else loss_column]!r}; must be a number > 0")
    u = pd.to_numeric(df["unique_tokens"], errors="coerce") if "unique_tokens" in df.columns else None
    if u is None and "epochs" in df.columns:  # U = D / epochs
        u = out["tokens"] / pd.to_numeric(df["epochs"], errors="coerce")
    out["unique_tokens"] = np.nan if u is None else u.where(u > 0)
    out["epochs"] = epochs(out["tokens"], out["unique_tokens"])
    out["row"] = np.arange(len(df)) + 2
    return out


def fit_arms(points: pd.DataFrame, *, drop_highest: int = 0, bootstrap: int = 1000, seed: int = 0
             ) -> tuple[dict[str, FitResult], pd.DataFrame]:
    """Fit each arm alone (dropping its `drop_highest` highest-loss points); returns the fits and the points used.

    Arm i's bootstrap uses seed `seed + i`, so arms resample independently (their runs are independent)."""
    used = drop_points(points, drop_highest)
    fits = {arm: fit_chinchilla(g["params"], g["tokens"], g["loss"], bootstrap=bootstrap, seed=seed + i)
            for i, (arm, g) in enumerate(used.groupby("arm", sort=False))}
    return fits, used


def drop_points(points: pd.DataFrame, drop_highest: int) -> pd.DataFrame:
    kept = []
    for arm in dict.fromkeys(points["arm"]):  # order of first appearance
        pts = points[points["arm"] == arm].sort_values("loss", ascending=False, kind="stable").iloc[drop_highest:]
        if pts.empty:
            raise ValueError(f"arm {arm!r}: no points left after dropping the {drop_highest} highest-loss ones")
        kept.append(pts)
    return pd.concat(kept).sort_index()


def _resolve_repetition(mode: str, used: pd.DataFrame, arms, share, rstar: float, strict: bool,
                        notes: list[str]) -> str:
    """off | fixed | fit from the requested mode and what the runs can support (`notes` gets the reasons)."""
    if mode not in REPETITION_MODES:
        raise ValueError(f"--repetition must be one of {', '.join(REPETITION_MODES)}, got {mode!r}")
    has_pool = bool(used["unique_tokens"].notna().any())
    n_rep = int((used["epochs"] > 1).sum())
    if mode == "off":
        return "off"
    if mode in ("fixed", "auto") and not has_pool:
        if mode == "fixed":
            notes.append("the runs table has no unique_tokens (or epochs): repetition has no effect, D' = D")
        return "off"
    if mode == "fixed":
        return "fixed"
    pts = make_points(used["arm"].map({a: k for k, a in enumerate(arms)}), used["params"], used["tokens"],
                      used["loss"], used["unique_tokens"])
    why = problems(make_layout(arms, share, True), pts)
    if mode == "fit":
        if why:
            if strict:
                raise UserError(f"--repetition fit: cannot fit R*: {why[0]}")
            notes.append(f"cannot fit R* ({why[0]}): R* fixed at {rstar:g}")
            return "fixed"
        return "fit"
    if n_rep == 0:
        notes.append(f"no run repeats its pool: the fit is the same as without repetition; R* = {rstar:g} "
                     "(Muennighoff et al. 2023) is used only to extrapolate past each pool")
        return "fixed"
    if n_rep < 3 or why:
        notes.append(f"R* fixed at {rstar:g} (Muennighoff et al. 2023): "
                     + (why[0] if why else f"only {n_rep} run(s) repeat their pool, too few to fit R*"))
        return "fixed"
    return "fit"


def _ci_wide_warnings(res: FitResult) -> list[str]:
    out = []
    for k, (lo, hi) in res.intervals.items():
        est = res.params[k]
        if np.isfinite(lo) and np.isfinite(hi) and (hi - lo) > abs(est):
            out.append(f"{k}: 95% CI [{lo:.4g}, {hi:.4g}] is wider than the estimate {est:.4g}")
    return out


def fit_runs(runs: Path, output: Path, *, drop_highest: int = 0, bootstrap: int = 1000, baseline: str | None = None,
             loss_column: str = "loss", seed: int = 0, report_targets: int = 5, share=None, mode: str | None = None,
             repetition: str = "auto", rstar: float = RSTAR_PUBLISHED, strict: bool = False, compare: bool = True,
             planted: dict | None = None, progress: bool = True, target=None, bootstrap_method: str = "parametric",
             check_replicates: int | None = None) -> dict:
    """Fit every arm of a runs table and write `output/fit.json`, the plots (PNG + SVG) and `output/report.md`.

    share: parameters common to all arms, any of alpha, beta, E, A (list or comma string); None = alpha,beta,E;
        "none" = per-arm Approach 3 fits (also `mode="per-arm"`).
    repetition: auto (fit R* when >= 3 runs repeat their pool and R* is identifiable, else fixed) | fit | fixed |
        off; `rstar` is the fixed value (default 15.4, Muennighoff et al. 2023).
    strict: raise `UserError` with a one-line reason when the model cannot be fitted to these runs (otherwise fit
        anyway and lead the report and warnings with the reason).
    compare: also fit the other of shared/free and say which the data support (leave-one-out + AIC/BIC).
    planted: positive controls, arm -> {"source": arm, "value": k} (or just k, against the baseline): the report
        says whether the measured data multiplier's interval contains k.
    target: (N, D) or "N,D": predicted loss per arm there, with intervals and the probability of each pairwise order.
    bootstrap_method: parametric (runs simulated from the fit with the measured noise) or points (runs resampled).
    check_replicates: simulated data sets for the p-values of the form checks (default 200; 0: no p-values).

    Returns the fit.json content."""
    from pipeline.scaling.analysis import analyse
    from pipeline.scaling.render import render_report

    runs, output = Path(runs), Path(output)
    target = None if target is None else parse_target(target)
    if mode not in (None, "joint", "per-arm"):
        raise ValueError(f"--mode must be joint or per-arm, got {mode!r}")
    share = () if mode == "per-arm" else parse_share(share)
    points = load_runs(runs, loss_column)
    used = drop_points(points, drop_highest)
    arms = list(dict.fromkeys(used["arm"]))
    baseline = baseline if baseline is not None else arms[0]
    if baseline not in arms:
        raise ValueError(f"baseline arm {baseline!r} not in {runs} (arms: {arms})")
    if len(arms) == 1:
        share = ()  # one arm: nothing to share; the fit is the arm's own Approach 3 fit
    notes: list[str] = []
    rep_mode = _resolve_repetition(repetition, used, arms, share, rstar, strict, notes)
    arm_idx = used["arm"].map({a: k for k, a in enumerate(arms)}).to_numpy()
    lay = make_layout(arms, share, rep_mode == "fit")
    pts0 = make_points(arm_idx, used["params"], used["tokens"], used["loss"],
                       used["unique_tokens"] if rep_mode != "off" else None, rstar if rep_mode == "fixed" else None)
    unfittable = problems(lay, pts0)
    if unfittable and strict:
        more = f" (and {len(unfittable) - 1} more problem(s))" if len(unfittable) > 1 else ""
        raise UserError(f"cannot fit {runs.name}: {unfittable[0]}{more}")
    warnings = [f"cannot fit: {p}" for p in unfittable] + design_warnings(lay, pts0)
    full = assess(used, arms, share, rep_mode, rstar, bootstrap, seed, progress, method=bootstrap_method,
                  check_replicates=check_replicates)
    ans = full.answer()
    fit, pts, used_fit = ans.fit, ans.pts, ans.used
    if fit.per_arm_results is None:
        warnings += fit_warnings(fit)
        for a in arms:
            fit.arm_warnings[a] = list(warnings) + _ci_wide_warnings(fit.arm_fit(a))
    else:  # fit_chinchilla's own per-arm warnings already say "too few points" per arm
        for a in arms:
            fit.arm_warnings[a] = [w for w in warnings if not w.startswith("too few points")] + fit.arm_warnings[a]
    flagged = over_epochs(used)
    for f in flagged:
        fit.arm_warnings[f["arm"]].append(f"row {f['row']}: N={f['params']:.3g}, D={f['tokens']:.3g} trained "
                                          f"{f['epochs']:.1f} epochs over its pool (> 4: repeats are worth less "
                                          "than fresh tokens)")
    result, extras = analyse(fit, pts, used_fit, points, baseline=baseline, bootstrap=bootstrap,
                             report_targets=report_targets, compare=compare, planted=planted, progress=progress,
                             target=target)
    result["repetition"]["requested"] = repetition
    result.update({
        "runs": str(runs), "loss_column": loss_column, "baseline": baseline, "bootstrap": bootstrap,
        "bootstrap_method": fit.method if fit.per_arm_results is None else "points",
        "drop_highest": drop_highest, "seed": seed, "n_points": int(len(points)), "n_points_fit": int(len(used_fit)),
        "mode": "single-arm" if len(arms) == 1 else "joint" if share else "per-arm", "share": list(share),
        "warnings": warnings, "notes": notes, "unfittable": unfittable, "over_four_epochs": flagged,
        "noise": None if fit.noise is None else fit.noise.to_json(arms),
        "checks": [c.to_json() for c in ans.checks],
        "form": _form(full, ans),
    })
    result["answer"], result["not_in_answer"] = compose(result, baseline)
    in_plot = {a: e["planted"] for a, e in result["arms"].items()
               if "planted" in e and e["planted"]["source"] == baseline}
    result["plots"] = [p.name for p in plots.write_all(output, used_fit, fit, extras, baseline, loss_column, in_plot)]
    result = _clean(result)
    write_text_atomic(json.dumps(result, indent=2, allow_nan=False) + "\n", output / "fit.json")
    write_text_atomic(render_report(result, fit, extras), output / "report.md")
    _print_warnings(result, fit, arms)
    return result


def _form(full, ans) -> dict:
    """Whether the answer's fit passes the form checks, what was left out to get there, and why the full fit
    failed."""
    from pipeline.scaling.validity import form_fails

    out = {"supported": ans.passes, "failed_full": [c.to_json() for c in form_fails(full.checks)],
           "dropped": ans.dropped}
    if not full.passes:
        t = full.trimmed
        if t is None:
            out["trim_note"] = "dropping the smallest budgets is not possible with this design (too few budgets left)"
        elif not t.passes:
            out["trim_note"] = (f"without the runs at D <= {t.dropped['up_to']:.3g} it still fails: "
                                + "; ".join(c.summary for c in form_fails(t.checks)))
            out["trimmed_checks"] = [c.to_json() for c in t.checks]
        else:
            out["full_checks"] = [c.to_json() for c in full.checks]
    return out


def _print_warnings(result: dict, fit, arms) -> None:
    """Everything the report warns about, on stderr too."""
    for line in [*(f"cannot fit: {u}" for u in result["unfittable"]), *result["notes"]]:
        log(line, stage="fit")
    common = set(result["warnings"])
    for w in result["warnings"]:
        if not w.startswith("cannot fit"):
            log(f"warning: {w}", stage="fit")
    for a in arms:
        for w in fit.arm_warnings[a]:
            if w not in common and not w.startswith("row "):
                log(f"warning: {a}: {w}", stage="fit")
    for f in result["over_four_epochs"]:
        log(f"warning: {f['arm']} row {f['row']} (N={f['params']:.3g}, D={f['tokens']:.3g}): {f['epochs']:.1f} "
            "epochs over its pool, past 4", stage="fit")


__all__ = ["fit_runs", "load_runs", "fit_arms", "drop_points", "from_per_arm"]
