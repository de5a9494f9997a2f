"""Chinchilla Approach 3 fits of L(N, D) = E + A/N^alpha + B/D^beta (Hoffmann et al. 2022, App. D.2).

The fit is done in log space with the log-sum-exp parameterisation theta = (a, b, e, alpha, beta),
a = log A, b = log B, e = log E:

    log L_hat = LSE(a - alpha log N, b - beta log D, e)

and minimises the SUM over points of Huber_delta(log L_hat - log L), delta = 1e-3, with L-BFGS-B (scipy) and an
analytic gradient.  Starts: the full 4500-point grid of the paper is evaluated in one vectorised numpy pass and
L-BFGS runs from the best `top_k` starts; the best optimum is kept.  Bootstrap CIs resample points with replacement
(seeded); each replicate starts from the full-data optimum and the replicate's own best grid starts.
"""

from __future__ import annotations

import contextlib
import ctypes
import itertools
import math
from dataclasses import asdict, dataclass, field

import numpy as np
from scipy.optimize import minimize

HUBER_DELTA = 1e-3
PARAM_NAMES = ("E", "A", "B", "alpha", "beta")
# theta order used everywhere in this module: (a, b, e, alpha, beta)
GRID_ALPHA = (0.0, 0.5, 1.0, 1.5, 2.0)
GRID_BETA = (0.0, 0.5, 1.0, 1.5, 2.0)
GRID_E = (-1.0, -0.5, 0.0, 0.5, 1.0)
GRID_A = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)
GRID_B = (0.0, 5.0, 10.0, 15.0, 20.0, 25.0)
# Loose L-BFGS-B box; an optimum on it is reported as ill-conditioned.
BOUNDS = ((-20.0, 60.0), (-20.0, 60.0), (-20.0, 10.0), (0.0, 5.0), (0.0, 5.0))
MIN_POINTS_MARGIN = 3  # warn below 5 parameters + this many points
MIN_SPAN = 4.0  # sizes and budgets should span at least this much (largest / smallest)


def is_narrow(span: float) -> bool:
    """A range of sizes or budgets narrower than `MIN_SPAN` (with slack: budgets are rounded up to whole batches)."""
    return span < MIN_SPAN - 0.05


def init_grid() -> np.ndarray:
    """The paper's initialisation grid as an array (4500, 5) in theta order (a, b, e, alpha, beta)."""
    rows = itertools.product(GRID_A, GRID_B, GRID_E, GRID_ALPHA, GRID_BETA)
    return np.array(list(rows), dtype=np.float64)


def _terms(theta: np.ndarray, log_n: np.ndarray, log_d: np.ndarray) -> np.ndarray:
    """Stacked LSE arguments, shape (..., 3, n) for theta of shape (..., 5)."""
    a, b, e, alpha, beta = (theta[..., i, None] for i in range(5))
    t1 = a - alpha * log_n
    t2 = b - beta * log_d
    t3 = np.broadcast_to(e, t1.shape)
    return np.stack([t1, t2, t3], axis=-2)


def _huber(r: np.ndarray, delta: float) -> np.ndarray:
    ar = np.abs(r)
    return np.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta))


def objective(theta: np.ndarray, log_n, log_d, log_l, weights=None, delta: float = HUBER_DELTA) -> np.ndarray:
    """Summed Huber loss of the log-space residuals; theta (..., 5) -> (...,). Vectorised over leading axes.

    `weights` (n,) are per-point multiplicities (a bootstrap resample is a weighting of the original points)."""
    t = _terms(np.asarray(theta, dtype=np.float64), log_n, log_d)
    m = t.max(axis=-2, keepdims=True)
    pred = (m + np.log(np.exp(t - m).sum(axis=-2, keepdims=True)))[..., 0, :]
    h = _huber(pred - log_l, delta)
    if weights is not None:
        h = h * weights
    return h.sum(axis=-1)


def objective_and_grad(theta: np.ndarray, log_n, log_d, log_l, weights=None, delta: float = HUBER_DELTA):
    """Objective and its analytic gradient for one theta (5,) (written out for speed: L-BFGS calls it ~100x)."""
    a, b, e, alpha, beta = theta
    t1 = a - alpha * log_n
    t2 = b - beta * log_d
    m = np.maximum(np.maximum(t1, t2), e)
    x1, x2, x3 = np.exp(t1 - m), np.exp(t2 - m), np.exp(e - m)
    s = x1 + x2 + x3
    r = m + np.log(s) - log_l
    h = _huber(r, delta)
    dh = np.clip(r, -delta, delta) / s  # dHuber/dr times the softmax normaliser
    if weights is not None:
        h = h * weights
        dh = dh * weights
    g1, g2 = dh * x1, dh * x2
    grad = np.array([g1.sum(), g2.sum(), (dh * x3).sum(), -(g1 * log_n).sum(), -(g2 * log_d).sum()])
    return float(h.sum()), grad


