"""Fit, check, and refit without the points that break the form: what `assay fit` answers from.

`assess` fits the runs (joint, or per arm), runs the checks of `pipeline.scaling.validity` and, when the form does
not describe the runs (goodness of fit or held-out prediction fails), refits without the smallest token budgets,
one level at a time, until a fit passes (`trimmed`).  `Assessment.answer()` is the fit the report's lead rests on:
the full fit when it passes, else the first trimmed fit that passes, else the full fit marked as not supported.
The same function drives `assay fit` and the simulation studies (`benchmarks/calibration.py`,
`benchmarks/decision_accuracy.py`), so what they measure is what users get.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from pipeline.scaling.fit import FitResult, fit_chinchilla
from pipeline.scaling.joint import JointFit, Points, fit_joint, make_layout, make_points
from pipeline.scaling.validity import check_fit, form_fails, trim_candidates


@dataclass
class Assessment:
    fit: JointFit
    pts: Points
    used: pd.DataFrame
    checks: list
    trimmed: "Assessment | None" = None
    dropped: dict | None = None          # for a trimmed fit: {"budgets": [...], "n_points": k, "up_to": D}

    @property
    def passes(self) -> bool:
        return not form_fails(self.checks)

    def answer(self) -> "Assessment":
        if self.passes or self.trimmed is None or not self.trimmed.passes:
            return self
        return self.trimmed


def from_per_arm(arms: list[str], results: dict[str, FitResult], rstar_mode: str, rstar: float | None) -> JointFit:
    """Wrap independent per-arm Approach 3 fits (fit_chinchilla) as a JointFit with nothing shared."""
    lay = make_layout(arms, (), False)
    v = np.zeros(lay.n_free)
    for k, a in enumerate(arms):
        v[lay.idx[k]] = results[a].theta
    boot = None
    nb = [0 if results[a].bootstrap is None else len(results[a].bootstrap) for a in arms]
    if min(nb) > 0:
        boot = np.full((min(nb), lay.n_free), np.nan)
        for k, a in enumerate(arms):
            boot[:, lay.idx[k]] = results[a].bootstrap[: min(nb)]
    fit = JointFit(layout=lay, vector=v, objective=sum(r.objective for r in results.values()),
                   converged=all(r.converged for r in results.values()),
                   n_points={a: results[a].n_points for a in arms},
                   arm_objective={a: results[a].objective for a in arms}, rstar_mode=rstar_mode, rstar=rstar,
                   boot=boot, arm_warnings={a: list(results[a].warnings) for a in arms}, per_arm_results=results)
    if boot is not None and rstar is not None:
        fit.boot_rstar = np.full(len(boot), rstar)
    return fit


def fit_all(used: pd.DataFrame, arms, share, rep_mode: str, rstar: float, bootstrap: int, seed: int,
            progress: bool, method: str = "parametric") -> tuple[JointFit, Points]:
    """The fit (joint, or per arm via fit_chinchilla when nothing couples the arms) and its Points."""
    arm_idx = used["arm"].map({a: k for k, a in enumerate(arms)}).to_numpy()
    r_for_pts = rstar if rep_mode == "fixed" else None
    pts = make_points(arm_idx, used["params"], used["tokens"], used["loss"],
                      used["unique_tokens"] if rep_mode != "off" else None, r_for_pts)
    if share == () and rep_mode != "fit":
        from pipeline.scaling.ticker import Ticker

        ticker = Ticker("bootstrap replicates", bootstrap * len(arms)) if progress and bootstrap else None
        results = {}
        for i, a in enumerate(arms):
            m = arm_idx == i
            d_eff = np.exp(pts.log_deff[m])
            tick = (lambda j, base=i * bootstrap: ticker.tick(base + j)) if ticker else None
            results[a] = fit_chinchilla(np.exp(pts.log_n[m]), d_eff, np.exp(pts.log_l[m]), bootstrap=bootstrap,
                                        seed=seed + i, progress=tick)
        return from_per_arm(arms, results, rep_mode, rstar if rep_mode == "fixed" else None), pts
    fit = fit_joint(arms, pts, share=share, rstar_mode=rep_mode, rstar=rstar, bootstrap=bootstrap, seed=seed,
                    method=method, progress=progress)
    return fit, pts


def assess(used: pd.DataFrame, arms, share, rep_mode: str, rstar: float, bootstrap: int, seed: int = 0,
           progress: bool = False, method: str = "parametric", check_replicates: int | None = None,
           trim: bool = True) -> Assessment:
    """Fit, check, and (when the form fails) refit without the smallest budgets; see the module docstring."""
    from pipeline.scaling.validity import NULL_REPLICATES

    reps = NULL_REPLICATES if check_replicates is None else check_replicates
    fit, pts = fit_all(used, arms, share, rep_mode, rstar, bootstrap, seed, progress, method)
    out = Assessment(fit, pts, used, check_fit(fit, pts, replicates=reps, seed=seed))
    if not trim or out.passes or fit.per_arm_results is not None:
        return out
    for j, up_to, keep in trim_candidates(fit.layout, pts):
        sub = used[keep]
        if sub.groupby("arm").size().reindex(arms).isna().any():
            break
        f2, p2 = fit_all(sub, arms, share, rep_mode, rstar, bootstrap, seed, progress, method)
        dropped = {"budgets": sorted({float(x) for x in used.loc[~keep, "tokens"]}), "n_points": int((~keep).sum()),
                   "up_to": up_to, "levels": j}
        out.trimmed = Assessment(f2, p2, sub, check_fit(f2, p2, replicates=reps, seed=seed), dropped=dropped)
        if out.trimmed.passes:
            break
    return out
