"""What the runs can and cannot answer: one-line reasons to refuse a fit, and warnings about weak ones.

Refusals (`problems`) are structural: they hold for any parameter values, so no optimiser or bootstrap can fix
them: fewer points than free parameters, a single model size (token budget) where alpha (beta) is fitted, no
repeated run where R* is fitted, and, as the catch-all, a rank-deficient Jacobian of the predicted log losses with
respect to the free parameters at a generic parameter point (alpha = 0.35, beta = 0.3, the three terms of the
first arm equal at the geometric mean of the runs, other arms' A (unless shared) and B scaled by exp(0.31 k),
exp(-0.23 k)).
A rank deficiency there means some combination of parameters leaves every prediction unchanged (e.g. E, A and
alpha of one arm measured at only two model sizes), so intervals for them would be arbitrary.
"""

from __future__ import annotations

import math

import numpy as np

from pipeline.scaling.fit import MIN_SPAN, is_narrow
from pipeline.scaling.joint import COORD_NAMES, SHAREABLE, FreeParams, Points
from pipeline.scaling.repetition import RSTAR_PUBLISHED, log_effective_tokens

RANK_RTOL = 1e-9          # singular value / largest below this: not identifiable (structural)
WEAK_RTOL = 1e-4          # below this: identifiable in principle, barely in practice
MARGIN = 3                # warn with fewer than (free parameters + MARGIN) points


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _jacobian(lay: FreeParams, pts: Points) -> np.ndarray:
    """d log L_hat / d (free parameters) at the generic point, columns scaled to unit norm."""
    ln_bar, ld_bar = pts.log_n.mean(), pts.log_d.mean()
    alpha, beta = 0.35, 0.30
    tn = pts.log_n - ln_bar
    log_deff, dld = pts.log_deff, np.zeros_like(pts.log_d)
    if lay.fit_rstar:
        log_deff, dld = log_effective_tokens(pts.log_d, pts.unique, math.log(RSTAR_PUBLISHED))
    td = log_deff - ld_bar
    # arms get different A (unless shared) and B (identical arms would hide what differences between arms identify)
    k = pts.arm.astype(np.float64)
    ka = 0.0 if "A" in lay.share else 0.31 * k
    x1, x2, x3 = np.exp(ka - alpha * tn), np.exp(-0.23 * k - beta * td), np.ones_like(tn)
    s = x1 + x2 + x3
    cols = np.stack([x1, x2, x3, -x1 * tn, -x2 * td], axis=1) / s[:, None]   # (n, 5) per-coordinate columns
    jac = np.zeros((len(tn), lay.n_free))
    ip = lay.idx[pts.arm]
    for c in range(5):
        np.add.at(jac, (np.arange(len(tn)), ip[:, c]), cols[:, c])
    if lay.fit_rstar:
        jac[:, lay.r_pos] = -beta * x2 / s * dld
    norms = np.linalg.norm(jac, axis=0)
    return jac / np.where(norms > 0, norms, 1.0)


def identifiability(lay: FreeParams, pts: Points) -> tuple[float, list[str]]:
    """(smallest / largest singular value of the scaled Jacobian, names of the parameters in its weakest
    direction).  0 means structurally unidentifiable."""
    jac = _jacobian(lay, pts)
    if jac.shape[0] < jac.shape[1]:
        jac = np.vstack([jac, np.zeros((jac.shape[1] - jac.shape[0], jac.shape[1]))])
    _, sv, vt = np.linalg.svd(jac, full_matrices=False)
    ratio = float(sv[-1] / sv[0]) if sv[0] > 0 else 0.0
    weak = vt[-1]
    names = [lay.names[i] for i in np.argsort(-np.abs(weak)) if abs(weak[i]) > 0.15]
    return ratio, names


def _levels(values) -> int:
    return len(np.unique(np.round(np.asarray(values), 9)))


