"""What a fit says: per-arm data multipliers, compute multiplier curves, pool limits, crossovers, the model
comparison and the one-sentence answers that lead the report (all intervals: 95% bootstrap percentiles)."""

from __future__ import annotations

import math

import numpy as np

from pipeline.scaling.crossover import compute_range, crossover_table, pool_frontier, repeat_compute
from pipeline.scaling.fit import theta_to_params
from pipeline.scaling.multiplier import frontier_loss, multiplier_with_ci, optimal_allocation, target_losses

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
            planted: dict | None = None, progress: bool = True) -> tuple[dict, dict]:
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
    result["answer"] = answer_sentences(result, baseline)
    extras = {"fits": fits, "curves": curves, "c_grid": c_grid, "frontier": frontier, "bands": bands,
              "pools": pools, "repeat_compute": reps, "crossovers": crossovers, "report_targets": report_targets,
              "data_multipliers": {a: arms_json[a]["data_multiplier"] for a in arms}}
    return result, extras


def answer_sentences(result: dict, baseline: str) -> list[str]:
    """The report's lead: one sentence per arm, then the model comparison and the crossovers."""
    out = []
    for a, e in result["arms"].items():
        if a == baseline:
            continue
        dm = e["data_multiplier"]
        if dm["value"] is not None:
            ci = f" ({_fmt(dm['ci_low'])}-{_fmt(dm['ci_high'])})" if dm["ci_low"] is not None else \
                " (no interval: bootstrap off)"
            verdict = ""
            if dm["ci_low"] is not None:
                verdict = ("; better data than" if dm["ci_low"] > 1 else "; worse data than" if dm["ci_high"] < 1
                           else "; not distinguishable at 95% from")
                verdict += f" `{baseline}`"
            s = f"one token of `{a}` is worth {_fmt(dm['value'])}x{ci} tokens of `{baseline}`{verdict}"
        else:
            cm = [r for r in e["compute_multiplier"] if np.isfinite(r["value"] or np.nan)]
            if cm:
                mid = cm[len(cm) // 2]
                s = (f"`{a}` needs {_fmt(1 / mid['value'])}x the compute of `{baseline}` to reach loss "
                     f"{mid['target_loss']:.4g} (compute multiplier {_fmt(mid['value'])}, 95% "
                     f"{_fmt(mid['ci_low'])}-{_fmt(mid['ci_high'])}); no single data multiplier (beta per arm)")
            else:
                s = f"`{a}`: no data multiplier (beta per arm) and no common reachable loss for a compute multiplier"
        if "planted" in e:
            p = e["planted"]
            s += (f"; planted {p['value']:g}x against `{p['source']}`: "
                  + ("recovered (inside the interval)" if p["recovered"] else "NOT recovered (outside the interval)"
                     if p["recovered"] is not None else "no interval to check"))
        out.append(s + ".")
    cmp = result.get("model_comparison")
    if cmp and cmp.get("verdict"):
        out.append(cmp["verdict"][0].upper() + cmp["verdict"][1:] + ".")
    rows = result.get("crossovers", [])
    if rows and all(r["compute"] is None for r in rows) and not any(e.get("pool") for e in result["arms"].values()):
        out.append("No arm overtakes another at any compute up to "
                   f"{result['compute_range'][1]:.2g} FLOPs: without pool sizes (unique_tokens) every arm is assumed "
                   "to have unlimited fresh data" + (", and arms sharing alpha, beta and E never cross"
                                                    if set(result.get("share_fit", ())) >= {"alpha", "beta", "E"}
                                                    else "") + ".")
        rows = []
    # the lead names only crossings that involve the baseline; every pair is in the report's crossover table
    shown = [r for r in rows if r["compute"] is not None and baseline in (r["leader"], r["overtaken_by"])]
    for row in shown:
        lo = "below range" if row["ci_low"] is None else f"{row['ci_low']:.2g}"
        hi = "beyond range" if row["ci_high"] is None else f"{row['ci_high']:.2g}"
        ex = row["extrapolated_x"]
        out.append(f"`{row['overtaken_by']}` overtakes `{row['leader']}` at {row['compute']:.2g} FLOPs "
                   f"(95% {lo} to {hi})" + (f", {ex:.3g}x beyond the largest run (extrapolated)" if ex and ex > 1
                                            else "") + ".")
    if rows and len(shown) < len(rows):
        out.append(f"{len(rows) - len(shown)} more arm pair(s) in the crossover table below.")
    return out
