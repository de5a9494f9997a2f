"""Joint Chinchilla fits across data arms, with parameters shared where the data cannot tell arms apart.

Over 400 lines: the joint model, its parameter layout, the fit and its bootstrap share one parameter vector
and are read together.

Model: arm k has L_k(N, D) = E_k + A_k / N^alpha_k + B_k / D'^beta_k, fitted in log space with the LSE
parameterisation of `pipeline.scaling.fit` (a = log A, b = log B, e = log E).  Any subset of {alpha, beta, E}
is shared (one value for all arms); A and B are always per arm.  D' is the effective data of
`pipeline.scaling.repetition` (D' = D when repetition is off or a run does not repeat), with R* fixed or fitted
(one R* for all arms: it describes how repeated tokens lose value, not the arm's quality).

Objective: the SUM over all points of all arms of Huber_1e-3(log L_hat - log L), as for per-arm Approach 3.
Starts: with the shared coordinates fixed, the objective separates over arms, so the best point of the product
of the paper's grid over (shared values x each arm's own values) is found exactly from per-arm evaluations of the
4500-point grid; L-BFGS-B runs from the `top_k` best shared combinations (each with every arm's best own values).

Bootstrap (stratified): each replicate resamples the points of every arm with replacement, keeping each arm's
count, so arms keep their designs; it refits from the full-data optimum (plus `boot_grid` grid starts if asked: on
synthetic checks they changed no interval and cost 4x).
95% intervals are percentile intervals of the replicates.  Assumptions: runs are independent given (arm, N, D),
and the bootstrap distribution of the estimator approximates its sampling distribution (it does not cover model
misspecification; too few points or a design that cannot separate E from the power laws make it unreliable, which
`pipeline.scaling.checks` refuses or warns about).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from pipeline.scaling.fit import (
    BOUNDS, GRID_A, GRID_ALPHA, GRID_B, GRID_BETA, GRID_E, HUBER_DELTA, FitResult, _huber,
    _intervals, init_grid, objective, single_thread_blas, theta_to_params,
)
from pipeline.scaling.repetition import LOG_RSTAR_BOUNDS, LOG_RSTAR_GRID, RSTAR_PUBLISHED, log_effective_tokens
from pipeline.scaling.ticker import Ticker

SHAREABLE = {"A": 0, "E": 2, "alpha": 3, "beta": 4}  # name -> theta coordinate (a, b, e, alpha, beta)
COORD_NAMES = ("A", "B", "E", "alpha", "beta")       # display name of each theta coordinate
DEFAULT_SHARE = ("alpha", "beta", "E")
GRIDS = (GRID_A, GRID_B, GRID_E, GRID_ALPHA, GRID_BETA)


def parse_share(share) -> tuple[str, ...]:
    """`None` -> the default (alpha, beta, E); "none"/""/[] -> nothing shared; else names from {alpha, beta, E, A}
    (a comma-separated string or a list, case-insensitive for E and A). B is always per arm: it carries the data
    multiplier. Sharing A says data quality changes only the data term, which is what a data ablation varies and
    what keeps the N term identifiable when the sizes differ little."""
    if share is None:
        return DEFAULT_SHARE
    items = share.split(",") if isinstance(share, str) else list(share)
    items = [str(s).strip() for s in items if str(s).strip()]
    if [s.lower() for s in items] in ([], ["none"]):
        return ()
    out = []
    for s in items:
        name = {"e": "E", "a": "A", "alpha": "alpha", "beta": "beta"}.get(s.lower())
        if name is None:
            raise ValueError(f"--share: unknown parameter {s!r}; share any of alpha, beta, E, A (or none); "
                             "B is always per arm")
        if name not in out:
            out.append(name)
    return tuple(n for n in ("alpha", "beta", "E", "A") if n in out)


@dataclass
class FreeParams:
    """Where each arm's theta coordinates live in the free-parameter vector."""

    arms: tuple[str, ...]
    share: tuple[str, ...]
    fit_rstar: bool
    idx: np.ndarray            # (K, 5) vector position of arm k's coordinate c
    names: list[str]           # display name of each vector position
    bounds: list[tuple[float, float]]

    @property
    def n_free(self) -> int:
        return len(self.names)

    @property
    def r_pos(self) -> int:
        return self.n_free - 1 if self.fit_rstar else -1


