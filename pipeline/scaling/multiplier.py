"""Compute-optimal frontiers and the effective compute multiplier between data arms.

With C = 6ND and L(N, D) = E + A/N^alpha + B/D^beta, minimising L over N at fixed C gives
N_opt = G (C/6)^(beta/(alpha+beta)), D_opt = (C/6) / N_opt, G = (alpha A / (beta B))^(1/(alpha+beta)), and
L*(C) = E + K (C/6)^(-gamma), K = A G^-alpha + B G^beta, gamma = alpha beta / (alpha + beta).
L*(C) is strictly decreasing towards E, so it inverts in closed form: C(L*) = 6 ((L* - E)/K)^(-1/gamma) for L* > E
(NaN at or below E: the arm never reaches that loss).  The effective compute multiplier of an arm against a
baseline is M(L*) = C_base(L*) / C_arm(L*): how many times less compute the arm needs for the same loss.
"""

from __future__ import annotations

import math

import numpy as np


def _exponents(p: dict) -> tuple[float, float, float]:
    a, b = p["alpha"], p["beta"]
    if a <= 0 or b <= 0:
        return math.nan, math.nan, math.nan
    s = a + b
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):   # degenerate fits: inf, not OverflowError
        g = np.float64(a * p["A"] / (b * p["B"])) ** (1.0 / s)
        k = p["A"] * g ** (-a) + p["B"] * g ** b
    return float(g), float(k), a * b / s


def optimal_allocation(p: dict, compute) -> tuple[np.ndarray, np.ndarray]:
    """(N_opt, D_opt) at compute C (FLOPs, C = 6ND) for fitted parameters p."""
    c = np.asarray(compute, dtype=np.float64)
    g, _, _ = _exponents(p)
    n_opt = g * (c / 6.0) ** (p["beta"] / (p["alpha"] + p["beta"]))
    return n_opt, (c / 6.0) / n_opt


def frontier_loss(p: dict, compute) -> np.ndarray:
    """L*(C): the lowest loss reachable with compute C on the compute-optimal frontier."""
    c = np.asarray(compute, dtype=np.float64)
    _, k, gamma = _exponents(p)
    return p["E"] + k * (c / 6.0) ** (-gamma)


def compute_for_loss(p: dict, loss) -> np.ndarray:
    """C(L*): compute the frontier needs to reach loss L*; NaN where L* <= E (unreachable)."""
    target = np.asarray(loss, dtype=np.float64)
    _, k, gamma = _exponents(p)
    excess = target - p["E"]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):  # unreachable or past float range: NaN
        c = 6.0 * (excess / k) ** (-1.0 / gamma)
    return np.where((excess > 0) & np.isfinite(c), c, np.nan)


def multiplier(base: dict, arm: dict, loss) -> np.ndarray:
    """M(L*) = C_base(L*) / C_arm(L*); > 1 means the arm reaches L* with less compute. NaN where either can't."""
    with np.errstate(invalid="ignore", divide="ignore"):  # NaN where either cannot reach L*
        return compute_for_loss(base, loss) / compute_for_loss(arm, loss)


def multiplier_with_ci(base_fit, arm_fit, loss, level: float = 0.95) -> dict[str, np.ndarray]:
    """M(L*) with a bootstrap percentile interval, pairing the i-th bootstrap fit of each arm (independent resamples).

    Returns arrays `loss`, `m`, `lo`, `hi` and `valid` (share of bootstrap pairs where both arms reach L*); the
    interval is NaN where fewer than half the pairs reach the loss."""
    target = np.atleast_1d(np.asarray(loss, dtype=np.float64))
    m = multiplier(base_fit.params, arm_fit.params, target)
    bb, ba = base_fit.boot_params(), arm_fit.boot_params()
    k = min(len(bb), len(ba))
    lo = np.full_like(target, np.nan)
    hi = np.full_like(target, np.nan)
    valid = np.zeros_like(target)
    if k:
        samples = np.array([multiplier(bb[i], ba[i], target) for i in range(k)])  # (k, T)
        finite = np.isfinite(samples)
        valid = finite.mean(axis=0)
        q = (1 - level) / 2
        for j in range(len(target)):
            col = samples[finite[:, j], j]
            if len(col) >= max(2, k / 2):
                lo[j], hi[j] = np.quantile(col, q), np.quantile(col, 1 - q)
    return {"loss": target, "m": m, "lo": lo, "hi": hi, "valid": valid}


def target_losses(fits: dict, observed_loss, num: int = 60) -> np.ndarray:
    """A grid of target losses for multiplier curves: from just above the highest fitted E (all arms can reach it)
    up to the highest observed loss."""
    e_max = max(f.params["E"] for f in fits.values())
    obs = np.asarray(observed_loss, dtype=np.float64)
    hi = float(np.nanmax(obs))
    lo = max(float(np.nanmin(obs)) * 0.98, e_max * 1.001)
    if not lo < hi:
        lo = e_max * 1.001
    if not lo < hi:
        return np.array([], dtype=np.float64)
    return np.linspace(lo, hi, num)