def problems(lay: FreeParams, pts: Points) -> list[str]:
    """One-line reasons this model cannot be fitted to these points (empty: fittable)."""
    out = []
    n, p = len(pts.log_l), lay.n_free
    shared = set(lay.share)
    what = (f"shared {', '.join(lay.share)}; per arm " if lay.share else "per arm ") + \
        ", ".join(COORD_NAMES[c] for c in range(5) if COORD_NAMES[c] not in shared) + \
        (" over " + str(len(lay.arms)) + " arms" if len(lay.arms) > 1 else "") + (" + R*" if lay.fit_rstar else "")
    if n <= p:
        out.append(f"{n} points for {p} free parameters ({what}): need at least {p + 1} (add runs"
                   + (", or share more of alpha, beta, E across arms)" if len(lay.arms) > 1 and
                      len(shared) < 3 else ")"))
    for name, vals, fix in (("alpha", pts.log_n, "model size"), ("beta", pts.log_d, "token budget")):
        var = "N" if name == "alpha" else "D"
        if name in shared:
            if _levels(vals) < 2:
                out.append(f"every run has the same {fix} ({var} = {_fmt(math.exp(vals[0]))}): {name} cannot be "
                           f"fitted; add runs at another {fix}")
        else:
            for k, arm in enumerate(lay.arms):
                v = vals[pts.arm == k]
                if len(v) and _levels(v) < 2:
                    out.append(f"arm {arm!r}: every run has {var} = {_fmt(math.exp(v[0]))}, so its {name} cannot "
                               f"be fitted; add a {fix}" + (" or share " + name + " (--share)"
                                                             if len(lay.arms) > 1 else ""))
    if lay.fit_rstar:
        if pts.unique is None or not np.any(np.exp(pts.log_d) > pts.unique):
            out.append("no run trains past one epoch of its pool (or the runs table has no unique_tokens), so R* "
                       "cannot be fitted: use --repetition fixed or off")
    if not out:
        ratio, names = identifiability(lay, pts)
        if ratio < RANK_RTOL:
            out.append(f"the runs cannot separate {', '.join(names[:4])}: the predictions do not change along a "
                       f"combination of them for any parameter values (e.g. an arm measured at only 2 model sizes "
                       f"or token budgets cannot separate E from its power law); add sizes/budgets or share more "
                       f"parameters")
    return out


def design_warnings(lay: FreeParams, pts: Points) -> list[str]:
    """Weak but fittable designs (printed and reported, not refused)."""
    out = []
    n, p = len(pts.log_l), lay.n_free
    if n < p + MARGIN:
        out.append(f"too few points: {n} points for {p} free parameters (want >= {p + MARGIN})")
    ratio, names = identifiability(lay, pts)
    if RANK_RTOL <= ratio < WEAK_RTOL:
        out.append(f"weakly identified: {', '.join(names[:4])} barely change the predictions in one combination "
                   f"(relative singular value {ratio:.1e}); expect wide intervals")
    for name, vals, col in (("N (params)", pts.log_n, "alpha"), ("D (tokens)", pts.log_d, "beta")):
        groups = [vals] if col in lay.share else [vals[pts.arm == k] for k in range(len(lay.arms))]
        for k, v in enumerate(groups):
            if len(v) == 0:
                continue
            levels, span = _levels(v), float(math.exp(v.max() - v.min()))
            if levels >= 2 and (levels < 3 or is_narrow(span)):
                who = "" if col in lay.share else f"arm {lay.arms[k]!r}: "
                out.append(f"{who}narrow {name} range: {levels} distinct values spanning {span:.3g}x "
                           f"(want >= 3 values over >= {MIN_SPAN:g}x)")
    return out


def fit_warnings(fit, level: float = 0.95) -> list[str]:
    """Warnings about a finished joint fit: parameters on the optimiser bounds, outside the start grid, no
    convergence, R* on its bounds."""
    from pipeline.scaling.fit import GRID_A, GRID_ALPHA, GRID_B, GRID_BETA, GRID_E

    lay, v = fit.layout, fit.vector
    out = []
    if not fit.converged:
        out.append("L-BFGS-B did not report convergence for the best start")
    grids = (GRID_A, GRID_B, GRID_E, GRID_ALPHA, GRID_BETA)
    coord_of = {}
    for c in range(5):
        for pos in np.unique(lay.idx[:, c]):
            coord_of[int(pos)] = c
    for pos, name in enumerate(lay.names):
        lo, hi = lay.bounds[pos]
        val = float(v[pos])
        shown = math.exp(val) if name.startswith(("A", "B", "E", "R*")) else val
        tol = 1e-6 * max(1.0, abs(val))
        if abs(val - lo) <= tol or abs(val - hi) <= tol:
            out.append(f"{name} = {shown:.4g} is at the optimiser bound")
        elif pos in coord_of:
            g = grids[coord_of[pos]]
            if val < g[0] - 1e-9 or val > g[-1] + 1e-9:
                out.append(f"{name} = {shown:.4g} lies outside the initialisation grid")
    return out


__all__ = ["problems", "design_warnings", "fit_warnings", "identifiability", "SHAREABLE"]