def make_layout(arms, share, fit_rstar: bool = False) -> FreeParams:
    arms = tuple(arms)
    shared = sorted(SHAREABLE[s] for s in share)
    idx = np.zeros((len(arms), 5), dtype=np.int64)
    names, bounds = [], []
    for c in shared:
        idx[:, c] = len(names)
        names.append(COORD_NAMES[c])
        bounds.append(BOUNDS[c])
    for k, arm in enumerate(arms):
        for c in range(5):
            if c not in shared:
                idx[k, c] = len(names)
                names.append(f"{COORD_NAMES[c]}[{arm}]")
                bounds.append(BOUNDS[c])
    if fit_rstar:
        names.append("R*")
        bounds.append(LOG_RSTAR_BOUNDS)
    return FreeParams(arms, tuple(share), fit_rstar, idx, names, bounds)


@dataclass
class Points:
    """Points of all arms: arm index, log N, log D, log L, pool sizes (NaN: unlimited; None: no column) and the
    log effective data at a fixed R* (equal to log D when repetition is off)."""

    arm: np.ndarray
    log_n: np.ndarray
    log_d: np.ndarray
    log_l: np.ndarray
    unique: np.ndarray | None
    log_deff: np.ndarray

    def subset(self, mask) -> "Points":
        return Points(self.arm[mask], self.log_n[mask], self.log_d[mask], self.log_l[mask],
                      None if self.unique is None else self.unique[mask], self.log_deff[mask])


def make_points(arm_idx, params, tokens, loss, unique=None, rstar: float | None = None) -> Points:
    log_d = np.log(np.asarray(tokens, dtype=np.float64))
    u = None if unique is None else np.asarray(unique, dtype=np.float64)
    log_deff = log_d if rstar is None or u is None else log_effective_tokens(log_d, u, math.log(rstar))[0]
    return Points(np.asarray(arm_idx, dtype=np.int64), np.log(np.asarray(params, dtype=np.float64)), log_d,
                  np.log(np.asarray(loss, dtype=np.float64)), u, log_deff)


def _log_d(v, lay: FreeParams, pts: Points):
    if lay.fit_rstar:
        return log_effective_tokens(pts.log_d, pts.unique, v[lay.r_pos])
    return pts.log_deff, None


def predict_log(v, lay: FreeParams, pts: Points) -> np.ndarray:
    """Predicted log loss at every point."""
    p = np.asarray(v)[lay.idx][pts.arm]
    log_d, _ = _log_d(v, lay, pts)
    t = np.stack([p[:, 0] - p[:, 3] * pts.log_n, p[:, 1] - p[:, 4] * log_d, p[:, 2]])
    m = t.max(axis=0)
    return m + np.log(np.exp(t - m).sum(axis=0))


