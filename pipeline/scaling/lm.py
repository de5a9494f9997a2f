"""Batched Levenberg-Marquardt for the joint fit: many least-squares problems of one layout solved at once.

The joint model (`pipeline.scaling.joint`) predicts log L = LSE(a - alpha log N, b - beta log D', e) per point;
a batch is B problems sharing the design (points, layout, bounds) but with their own observed log losses Y (B, n),
point weights W (B, n) (0: left out, k: resampled k times) and starts V0 (B, p).  Each iteration forms every
problem's Jacobian (B, n, p) and solves its damped normal equations (J'WJ + lam diag(J'WJ)) step = -J'Wr in one
`numpy.linalg.solve` call; a step that lowers a problem's cost is kept (its lam shrinks), one that does not is
undone (its lam grows).  Steps are projected onto the optimiser box.  A parametric bootstrap of 1000 replicates,
every held-out refit of the checks and the leave-one-out of the model comparison are each one batch: about as long
as one scipy L-BFGS-B fit per replicate takes for a handful.
"""

from __future__ import annotations

import math

import numpy as np

from pipeline.scaling.fit import single_thread_blas
from pipeline.scaling.repetition import log_effective_tokens

MAX_ITER = 300      # a few replicates crawl along a flat E-A-alpha valley (one of the test's needs ~150 steps)
TOL = 1e-10          # stop when an accepted step lowers the cost by less than this share
PRED_TOL = 1e-9      # ... or moves no prediction by more than this (log loss)


def _log_d(V: np.ndarray, lay, pts):
    """(log D' (B, n) or (n,), d log D' / d log R* or None) for every problem."""
    if not lay.fit_rstar:
        return pts.log_deff, None
    out, der = [], []
    for r in V[:, lay.r_pos]:
        ld, dd = log_effective_tokens(pts.log_d, pts.unique, float(r))
        out.append(ld)
        der.append(dd)
    return np.array(out), np.array(der)


def predict(V: np.ndarray, lay, pts, with_jac: bool = False):
    """Predicted log loss (B, n) for parameter rows V (B, p); with `with_jac`, also the Jacobian (B, n, p)."""
    V = np.atleast_2d(V)
    ip = lay.idx[pts.arm]                                     # (n, 5) vector position of each coordinate
    P = V[:, ip]                                              # (B, n, 5)
    log_d, dld = _log_d(V, lay, pts)
    t1 = P[..., 0] - P[..., 3] * pts.log_n
    t2 = P[..., 1] - P[..., 4] * log_d
    t3 = P[..., 2]
    m = np.maximum(np.maximum(t1, t2), t3)
    x1, x2, x3 = np.exp(t1 - m), np.exp(t2 - m), np.exp(t3 - m)
    s = x1 + x2 + x3
    pred = m + np.log(s)
    if not with_jac:
        return pred
    x1, x2, x3 = x1 / s, x2 / s, x3 / s
    n = len(pts.log_l)
    J = np.zeros((V.shape[0], n, lay.n_free))
    rows = np.arange(n)
    for c, col in enumerate((x1, x2, x3, -x1 * pts.log_n, -x2 * log_d)):
        J[:, rows, ip[:, c]] = col
    if lay.fit_rstar:
        J[:, :, lay.r_pos] = -P[..., 4] * x2 * dld
    return pred, J


def solve(lay, pts, Y=None, W=None, V0=None, max_iter: int = MAX_ITER, tol: float = TOL):
    """Least-squares fits of the joint model for a batch: returns (V (B, p), cost (B,), converged (B,)).

    Y: observed log losses (B, n) or (n,) (default: `pts.log_l`); W: point weights (B, n) or (n,) or None;
    V0: starts (B, p) or (p,).  B is the largest leading size among Y, W and V0.  cost = 0.5 sum w r^2."""
    with single_thread_blas():
        return _solve(lay, pts, Y, W, V0, max_iter, tol)


