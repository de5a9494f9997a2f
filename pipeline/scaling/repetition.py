"""Repeated data (Muennighoff et al. 2023, "Scaling Data-Constrained Language Models").

A run that trains on D tokens drawn from a pool of U unique tokens repeats it R = D/U - 1 times.  Repeated tokens
are worth less than fresh ones; the data-constrained law replaces D by the effective data

    D' = U + U R* (1 - exp(-R / R*))        for D > U  (R > 0),
    D' = D                                  for D <= U,

with R* the "half-life"-like constant of repetition (published fit: R*_D ~ 15.4).  D' -> U (1 + R*) as R grows,
so a pool can never be worth more than (1 + R*) of its unique tokens.  Only the data term is made
repetition-aware here (Muennighoff's parameter term N', for models larger than the data supports, is not used).

R* is parameterised as r = log R* so the fitter works on an unbounded-ish scale; `log_effective_tokens` also
returns d log D' / d r for the analytic gradient.
"""

from __future__ import annotations

import math

import numpy as np

RSTAR_PUBLISHED = 15.4           # Muennighoff et al. 2023, R_D*
EPOCH_WARN = 4.0                 # past ~4 epochs repeats are measurably worth less than fresh data
LOG_RSTAR_BOUNDS = (math.log(0.05), math.log(1e4))
LOG_RSTAR_GRID = tuple(math.log(x) for x in (1.0, 4.0, 15.4, 60.0, 500.0))


def log_effective_tokens(log_d: np.ndarray, unique: np.ndarray | None, log_rstar: float):
    """(log D', d log D' / d log R*) for log tokens `log_d` and pool sizes `unique` (NaN or None: unlimited).

    Points with D <= U (or no pool size) have D' = D and a zero derivative."""
    log_d = np.asarray(log_d, dtype=np.float64)
    if unique is None:
        return log_d, np.zeros_like(log_d)
    u = np.asarray(unique, dtype=np.float64)
    d = np.exp(log_d)
    with np.errstate(invalid="ignore", divide="ignore"):
        rep = np.where(np.isfinite(u) & (u > 0), d / u - 1.0, 0.0)
    rep = np.maximum(rep, 0.0)
    rs = math.exp(log_rstar)
    x = rep / rs
    ex = np.exp(-x)
    one_minus = -np.expm1(-x)
    safe_u = np.where(rep > 0, u, 1.0)
    d_eff = np.where(rep > 0, safe_u + safe_u * rs * one_minus, d)
    # d/dR* [R* (1 - e^{-R/R*})] = (1 - e^{-x}) - x e^{-x};  times dR*/dr = R*
    dd = np.where(rep > 0, safe_u * rs * (one_minus - x * ex), 0.0)
    return np.log(d_eff), dd / d_eff


def effective_tokens(tokens, unique, rstar: float | None) -> np.ndarray:
    """D' for tokens D, pool sizes U (NaN: unlimited) and R* (None: no repetition penalty, D' = D)."""
    d = np.asarray(tokens, dtype=np.float64)
    if rstar is None or unique is None:
        return d
    u = np.broadcast_to(np.asarray(unique, dtype=np.float64), d.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        rep = np.where(np.isfinite(u) & (u > 0), d / u - 1.0, 0.0)
    return np.where(rep > 0, u + u * rstar * -np.expm1(-np.maximum(rep, 0.0) / rstar), d)


def epochs(tokens, unique) -> np.ndarray:
    """Passes over the pool, D / U (NaN where the pool size is unknown)."""
    d = np.asarray(tokens, dtype=np.float64)
    if unique is None:
        return np.full_like(d, np.nan)
    u = np.asarray(unique, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.isfinite(u) & (u > 0), d / u, np.nan)


def over_epochs(points, limit: float = EPOCH_WARN) -> list[dict]:
    """Rows of a points table (columns arm, params, tokens, epochs, row) trained past `limit` epochs."""
    if "epochs" not in points:
        return []
    sel = points[points["epochs"] > limit]
    return [{"row": int(r.row), "arm": str(r.arm), "params": float(r.params), "tokens": float(r.tokens),
             "epochs": float(r.epochs)} for r in sel.itertuples()]