def make_objective(lay: FreeParams, pts: Points, w=None, delta: float = HUBER_DELTA):
    """f(v) -> (summed Huber loss of the log residuals over all arms, analytic gradient), with the index arrays
    precomputed (L-BFGS calls it a few hundred times per fit: the Huber loss with delta = 1e-3 is nearly L1)."""
    ip = lay.idx[pts.arm]
    flat = ip.ravel()
    ia, ib, ie, ial, ibe = (np.ascontiguousarray(ip[:, c]) for c in range(5))
    log_n, log_l, log_deff = pts.log_n, pts.log_l, pts.log_deff
    n_free, r_pos, fit_r = lay.n_free, lay.r_pos, lay.fit_rstar
    per_point = np.empty((len(log_n), 5))
    w = None if w is None else np.asarray(w, dtype=np.float64)
    if fit_r:  # only the runs past one epoch depend on R*: precompute them
        d = np.exp(pts.log_d)
        u = np.asarray(pts.unique, dtype=np.float64)
        rep_idx = np.flatnonzero(np.isfinite(u) & (u > 0) & (d > u))
        u_rep = u[rep_idx]
        r_rep = d[rep_idx] / u_rep - 1.0
        log_d_buf = pts.log_d.copy()
        dld = np.zeros(len(log_n))

    def f(v):
        alpha, beta = v[ial], v[ibe]
        if fit_r:
            rs = math.exp(v[r_pos])
            x = r_rep / rs
            ex = np.exp(-x)
            one_minus = 1.0 - ex
            d_eff = u_rep * (1.0 + rs * one_minus)
            log_d_buf[rep_idx] = np.log(d_eff)
            dld[rep_idx] = u_rep * rs * (one_minus - x * ex) / d_eff
            log_d = log_d_buf
        else:
            log_d = log_deff
        t1 = v[ia] - alpha * log_n
        t2 = v[ib] - beta * log_d
        e = v[ie]
        m = np.maximum(np.maximum(t1, t2), e)
        x1, x2, x3 = np.exp(t1 - m), np.exp(t2 - m), np.exp(e - m)
        s = x1 + x2 + x3
        r = m + np.log(s) - log_l
        c = np.clip(r, -delta, delta)          # Huber: h = c (r - c/2), dh/dr = c
        h = c * (r - 0.5 * c)
        dh = c / s
        if w is not None:
            h, dh = h * w, dh * w
        g1, g2 = dh * x1, dh * x2
        per_point[:, 0] = g1
        per_point[:, 1] = g2
        per_point[:, 2] = dh * x3
        per_point[:, 3] = -g1 * log_n
        per_point[:, 4] = -g2 * log_d
        grad = np.bincount(flat, weights=per_point.ravel(), minlength=n_free)
        if fit_r:
            grad[r_pos] = float(np.dot(-g2 * beta, dld))
        return float(h.sum()), grad

    return f


def objective_and_grad(v, lay: FreeParams, pts: Points, w=None, delta: float = HUBER_DELTA):
    """Summed Huber loss of the log residuals over all arms and its analytic gradient."""
    return make_objective(lay, pts, w, delta)(np.asarray(v, dtype=np.float64))


def grid_starts(lay: FreeParams, pts: Points, w=None, delta: float = HUBER_DELTA, top_k: int = 8) -> list[np.ndarray]:
    """The `top_k` best starts of the product grid (shared values x each arm's own values [x R* values])."""
    grid = init_grid()
    shared = [SHAREABLE[s] for s in sorted(lay.share, key=lambda s: SHAREABLE[s])]
    own = [c for c in range(5) if c not in shared]
    r_vals = LOG_RSTAR_GRID if lay.fit_rstar else (None,)
    k_arms = len(lay.arms)
    objs = np.empty((len(r_vals), k_arms, len(grid)))
    for ri, r in enumerate(r_vals):
        log_d = pts.log_deff if r is None else log_effective_tokens(pts.log_d, pts.unique, r)[0]
        for k in range(k_arms):
            m = pts.arm == k
            objs[ri, k] = objective(grid, pts.log_n[m], log_d[m], pts.log_l[m], None if w is None else w[m], delta)
    sizes = [len(g) for g in GRIDS]
    n_s = int(np.prod([sizes[c] for c in shared])) if shared else 1
    o = objs.reshape(len(r_vals), k_arms, *sizes).transpose(0, 1, *(2 + c for c in shared), *(2 + c for c in own))
    o = o.reshape(len(r_vals), k_arms, n_s, -1)
    total = o.min(axis=3).sum(axis=1)                         # (R, n_s)
    order = np.argsort(total.ravel(), kind="stable")

    def start(ri, si, rank=0):
        v = np.zeros(lay.n_free)
        if shared:
            for c, j in zip(shared, np.unravel_index(si, [sizes[c] for c in shared])):
                v[lay.idx[0, c]] = GRIDS[c][j]
        for k in range(k_arms):
            flat = np.argsort(o[ri, k, si], kind="stable")[rank]
            for c, j in zip(own, np.unravel_index(flat, [sizes[c] for c in own])):
                v[lay.idx[k, c]] = GRIDS[c][j]
        if lay.fit_rstar:
            v[lay.r_pos] = r_vals[ri]
        return v

    starts = [start(*divmod(int(f), n_s)) for f in order[:top_k]]
    ri0, si0 = divmod(int(order[0]), n_s)
    rank = 1
    while len(starts) < top_k and rank < o.shape[3]:   # few shared combinations: add each arm's next-best values
        starts.append(start(ri0, si0, rank))
        rank += 1
    return starts


