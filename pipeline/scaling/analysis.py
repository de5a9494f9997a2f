"""What a fit says: per-arm data multipliers, compute multiplier curves, pool limits, crossovers, the model
comparison and the one-sentence answers that lead the report (all intervals: 95% bootstrap percentiles)."""

from __future__ import annotations

import math

import numpy as np

from pipeline.scaling import decide
from pipeline.scaling.crossover import compute_range, crossover_table, pool_frontier, repeat_compute
from pipeline.scaling.fit import theta_to_params
from pipeline.scaling.multiplier import frontier_loss, multiplier_with_ci, optimal_allocation, target_losses
from pipeline.scaling.validity import extrapolation

MODEL = "L(N,D) = E + A/N^alpha + B/D'^beta (Chinchilla Approach 3; N = non-embedding params, D = tokens, " \
        "D' = effective data under repetition, D' = D for runs within one epoch)"
C_GRID_POINTS = 240


def _q(samples, level=0.95):
    """Percentile interval; NaN samples (no answer) are dropped, +-inf ones (beyond any range) count, and an infinite
    end comes back as None (open)."""
    s = np.asarray(samples, dtype=np.float64)
    s = s[~np.isnan(s)]
    if len(s) < 2:
        return None, None
    q = (1 - level) / 2
    lo, hi = (float(np.quantile(s, v, method="inverted_cdf")) for v in (q, 1 - q))
    return (lo if math.isfinite(lo) else None), (hi if math.isfinite(hi) else None)


def _fmt(v) -> str:
    if v is None or np.isnan(v):
        return "n/a"
    return ("+inf" if v > 0 else "0") if not np.isfinite(v) else f"{v:.3g}"


def boot_param_sets(fit) -> tuple[list[dict], list]:
    """Bootstrap replicates as {arm: params} (failed replicates skipped) and each replicate's R*."""
    if fit.boot is None:
        return [], []
    sets, rs = [], []
    for i, row in enumerate(fit.boot):
        if not np.all(np.isfinite(row)):
            continue
        sets.append({a: theta_to_params(fit.theta(a, row)) for a in fit.arms})
        rs.append(None if fit.boot_rstar is None else float(fit.boot_rstar[i]))
    return sets, rs


def _data_multiplier(fit, arm, ref) -> dict:
    if arm == ref:
        return {"value": 1.0, "ci_low": 1.0, "ci_high": 1.0, "against": ref}
    dm = fit.data_multiplier(arm, ref)
    if dm is None:
        return {"value": None, "ci_low": None, "ci_high": None, "against": ref,
                "reason": "beta is fitted per arm, so an arm's token is worth a different number of baseline "
                          "tokens at each D: no single data multiplier (share beta to get one)"}
    return {"value": dm["value"], "ci_low": dm["ci_low"], "ci_high": dm["ci_high"], "against": ref}


