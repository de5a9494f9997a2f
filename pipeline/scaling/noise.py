"""Run-to-run noise of the losses: the floor measured from replicate seeds, and the noise the intervals use.

Losses are modelled as log L = log L_hat(N, D) + eps, eps ~ Normal(0, sigma^2) independent per run (a run: one
(arm, N, D, seed) point).  Two estimates of sigma, both in log-loss units (~ relative loss):

- the **noise floor** (pure error): the spread of runs that differ only in their seed, pooled over the cells
  (arm, N, D) that have more than one, with sum(runs - 1) degrees of freedom.  It needs replicate seeds and does
  not depend on the fitted form.
- the **residual noise**: the residual sum of squares of the fit over n - p degrees of freedom (p free parameters).
  When the form describes the runs it estimates the same sigma with more degrees of freedom; when it does not, it
  also holds the lack of fit (the goodness-of-fit check in `pipeline.scaling.validity` compares the two).

The parametric bootstrap simulates every run with the residual noise, pooled over arms unless Bartlett's test says
the arms' residual variances differ (p < 0.01; then each arm its own sigma, with its share of the degrees of
freedom).  Each replicate draws its sigma from sigma_hat^2 nu / chi2_nu (the spread of the estimate itself), so
few degrees of freedom widen the intervals instead of making them overconfident.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

BARTLETT_ALPHA = 0.01


def cell_ids(pts) -> np.ndarray:
    """Index of each run's cell (arm, N, D): runs in one cell differ only in their seed."""
    key = np.stack([pts.arm.astype(np.float64), np.round(pts.log_n, 9), np.round(pts.log_d, 9)], axis=1)
    _, inv = np.unique(key, axis=0, return_inverse=True)
    return inv.ravel()


def pure_error(log_l: np.ndarray, cells: np.ndarray, arm: np.ndarray, n_arms: int):
    """(SS, df) of the runs around their cell means: pooled, and per arm (arrays of n_arms).  `log_l` may be (B, n)
    (replicates): SS then has shape (B,) and (B, n_arms)."""
    y = np.atleast_2d(log_l)
    n_cells = int(cells.max()) + 1
    counts = np.bincount(cells, minlength=n_cells).astype(np.float64)
    sums = np.stack([np.bincount(cells, weights=row, minlength=n_cells) for row in y])
    means = sums / np.maximum(counts, 1.0)
    dev2 = (y - means[:, cells]) ** 2
    ss_arm = np.stack([np.bincount(arm, weights=row, minlength=n_arms) for row in dev2])
    cell_arm = np.zeros(n_cells, dtype=np.int64)
    cell_arm[cells] = arm
    df_arm = np.bincount(cell_arm, weights=np.maximum(counts - 1.0, 0.0), minlength=n_arms)
    ss = ss_arm.sum(axis=1)
    if np.ndim(log_l) == 1:
        return float(ss[0]), float(df_arm.sum()), ss_arm[0], df_arm
    return ss, float(df_arm.sum()), ss_arm, df_arm


def effective_params(lay, pts) -> np.ndarray:
    """Free parameters charged to each arm: its own, plus the shared ones in proportion to its runs."""
    k = len(lay.arms)
    counts = np.bincount(pts.arm, minlength=k).astype(np.float64)
    shared = lay.n_free - sum(1 for name in lay.names if "[" in name)
    own = np.array([sum(1 for name in lay.names if name.endswith(f"[{a}]")) for a in lay.arms], dtype=np.float64)
    return own + shared * counts / counts.sum()


def bartlett(ss: np.ndarray, df: np.ndarray) -> float:
    """p-value of Bartlett's test that variances ss/df (one per group) are equal (groups with df < 1 skipped)."""
    ok = df >= 1
    if ok.sum() < 2:
        return 1.0
    ss, df = ss[ok], df[ok]
    s2 = np.maximum(ss / df, 1e-300)
    N = df.sum()
    sp = max(ss.sum() / N, 1e-300)
    stat = (N * math.log(sp) - np.sum(df * np.log(s2))) / (1 + (np.sum(1 / df) - 1 / N) / (3 * (len(df) - 1)))
    return float(stats.chi2.sf(stat, len(df) - 1))