def _clip(v, lay):
    lo, hi = np.array(lay.bounds).T
    return np.clip(v, lo, hi)


def refit(starts, lay: FreeParams, pts: Points, w=None, delta: float = HUBER_DELTA):
    """Best L-BFGS-B optimum over `starts`: (vector, objective, converged)."""
    best = None
    fun = make_objective(lay, pts, w, delta)
    for s in starts:
        res = minimize(fun, _clip(np.asarray(s, dtype=np.float64), lay), jac=True, method="L-BFGS-B", bounds=lay.bounds,
                       options={"maxiter": 2000, "ftol": 1e-15, "gtol": 1e-12})
        if best is None or res.fun < best.fun:
            best = res
    return best.x, float(best.fun), bool(best.success)


@dataclass
class JointFit:
    """A fit of all arms: the free-parameter vector, the bootstrap replicates (rows of vectors; a replicate
    fits all arms at once, so row i of every arm comes from the same resample), and R*."""

    layout: FreeParams
    vector: np.ndarray
    objective: float
    converged: bool
    n_points: dict[str, int]
    arm_objective: dict[str, float]
    rstar_mode: str                       # off | fixed | fit
    rstar: float | None                   # the fixed or fitted R* (None: off)
    boot: np.ndarray | None = None        # (B, n_free), NaN rows: failed replicates
    boot_rstar: np.ndarray | None = None  # (B,) R* of each replicate (fitted, or the fixed value)
    warnings: list[str] = field(default_factory=list)
    arm_warnings: dict[str, list[str]] = field(default_factory=dict)
    per_arm_results: dict[str, FitResult] | None = None  # set when fitted arm by arm (fit_chinchilla)

    @property
    def arms(self) -> tuple[str, ...]:
        return self.layout.arms

    def theta(self, arm: str, v=None) -> np.ndarray:
        k = self.layout.arms.index(arm)
        return np.asarray(self.vector if v is None else v)[self.layout.idx[k]]

    def params(self, arm: str) -> dict[str, float]:
        return theta_to_params(self.theta(arm))

    def boot_thetas(self, arm: str) -> np.ndarray | None:
        if self.boot is None:
            return None
        return self.boot[:, self.layout.idx[self.layout.arms.index(arm)]]

    def n_boot(self) -> int:
        return 0 if self.boot is None else int(np.isfinite(self.boot).all(axis=1).sum())

    def arm_fit(self, arm: str) -> FitResult:
        """This arm's fit as a FitResult (parameters, 95% intervals, bootstrap rows)."""
        if self.per_arm_results is not None:
            return self.per_arm_results[arm]
        bt = self.boot_thetas(arm)
        th = self.theta(arm)
        res = FitResult(params=theta_to_params(th), theta=[float(x) for x in th],
                        objective=self.arm_objective[arm], n_points=self.n_points[arm], converged=self.converged,
                        bootstrap=bt, warnings=list(self.arm_warnings.get(arm, [])))
        if bt is not None:
            res.intervals = _intervals(bt)
        return res

    def data_multiplier(self, arm: str, baseline: str, level: float = 0.95) -> dict | None:
        """(B_base / B_arm)^(1/beta) with its percentile interval; None unless beta is shared."""
        if "beta" not in self.layout.share:
            return None

        def k(th_arm, th_base):
            with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
                return np.exp((th_base[..., 1] - th_arm[..., 1]) / th_arm[..., 4])

        out = {"value": float(k(self.theta(arm), self.theta(baseline))), "ci_low": None, "ci_high": None}
        if self.boot is not None:
            s = k(self.boot_thetas(arm), self.boot_thetas(baseline))
            s = s[~np.isnan(s)]   # failed replicates; +-inf (beta -> 0) are kept: they open the interval
            if len(s) >= 2:
                q = (1 - level) / 2
                method = "linear" if np.all(np.isfinite(s)) else "inverted_cdf"
                out["ci_low"], out["ci_high"] = (float(np.quantile(s, x, method=method)) for x in (q, 1 - q))
            out["samples"] = s
        return out

    def rstar_interval(self, level: float = 0.95) -> tuple[float | None, float | None]:
        if self.rstar_mode != "fit" or self.boot_rstar is None:
            return None, None
        s = self.boot_rstar[np.isfinite(self.boot_rstar)]
        q = (1 - level) / 2
        return (float(np.quantile(s, q)), float(np.quantile(s, 1 - q))) if len(s) >= 2 else (None, None)