def analyse(fit, pts, used, points, *, baseline: str, bootstrap: int, report_targets: int = 5, compare: bool = True,
            planted: dict | None = None, progress: bool = True, target: tuple[float, float] | None = None
            ) -> tuple[dict, dict]:
    """(JSON-able result, extras for plots and the report)."""
    from pipeline.scaling.compare import compare_models

    arms = list(fit.arms)
    fits = {a: fit.arm_fit(a) for a in arms}
    boots, boot_r = boot_param_sets(fit)
    rstar_x = fit.rstar  # None: repetition off -> pools unlimited in extrapolation
    pools = {}
    for a in arms:
        u = used.loc[used["arm"] == a, "unique_tokens"]
        pools[a] = float(u.median()) if u.notna().any() and rstar_x is not None else None

    # compute multiplier along the fresh-data frontier (as before) ---------------------------------------------
    targets = target_losses(fits, used["loss"])
    curves = {a: multiplier_with_ci(fits[baseline], fits[a], targets) for a in arms if a != baseline}
    mult_rows = [{"arm": a, "target_loss": float(t), "multiplier": float(m), "ci95": [float(lo), float(hi)],
                  "valid_share": float(v)}
                 for a, c in curves.items() for t, m, lo, hi, v in zip(c["loss"], c["m"], c["lo"], c["hi"], c["valid"])]

    # pool-limited frontiers on one compute grid (plots, bands, crossovers) -------------------------------------
    reps = {a: repeat_compute(fit.params(a), pools[a]) if pools[a] else math.nan for a in arms}
    c_lo, c_hi = compute_range(used["flops"], reps.values())
    c_grid = np.geomspace(c_lo, c_hi, C_GRID_POINTS)
    point_params = {a: fit.params(a) for a in arms}
    frontier = {a: pool_frontier(point_params[a], c_grid, pools[a], rstar_x) for a in arms}
    boot_frontier = [{a: pool_frontier(bp[a], c_grid, pools[a], r) for a in arms} for bp, r in zip(boots, boot_r)]
    bands = {}
    for a in arms:
        if boot_frontier:
            stack = np.array([bf[a] for bf in boot_frontier])
            with np.errstate(all="ignore"):
                bands[a] = (np.nanquantile(stack, 0.025, axis=0), np.nanquantile(stack, 0.975, axis=0))
    crossovers = crossover_table(point_params, frontier, boot_frontier, c_grid, pools, rstar_x) \
        if len(arms) > 1 else []
    max_flops = float(used["flops"].max())
    for row in crossovers:
        row["extrapolated_x"] = row["compute"] / max_flops if row["compute"] else None

    # per-arm JSON ---------------------------------------------------------------------------------------------
    c_report = np.geomspace(used["flops"].min(), used["flops"].max() * 100, 7)
    planted = planted or {}
    arms_json = {}
    for a in arms:
        f = fits[a]
        j = f.to_json()
        n_opt, d_opt = optimal_allocation(f.params, c_report)
        entry = {
            "params": f.params, "ci95": j["intervals"], "n_points": f.n_points, "n_bootstrap": j["n_bootstrap"],
            "objective": f.objective, "converged": f.converged, "warnings": fit.arm_warnings.get(a, f.warnings),
            "frontier": [{"flops": float(c), "n_opt": float(n), "d_opt": float(d), "loss": float(l)}
                         for c, n, d, l in zip(c_report, n_opt, d_opt, frontier_loss(f.params, c_report))],
            "data_multiplier": _data_multiplier(fit, a, baseline),
            "compute_multiplier": [] if a == baseline else [
                {"target_loss": float(t), "value": float(m), "ci_low": float(lo), "ci_high": float(hi),
                 "valid_share": float(v)}
                for t, m, lo, hi, v in zip(*(curves[a][k] for k in ("loss", "m", "lo", "hi", "valid")))],
        }
        if pools[a]:
            samples = [repeat_compute(bp[a], pools[a]) for bp in boots]
            lo, hi = _q(samples)
            entry["pool"] = {"unique_tokens": pools[a], "repeat_compute": reps[a], "ci_low": lo, "ci_high": hi}
        if a in planted:
            spec = planted[a] if isinstance(planted[a], dict) else {"source": baseline, "value": planted[a]}
            src, val = spec.get("source", baseline), float(spec["value"])
            dm = _data_multiplier(fit, a, src) if src in arms else {"value": None, "ci_low": None, "ci_high": None}
            inside = None if dm["ci_low"] is None else bool(dm["ci_low"] <= val <= dm["ci_high"])
            entry["planted"] = {"source": src, "value": val, "measured": dm, "recovered": inside}
        arms_json[a] = entry

    comparison = compare_models(fit, pts, progress=progress) if compare and len(arms) > 1 else None
    rep = {"mode": fit.rstar_mode, "r_star": None}
    if fit.rstar_mode == "fit":
        lo, hi = fit.rstar_interval()
        rep["r_star"] = {"value": fit.rstar, "ci_low": lo, "ci_high": hi, "fitted": True}
    elif fit.rstar_mode == "fixed":
        rep["r_star"] = {"value": fit.rstar, "ci_low": None, "ci_high": None, "fitted": False}
    result = {"model": MODEL, "share_fit": list(fit.layout.share), "arms": arms_json, "multipliers": mult_rows,
              "repetition": rep, "model_comparison": comparison, "crossovers": crossovers,
              "compute_range": [c_lo, c_hi], "max_run_flops": max_flops}
    if "beta" in fit.layout.share and len(arms) > 1:
        pairs = decide.pairwise(fit)
        est = {a: (arms_json[a]["data_multiplier"]["value"] or 0.0) for a in arms}
        result["decisions"] = {"pairs": pairs, "tiers": decide.ranking(arms, est, pairs),
                               "resolution": decide.resolution(pairs)}
    if target is not None:
        t = decide.at_target(fit, *target, pools if rstar_x is not None else None)
        t["extrapolation"] = extrapolation(*target, pts)
        result["target"] = t
    extras = {"fits": fits, "curves": curves, "c_grid": c_grid, "frontier": frontier, "bands": bands,
              "pools": pools, "repeat_compute": reps, "crossovers": crossovers, "report_targets": report_targets,
              "data_multipliers": {a: arms_json[a]["data_multiplier"] for a in arms}}
    return result, extras