@contextlib.contextmanager
def single_thread_blas():
    """Run with OpenBLAS limited to one thread (scipy's L-BFGS-B on 5 parameters is ~20x slower when OpenBLAS
    spreads its tiny BLAS calls over threads on a loaded machine).  Linux/OpenBLAS only; a no-op elsewhere."""
    libs = []
    try:
        with open("/proc/self/maps") as fh:
            paths = {ln.split()[-1] for ln in fh if "openblas" in ln.lower() and ".so" in ln.split()[-1]}
        for path in sorted(paths):
            lib = ctypes.CDLL(path)
            for suffix in ("64_", "_64_", "", "_"):
                get = getattr(lib, f"scipy_openblas_get_num_threads{suffix}", None) or \
                    getattr(lib, f"openblas_get_num_threads{suffix}", None)
                put = getattr(lib, f"scipy_openblas_set_num_threads{suffix}", None) or \
                    getattr(lib, f"openblas_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    libs.append((get, put, int(get())))
                    put(ctypes.c_int(1))
                    break
    except (OSError, ValueError):
        pass
    try:
        yield
    finally:
        for _, put, n in libs:
            put(ctypes.c_int(n))


def theta_to_params(theta) -> dict[str, float]:
    a, b, e, alpha, beta = (float(x) for x in theta)
    return {"E": math.exp(e), "A": math.exp(a), "B": math.exp(b), "alpha": alpha, "beta": beta}


def params_to_theta(p: dict) -> np.ndarray:
    return np.array([math.log(p["A"]), math.log(p["B"]), math.log(p["E"]), p["alpha"], p["beta"]])


def predict(params: dict, n, d) -> np.ndarray:
    """L(N, D) for fitted parameters (dict with E, A, B, alpha, beta)."""
    n = np.asarray(n, dtype=np.float64)
    d = np.asarray(d, dtype=np.float64)
    return params["E"] + params["A"] / n ** params["alpha"] + params["B"] / d ** params["beta"]


@dataclass
class FitResult:
    """One arm's fit: point estimate, bootstrap samples and intervals, and conditioning warnings."""

    params: dict[str, float]
    theta: list[float]
    objective: float
    n_points: int
    converged: bool
    intervals: dict[str, tuple[float, float]] = field(default_factory=dict)
    bootstrap: np.ndarray | None = None  # (B, 5) theta rows of the bootstrap fits (NaN rows failed)
    warnings: list[str] = field(default_factory=list)

    def boot_params(self) -> list[dict[str, float]]:
        """The bootstrap fits as parameter dicts (failed replicates skipped)."""
        if self.bootstrap is None:
            return []
        return [theta_to_params(t) for t in self.bootstrap if np.all(np.isfinite(t))]

    def to_json(self) -> dict:
        d = asdict(self)
        d.pop("bootstrap")
        d["intervals"] = {k: [float(v[0]), float(v[1])] for k, v in self.intervals.items()}
        d["n_bootstrap"] = 0 if self.bootstrap is None else int(np.isfinite(self.bootstrap).all(axis=1).sum())
        return d


def _lbfgs(theta0, args):
    res = minimize(objective_and_grad, theta0, args=args, jac=True, method="L-BFGS-B", bounds=BOUNDS,
                   options={"maxiter": 1000, "ftol": 1e-15, "gtol": 1e-12})
    return res


def _best_of(starts: np.ndarray, args) -> tuple[np.ndarray, float, bool]:
    best = None
    for s in starts:
        res = _lbfgs(np.clip(s, [b[0] for b in BOUNDS], [b[1] for b in BOUNDS]), args)
        if best is None or res.fun < best.fun:
            best = res
    return best.x, float(best.fun), bool(best.success)


def _validate(params, tokens, loss) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = np.asarray(params, dtype=np.float64).ravel()
    d = np.asarray(tokens, dtype=np.float64).ravel()
    l = np.asarray(loss, dtype=np.float64).ravel()
    if not (len(n) == len(d) == len(l)):
        raise ValueError(f"params, tokens and loss differ in length: {len(n)}, {len(d)}, {len(l)}")
    if len(n) == 0:
        raise ValueError("no points to fit")
    for name, v in (("params", n), ("tokens", d), ("loss", l)):
        bad = np.flatnonzero(~np.isfinite(v) | (v <= 0))
        if len(bad):
            raise ValueError(f"{name} must be finite and > 0; bad value {float(v[bad[0]])!r} at row {int(bad[0])}")
    return n, d, l


def fit_chinchilla(params, tokens, loss, *, bootstrap: int = 1000, seed: int = 0, top_k: int = 8,
                   boot_top_k: int = 0, delta: float = HUBER_DELTA, progress=None) -> FitResult:
    """Fit L(N, D) = E + A/N^alpha + B/D^beta to points (N = params, D = tokens, L = loss).

    Runs L-BFGS-B from the `top_k` best of the 4500 grid starts and keeps the best; `bootstrap` resamples
    (seeded by `seed`) give 95% percentile intervals; each replicate starts from the full-data optimum plus its
    own `boot_top_k` best grid starts.  Ill-conditioning is reported in `FitResult.warnings`.  `progress`, if
    given, is called with the number of finished replicates after each one."""
    with single_thread_blas():
        return _fit(params, tokens, loss, bootstrap, seed, top_k, boot_top_k, delta, progress)


def _fit(params, tokens, loss, bootstrap, seed, top_k, boot_top_k, delta, progress=None) -> FitResult:
    n, d, l = _validate(params, tokens, loss)
    log_n, log_d, log_l = np.log(n), np.log(d), np.log(l)
    grid = init_grid()
    args = (log_n, log_d, log_l, None, delta)
    order = np.argsort(objective(grid, log_n, log_d, log_l, None, delta), kind="stable")
    theta, fun, ok = _best_of(grid[order[:top_k]], args)

    boots = None
    if bootstrap > 0:
        rng = np.random.default_rng(seed)
        boots = np.full((bootstrap, 5), np.nan)
        npts = len(n)
        for i in range(bootstrap):
            w = np.bincount(rng.integers(0, npts, npts), minlength=npts).astype(np.float64)
            bargs = (log_n, log_d, log_l, w, delta)
            starts = theta[None]
            if boot_top_k > 0:
                gobj = objective(grid, log_n, log_d, log_l, w, delta)
                starts = np.vstack([starts, grid[np.argsort(gobj, kind="stable")[:boot_top_k]]])
            bt, _, _ = _best_of(starts, bargs)
            boots[i] = bt
            if progress is not None:
                progress(i + 1)
    result = FitResult(params=theta_to_params(theta), theta=[float(x) for x in theta], objective=fun,
                       n_points=len(n), converged=ok, bootstrap=boots)
    if boots is not None:
        result.intervals = _intervals(boots)
    result.warnings = conditioning_warnings(result, n, d)
    return result


def _intervals(boots: np.ndarray, level: float = 0.95) -> dict[str, tuple[float, float]]:
    ok = boots[np.isfinite(boots).all(axis=1)]
    if len(ok) == 0:
        return {k: (math.nan, math.nan) for k in PARAM_NAMES}
    p = np.array([[v for v in theta_to_params(t).values()] for t in ok])  # (B, 5) in PARAM_NAMES order
    q = (1 - level) / 2
    lo, hi = np.quantile(p, q, axis=0), np.quantile(p, 1 - q, axis=0)
    return {k: (float(lo[i]), float(hi[i])) for i, k in enumerate(PARAM_NAMES)}


def conditioning_warnings(fit: FitResult, n: np.ndarray, d: np.ndarray) -> list[str]:
    """Human-readable warnings, with numbers, for fits that should not be trusted."""
    out = []
    need = len(PARAM_NAMES) + MIN_POINTS_MARGIN
    if fit.n_points < need:
        out.append(f"too few points: {fit.n_points} points for {len(PARAM_NAMES)} parameters (want >= {need})")
    for name, v in (("N (params)", n), ("D (tokens)", d)):
        uniq = np.unique(v)
        span = float(v.max() / v.min())
        if len(uniq) < 2:
            out.append(f"all points share one {name} = {uniq[0]:.4g}: its exponent and coefficient are not identifiable")
        elif len(uniq) < 3 or is_narrow(span):
            out.append(f"narrow {name} range: {len(uniq)} distinct values spanning {span:.3g}x (want >= 3 values over "
                       f">= {MIN_SPAN:g}x)")
    if not fit.converged:
        out.append("L-BFGS-B did not report convergence for the best start")
    grid_span = {"a": (GRID_A[0], GRID_A[-1]), "b": (GRID_B[0], GRID_B[-1]), "e": (GRID_E[0], GRID_E[-1]),
                 "alpha": (GRID_ALPHA[0], GRID_ALPHA[-1]), "beta": (GRID_BETA[0], GRID_BETA[-1])}
    for (name, (glo, ghi)), (blo, bhi), v in zip(grid_span.items(), BOUNDS, fit.theta):
        tol = 1e-6 * max(1.0, abs(v))
        if abs(v - blo) <= tol or abs(v - bhi) <= tol:
            out.append(f"{name} = {v:.4g} is at the optimiser bound [{blo:g}, {bhi:g}]")
        elif v < glo - 1e-9 or v > ghi + 1e-9:
            out.append(f"{name} = {v:.4g} lies outside the initialisation grid [{glo:g}, {ghi:g}]")
    for k, (lo, hi) in fit.intervals.items():
        est = fit.params[k]
        if np.isfinite(lo) and np.isfinite(hi) and (hi - lo) > abs(est):
            out.append(f"{k}: 95% CI [{lo:.4g}, {hi:.4g}] is wider than the estimate {est:.4g}")
    return out