def stratified_weights(rng: np.random.Generator, arm_idx: np.ndarray, n_arms: int) -> np.ndarray:
    """Bootstrap multiplicities: each arm's points resampled with replacement, the arm's count kept."""
    w = np.zeros(len(arm_idx))
    for k in range(n_arms):
        members = np.flatnonzero(arm_idx == k)
        w += np.bincount(members[rng.integers(0, len(members), len(members))], minlength=len(arm_idx))
    return w


def fit_joint(arms: list[str], pts: Points, *, share=DEFAULT_SHARE, rstar_mode: str = "off",
              rstar: float = RSTAR_PUBLISHED, bootstrap: int = 1000, seed: int = 0, top_k: int = 8,
              boot_grid: int = 0, delta: float = HUBER_DELTA, progress: bool = True,
              extra_starts: list | None = None) -> JointFit:
    """Fit all arms jointly (see the module docstring).  `pts.arm` indexes `arms`; `rstar_mode` is off (D' = D),
    fixed (`pts.log_deff` holds D' at the fixed R*) or fit.  `boot_grid`: grid starts per replicate besides the
    full-data optimum; `extra_starts`: more starting vectors (e.g. a nested model's optimum, see `convert`)."""
    lay = make_layout(arms, share, rstar_mode == "fit")
    with single_thread_blas():
        starts = grid_starts(lay, pts, None, delta, top_k) + list(extra_starts or [])
        v, fun, ok = refit(starts, lay, pts, None, delta)
        boots = None
        if bootstrap > 0:
            rng = np.random.default_rng(seed)
            boots = np.full((bootstrap, lay.n_free), np.nan)
            ticker = Ticker("bootstrap replicates", bootstrap) if progress else None
            for i in range(bootstrap):
                w = stratified_weights(rng, pts.arm, len(arms))
                starts = [v] + (grid_starts(lay, pts, w, delta, boot_grid) if boot_grid > 0 else [])
                bv, _, _ = refit(starts, lay, pts, w, delta)
                boots[i] = bv
                if ticker:
                    ticker.tick(i + 1)
    resid = predict_log(v, lay, pts) - pts.log_l
    h = _huber(resid, delta)
    fit = JointFit(layout=lay, vector=v, objective=fun, converged=ok,
                   n_points={a: int((pts.arm == k).sum()) for k, a in enumerate(arms)},
                   arm_objective={a: float(h[pts.arm == k].sum()) for k, a in enumerate(arms)},
                   rstar_mode=rstar_mode, rstar=None if rstar_mode == "off" else rstar, boot=boots)
    if rstar_mode == "fit":
        fit.rstar = math.exp(v[lay.r_pos])
        if boots is not None:
            fit.boot_rstar = np.exp(boots[:, lay.r_pos])
    elif boots is not None and rstar_mode == "fixed":
        fit.boot_rstar = np.full(bootstrap, rstar)
    return fit


def convert(fit: JointFit, lay: FreeParams) -> np.ndarray:
    """`fit`'s parameters as a vector of another layout of the same arms: per-arm values copied, shared ones
    averaged over arms (a start for the other model: the free model started at the shared optimum can only
    improve on it)."""
    v = np.zeros(lay.n_free)
    counts = np.zeros(lay.n_free)
    for k, a in enumerate(lay.arms):
        th = fit.theta(a)
        np.add.at(v, lay.idx[k], th)
        np.add.at(counts, lay.idx[k], 1.0)
    v = v / np.maximum(counts, 1.0)
    if lay.fit_rstar:
        v[lay.r_pos] = math.log(fit.rstar) if fit.rstar else math.log(RSTAR_PUBLISHED)
    return v
