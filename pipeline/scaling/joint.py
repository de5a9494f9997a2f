"""Joint Chinchilla fits across data arms, with parameters shared where the data cannot tell arms apart.

Model: arm k has L_k(N, D) = E_k + A_k / N^alpha_k + B_k / D'^beta_k, fitted in log space with the LSE
parameterisation of `pipeline.scaling.fit` (a = log A, b = log B, e = log E).  Any subset of {alpha, beta, E, A}
is shared (one value for all arms); B is always per arm.  D' is the effective data of
`pipeline.scaling.repetition` (D' = D when repetition is off or a run does not repeat), with R* fixed or fitted
(one R* for all arms: it describes how repeated tokens lose value, not the arm's quality).

Objective: least squares of the log residuals over all runs of all arms, i.e. the maximum-likelihood fit when
log L = log L_hat + Normal(0, sigma^2) per run, the seed noise that replicate runs measure (`pipeline.scaling.noise`).
(Per-arm Approach 3, `pipeline.scaling.fit`, keeps Chinchilla's Huber loss, to reproduce published fits; with
delta = 1e-3 it is nearly a least-absolute-deviation fit, which loses ~36% efficiency under Gaussian noise.)
Starts: with the shared coordinates fixed, the objective separates over arms, so the best point of the product
of the paper's grid over (shared values x each arm's own values) is found exactly from per-arm evaluations of the
4500-point grid; Levenberg-Marquardt (`pipeline.scaling.lm`) runs from the `top_k` best shared combinations.

Bootstrap, two methods:
- parametric (default): each replicate simulates every run from the fitted form with the measured noise (its
  sigma itself drawn from its sampling spread, `Noise.draw`) and refits from the full-data optimum;
- points: each replicate resamples the runs of every arm with replacement, keeping each arm's count.
95% intervals are percentile intervals of the replicates.  Assumptions: runs are independent given (arm, N, D)
and the fitted form describes them; the checks of `pipeline.scaling.validity` test the second (goodness of fit
against the noise floor, held-out budgets and sizes) and `pipeline.scaling.checks` refuses designs that cannot
determine the parameters.  The calibration of both methods is measured by `benchmarks/calibration.py`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pipeline.scaling import lm
from pipeline.scaling import noise as noise_model
from pipeline.scaling.fit import (
    BOUNDS, GRID_A, GRID_ALPHA, GRID_B, GRID_BETA, GRID_E, FitResult, _intervals, init_grid, objective,
    theta_to_params,
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


def predict_log(v, lay: FreeParams, pts: Points) -> np.ndarray:
    """Predicted log loss at every point."""
    return lm.predict(np.asarray(v, dtype=np.float64)[None], lay, pts)[0]


def grid_starts(lay: FreeParams, pts: Points, w=None, top_k: int = 8) -> list[np.ndarray]:
    """The `top_k` best starts (least squares) of the product grid (shared values x each arm's own values [x R*
    values])."""
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
            objs[ri, k] = objective(grid, pts.log_n[m], log_d[m], pts.log_l[m], None if w is None else w[m],
                                    math.inf)
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


def refit(starts, lay: FreeParams, pts: Points, w=None):
    """Best least-squares optimum over `starts` (batched Levenberg-Marquardt): (vector, cost, converged)."""
    return lm.best_of(starts, lay, pts, w)


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
    method: str = "points"                # bootstrap: parametric (simulated runs) | points (resampled runs)
    noise: noise_model.Noise | None = None
    boot_y: np.ndarray | None = None      # (B, n) simulated log losses of the parametric replicates
    boot_w: np.ndarray | None = None      # (B, n) point multiplicities of the resampling replicates

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


BOOTSTRAP_METHODS = ("parametric", "points")
CHUNK = 250   # replicates per LM batch (memory: CHUNK x points x free parameters doubles)


def fit_joint(arms: list[str], pts: Points, *, share=DEFAULT_SHARE, rstar_mode: str = "off",
              rstar: float = RSTAR_PUBLISHED, bootstrap: int = 1000, seed: int = 0, top_k: int = 8,
              method: str = "parametric", progress: bool = True, extra_starts: list | None = None) -> JointFit:
    """Fit all arms jointly (see the module docstring).  `pts.arm` indexes `arms`; `rstar_mode` is off (D' = D),
    fixed (`pts.log_deff` holds D' at the fixed R*) or fit.  `method`: parametric (simulate every run from the
    fitted form with the measured noise, `pipeline.scaling.noise`) or points (resample runs within each arm);
    `extra_starts`: more starting vectors (e.g. a nested model's optimum, see `convert`)."""
    if method not in BOOTSTRAP_METHODS:
        raise ValueError(f"bootstrap method must be one of {', '.join(BOOTSTRAP_METHODS)}, got {method!r}")
    lay = make_layout(arms, share, rstar_mode == "fit")
    starts = grid_starts(lay, pts, None, top_k) + list(extra_starts or [])
    v, cost, ok = refit(starts, lay, pts)
    pred = predict_log(v, lay, pts)
    resid = pred - pts.log_l
    noise = noise_model.estimate(lay, pts, resid)
    boots = boot_y = boot_w = None
    if bootstrap > 0 and not (method == "parametric" and not np.isfinite(noise.sigma)):
        rng = np.random.default_rng(seed)
        n = len(pts.log_l)
        if method == "parametric":
            boot_y = pred + noise.draw(rng, bootstrap, pts.arm) * rng.standard_normal((bootstrap, n))
        else:
            boot_w = np.stack([stratified_weights(rng, pts.arm, len(arms)) for _ in range(bootstrap)])
        boots = np.full((bootstrap, lay.n_free), np.nan)
        ticker = Ticker("bootstrap replicates", bootstrap) if progress else None
        for i in range(0, bootstrap, CHUNK):
            j = min(bootstrap, i + CHUNK)
            V, c, _ = lm.solve(lay, pts, Y=None if boot_y is None else boot_y[i:j],
                               W=None if boot_w is None else boot_w[i:j], V0=v)
            V[~np.isfinite(c)] = np.nan
            boots[i:j] = V
            if ticker:
                ticker.tick(j)
    r2 = resid * resid
    fit = JointFit(layout=lay, vector=v, objective=cost, converged=ok,
                   n_points={a: int((pts.arm == k).sum()) for k, a in enumerate(arms)},
                   arm_objective={a: float(0.5 * r2[pts.arm == k].sum()) for k, a in enumerate(arms)},
                   rstar_mode=rstar_mode, rstar=None if rstar_mode == "off" else rstar, boot=boots,
                   method=method, noise=noise, boot_y=boot_y, boot_w=boot_w)
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
