"""Pool-limited compute-optimal frontiers and the quality-quantity crossover (Goyal et al. 2024).

An arm whose pool holds U unique tokens must repeat data once the compute-optimal token count exceeds U.  With the
repetition-aware law L(N, D) = E + A/N^alpha + B/D'^beta (D' from `pipeline.scaling.repetition`), the best loss
reachable with compute C = 6ND is

    L*_U(C) = min over N of L(N, D'(C / 6N, U)),

found on a log-spaced grid of N around the unconstrained optimum and the "spend everything on N" point
N = C/(6U), refined by a parabola through the best grid point and its neighbours.  Without a pool size (or with
repetition off) the closed-form unconstrained frontier of `pipeline.scaling.multiplier` is used.  The arm starts
repeating at the compute where the unconstrained optimal D reaches U: C_rep = 6 (U G)^((alpha+beta)/alpha).

A crossover of arms X and Y is a compute C* where the sign of L*_X(C) - L*_Y(C) changes: X (typically the
smaller, better pool) wins below C* and Y above.  Its interval: for each bootstrap replicate (all arms refitted
together), the first compute in the evaluated range where the replicate's Y beats its X: the lower end of the
range when Y already wins there (-inf), +inf when it never does; then percentiles, so an interval end outside
the range is reported as open (None) rather than clipped.  Crossovers beyond the largest run are extrapolations.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.optimize import brentq

from pipeline.scaling.multiplier import _exponents, frontier_loss
from pipeline.scaling.repetition import log_effective_tokens


def repeat_compute(p: dict, unique: float) -> float:
    """Compute at which the unconstrained compute-optimal D reaches the pool size U (NaN if unknown)."""
    g, _, _ = _exponents(p)
    if not (unique and np.isfinite(unique) and np.isfinite(g)):
        return math.nan
    with np.errstate(over="ignore"):                  # a degenerate (bootstrap) fit overflows to inf, not an error
        return float(6.0 * np.float64(unique * g) ** ((p["alpha"] + p["beta"]) / p["alpha"]))


def pool_frontier(p: dict, compute, unique: float | None, rstar: float | None, m: int = 400) -> np.ndarray:
    """L*_U(C): the lowest loss reachable with compute C when the pool holds `unique` tokens and repeats follow
    R* = `rstar`.  No pool (None/NaN/inf) or no R*: the unconstrained frontier."""
    c = np.atleast_1d(np.asarray(compute, dtype=np.float64))
    if not (unique and np.isfinite(unique)) or rstar is None:
        return frontier_loss(p, c)
    g, _, _ = _exponents(p)
    a, b = p["alpha"], p["beta"]
    if not np.isfinite(g):
        return np.full_like(c, np.nan)
    lnx = np.log(c / 6.0)
    ln_opt = math.log(g) + b / (a + b) * lnx                     # unconstrained optimum
    lo = ln_opt - 2.0
    hi = np.maximum(ln_opt, lnx - math.log(unique)) + 2.0       # N = C/(6U): all the pool, once
    t = np.linspace(0.0, 1.0, m)
    log_n = lo[:, None] + (hi - lo)[:, None] * t[None, :]        # (C, m)
    log_d = lnx[:, None] - log_n
    log_deff, _ = log_effective_tokens(log_d.ravel(), np.full(log_d.size, float(unique)), math.log(rstar))
    loss = p["E"] + p["A"] * np.exp(-a * log_n) + p["B"] * np.exp(-b * log_deff.reshape(log_d.shape))
    j = np.clip(loss.argmin(axis=1), 1, m - 2)
    rows = np.arange(len(c))
    y0, y1, y2 = loss[rows, j - 1], loss[rows, j], loss[rows, j + 1]
    curv = y0 - 2 * y1 + y2
    with np.errstate(divide="ignore", invalid="ignore"):
        refined = np.where(curv > 0, y1 - (y2 - y0) ** 2 / (8 * curv), y1)
    return np.minimum(refined, loss.min(axis=1))


def _first_switch(diff: np.ndarray) -> int | None:
    """Index i of the first grid interval [i, i+1] where diff goes from < 0 to >= 0 (None: never)."""
    s = diff >= 0
    hits = np.flatnonzero(~s[:-1] & s[1:])
    return int(hits[0]) if len(hits) else None


def crossings(curves: dict[str, np.ndarray], c_grid: np.ndarray) -> list[tuple[str, str, int]]:
    """(x, y, i): arm x wins at the low end of the grid and y overtakes it in grid interval i (first switch)."""
    arms, out = list(curves), []
    for i, x in enumerate(arms):
        for y in arms[i + 1:]:
            d = curves[x] - curves[y]
            ok = np.isfinite(d)
            if ok.sum() < 2:
                continue
            first = d[ok][0]
            lead, trail = (x, y) if first < 0 else (y, x)
            dd = curves[lead] - curves[trail]
            j = _first_switch(np.where(np.isfinite(dd), dd, -np.inf))
            out.append((lead, trail, j))
    return out


def _interp_log_c(c_grid, diff, j) -> float:
    l0, l1 = math.log(c_grid[j]), math.log(c_grid[j + 1])
    d0, d1 = diff[j], diff[j + 1]
    return math.exp(l0 + (l1 - l0) * (-d0) / (d1 - d0)) if d1 != d0 else math.exp(l0)


def refine_crossing(px: dict, py: dict, ux, uy, rstar, c_lo: float, c_hi: float) -> float:
    """The crossing compute in [c_lo, c_hi] to high precision (brentq on the pool-limited frontiers)."""
    def f(lc):
        c = math.exp(lc)
        return float(pool_frontier(px, c, ux, rstar, m=3000)[0] - pool_frontier(py, c, uy, rstar, m=3000)[0])
    return math.exp(brentq(f, math.log(c_lo), math.log(c_hi), xtol=1e-10, rtol=1e-12))


def crossover_table(point: dict[str, dict], curves: dict[str, np.ndarray], boot_curves: list[dict[str, np.ndarray]],
                    c_grid: np.ndarray, pools: dict[str, float | None], rstar: float | None,
                    level: float = 0.95) -> list[dict]:
    """Crossovers between every pair of arms.  `point`: arm -> fitted parameters; `curves`: arm -> L*_U on
    `c_grid` for them; `boot_curves[i]`: the same for bootstrap replicate i (all arms from one replicate)."""
    rows = []
    for lead, trail, j in crossings(curves, c_grid):
        row = {"leader": lead, "overtaken_by": trail, "compute": None, "ci_low": None, "ci_high": None,
               "share_crossing": None}
        if j is not None:
            try:
                row["compute"] = refine_crossing(point[lead], point[trail], pools.get(lead), pools.get(trail), rstar,
                                                 c_grid[j], c_grid[j + 1])
            except ValueError:
                row["compute"] = _interp_log_c(c_grid, curves[lead] - curves[trail], j)
        vals = []
        for bc in boot_curves:
            d = bc[lead] - bc[trail]
            if not np.all(np.isfinite(d)):
                continue
            if d[0] >= 0:
                vals.append(0.0)          # already overtaken at the low end: log10 -> -inf
                continue
            k = _first_switch(d)
            vals.append(np.inf if k is None else _interp_log_c(c_grid, d, k))
        if len(vals) >= 2:
            with np.errstate(divide="ignore"):
                v = np.log10(np.array(vals))
            q = (1 - level) / 2
            lo, hi = (float(np.quantile(v, x, method="inverted_cdf")) for x in (q, 1 - q))
            row["ci_low"] = 10 ** lo if np.isfinite(lo) else None
            row["ci_high"] = 10 ** hi if np.isfinite(hi) else None
            row["share_crossing"] = float(np.mean(np.isfinite(v)))
            row["n_bootstrap"] = len(vals)
        rows.append(row)
    return rows


def compute_range(flops, pool_computes) -> tuple[float, float]:
    """Compute range for frontiers and crossovers: from 1/10 of the smallest run to 10^4 x the largest, extended
    to 10x the largest pool limit (at most 10^8 x the largest run)."""
    f = np.asarray(flops, dtype=np.float64)
    lo, hi = float(f.min()) / 10, float(f.max()) * 1e4
    reps = [c for c in pool_computes if np.isfinite(c)]
    if reps:
        hi = min(max(hi, 10 * max(reps)), float(f.max()) * 1e8)
    return lo, hi