def _solve(lay, pts, Y, W, V0, max_iter, tol):
    n = len(pts.log_l)
    Y = pts.log_l if Y is None else np.asarray(Y, dtype=np.float64)
    B = max(np.atleast_2d(Y).shape[0] if Y.ndim == 2 else 1,
            1 if W is None or np.ndim(W) == 1 else np.shape(W)[0],
            1 if V0 is None or np.ndim(V0) == 1 else np.shape(V0)[0])
    Y = np.broadcast_to(Y, (B, n))
    W = np.ones((B, n)) if W is None else np.broadcast_to(np.asarray(W, dtype=np.float64), (B, n))
    V = np.array(np.broadcast_to(np.asarray(V0, dtype=np.float64), (B, lay.n_free)))
    lo, hi = (np.array(x) for x in zip(*lay.bounds))
    V = np.clip(V, lo, hi)
    lam = np.full(B, 1e-3)
    pred, J = predict(V, lay, pts, with_jac=True)
    r = pred - Y
    cost = 0.5 * np.sum(W * r * r, axis=1)
    active = np.ones(B, dtype=bool)
    done = np.zeros(B, dtype=bool)
    eye = np.eye(lay.n_free)
    for _ in range(max_iter):
        a = np.flatnonzero(active)
        if len(a) == 0:
            break
        Ja, wa, ra = J[a], W[a], r[a]
        JW = Ja * wa[:, :, None]
        JWt = JW.transpose(0, 2, 1)
        A = JWt @ Ja
        g = (JWt @ ra[:, :, None])[..., 0]
        # parameters on a bound whose gradient pushes outwards stay there for this step (projected LM)
        Va = V[a]
        pinned = ((Va <= lo + 1e-12) & (g > 0)) | ((Va >= hi - 1e-12) & (g < 0))
        if pinned.any():
            keep = ~pinned
            A = A * keep[:, :, None] * keep[:, None, :] + pinned[:, :, None] * eye
            g = g * keep
        d = np.einsum("bii->bi", A)
        M = A + (lam[a, None] * (d + 1e-12 * (1.0 + d.max(axis=1, keepdims=True))))[:, :, None] * eye
        try:
            step = -np.linalg.solve(M, g[:, :, None])[..., 0]
        except np.linalg.LinAlgError:             # a direction no point informs: the pseudo-inverse step
            step = -np.einsum("bij,bj->bi", np.linalg.pinv(M), g)
        Vn = np.clip(V[a] + step, lo, hi)
        pn, Jn = predict(Vn, lay, pts, with_jac=True)
        rn = pn - Y[a]
        cn = 0.5 * np.sum(wa * rn * rn, axis=1)
        ok = np.isfinite(cn) & (cn <= cost[a])
        moved = np.max(np.abs(rn - r[a]), axis=1)   # change of the predictions (flat directions may drift on)
        gain = cost[a] - cn
        acc = a[ok]
        V[acc], J[acc], r[acc] = Vn[ok], Jn[ok], rn[ok]
        small = ok & ((gain <= tol * cost[a] + 1e-30) | (moved <= PRED_TOL))
        cost[acc] = cn[ok]
        lam[acc] = np.maximum(lam[acc] * 0.3, 1e-12)
        lam[a[~ok]] *= 10.0
        stuck = ~ok & (lam[a] > 1e10)
        done[a[small | stuck]] = True
        active[a[small | stuck]] = False
    return V, cost, done


def best_of(starts, lay, pts, w=None):
    """The best of LM fits from several starts, polished by scipy's trust-region least squares (which walks along
    the optimiser bounds better, e.g. E -> 0): (vector, cost, converged)."""
    from scipy.optimize import least_squares

    S = np.atleast_2d(np.asarray(starts, dtype=np.float64))
    V, cost, ok = solve(lay, pts, W=w, V0=S)
    cost = np.where(np.isfinite(cost), cost, math.inf)
    i = int(np.argmin(cost))
    sw = np.ones(len(pts.log_l)) if w is None else np.sqrt(np.asarray(w, dtype=np.float64))
    lo, hi = (np.array(x) for x in zip(*lay.bounds))
    with single_thread_blas():
        res = least_squares(lambda x: sw * (predict(x, lay, pts)[0] - pts.log_l), V[i],
                            jac=lambda x: sw[:, None] * predict(x, lay, pts, with_jac=True)[1][0],
                            bounds=(lo, hi), method="trf", xtol=1e-14, ftol=1e-14, gtol=1e-14, max_nfev=2000)
    if np.isfinite(res.cost) and res.cost <= cost[i]:
        return res.x, float(res.cost), bool(res.status > 0)
    return V[i], float(cost[i]), bool(ok[i])