@dataclass
class Noise:
    """The noise a fit's intervals use, and the measured floor (log-loss units)."""

    sigma: float                 # pooled residual sigma
    df: float                    # its degrees of freedom (n - p)
    arm_sigma: np.ndarray        # per arm residual sigma
    arm_df: np.ndarray
    per_arm: bool                # the bootstrap uses arm_sigma (Bartlett rejected equal variances)
    bartlett_p: float
    floor: float | None          # pooled pure-error sigma (None: no replicate seeds)
    floor_df: float
    arm_floor: np.ndarray        # per arm pure-error sigma (NaN where an arm has no replicates)
    arm_floor_df: np.ndarray
    replicated_cells: int        # cells with more than one seed

    def draw(self, rng: np.random.Generator, B: int, arm: np.ndarray) -> np.ndarray:
        """Per-replicate, per-run sigma (B, n): sigma_hat^2 nu / chi2_nu, pooled or per arm."""
        if self.per_arm:
            df = np.maximum(self.arm_df, 1.0)
            s = self.arm_sigma[None, :] * np.sqrt(df[None, :] / rng.chisquare(df[None, :], (B, len(df))))
            return s[:, arm]
        s = self.sigma * np.sqrt(max(self.df, 1.0) / rng.chisquare(max(self.df, 1.0), B))
        return np.broadcast_to(s[:, None], (B, len(arm)))

    def to_json(self, arms) -> dict:
        def f(x):
            return None if x is None or not np.isfinite(x) else float(x)

        return {"sigma": f(self.sigma), "df": f(self.df), "per_arm": self.per_arm, "bartlett_p": f(self.bartlett_p),
                "floor": f(self.floor), "floor_df": f(self.floor_df), "replicated_cells": self.replicated_cells,
                "arms": {a: {"sigma": f(self.arm_sigma[k]), "df": f(self.arm_df[k]), "floor": f(self.arm_floor[k]),
                             "floor_df": f(self.arm_floor_df[k])} for k, a in enumerate(arms)}}


def estimate(lay, pts, resid: np.ndarray, w: np.ndarray | None = None) -> Noise:
    """The noise model from a fit's log residuals (pred - observed) over the points with weight > 0."""
    keep = np.ones(len(resid), dtype=bool) if w is None else np.asarray(w) > 0
    k = len(lay.arms)
    arm = pts.arm[keep]
    r = resid[keep]
    n_arm = np.bincount(arm, minlength=k).astype(np.float64)
    rss_arm = np.bincount(arm, weights=r * r, minlength=k)
    p_arm = effective_params(lay, pts.subset(keep))
    df_arm = np.maximum(n_arm - p_arm, 0.0)
    df = max(float(len(r) - lay.n_free), 0.0)
    sigma = math.sqrt(rss_arm.sum() / df) if df > 0 else math.nan
    with np.errstate(divide="ignore", invalid="ignore"):
        arm_sigma = np.where(df_arm > 0, np.sqrt(rss_arm / np.where(df_arm > 0, df_arm, 1.0)), np.nan)
    bp = bartlett(rss_arm, df_arm)
    cells = cell_ids(pts.subset(keep))
    ss, fdf, ss_arm, fdf_arm = pure_error(pts.log_l[keep], cells, arm, k)
    with np.errstate(divide="ignore", invalid="ignore"):
        arm_floor = np.where(fdf_arm > 0, np.sqrt(ss_arm / np.where(fdf_arm > 0, fdf_arm, 1.0)), np.nan)
    counts = np.bincount(cells)
    return Noise(sigma=sigma, df=df, arm_sigma=arm_sigma, arm_df=df_arm,
                 per_arm=bool(bp < BARTLETT_ALPHA and np.all(df_arm >= 1)), bartlett_p=bp,
                 floor=math.sqrt(ss / fdf) if fdf > 0 else None, floor_df=fdf, arm_floor=arm_floor,
                 arm_floor_df=fdf_arm, replicated_cells=int((counts > 1).sum()))
