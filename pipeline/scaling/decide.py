"""Decisions: which arm is better, with what error, and at what target scale.

- **Pairwise table.** For arms a and b with beta shared, the ratio of their data multipliers is
  r = k_a / k_b = (B_b / B_a)^(1/beta), one number at every scale.  Every bootstrap replicate refits all arms at
  once, so the replicates of r carry the joint uncertainty of both arms (and of beta).  a is better than b when the
  95% percentile interval of r lies above 1, worse when below, undecided when it contains 1.
- **Ranking.** Arms sorted by their multiplier; a `>` separates two groups only where every arm above is decided
  better than every arm below, so each `>` is backed by decided pairs and nothing else.
- **Resolution.** The median over pairs of the 95% interval's half-width of log r: a true ratio beyond
  exp(half-width) is decided about half the time, one beyond exp(half-width x (1.96 + 0.84) / 1.96) about 80%.
- **Target.** At a model size N and token budget D of the user's choice: each arm's predicted loss with its 95%
  interval over the replicates, and for every pair the share of replicates in which a's loss is below b's (the
  probability of that order under the fit); decided at 95% when that share is >= 0.975 or <= 0.025.
  With alpha, beta, E and A shared the order at any target is the order of the data multipliers; with A (or E,
  alpha) per arm it can change with scale, and the target says where it lands.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from pipeline.scaling.repetition import effective_tokens

LEVEL = 0.95
Z95, Z80 = 1.959964, 0.841621


def _q(s: np.ndarray, level: float = LEVEL) -> tuple[float | None, float | None]:
    s = s[np.isfinite(s)]
    if len(s) < 2:
        return None, None
    q = (1 - level) / 2
    return float(np.quantile(s, q)), float(np.quantile(s, 1 - q))


def log_multipliers(fit, arms=None) -> tuple[np.ndarray, np.ndarray | None]:
    """log(1 / B_a^(1/beta)) per arm: point (K,) and replicates (R, K); differences are log multiplier ratios.
    Needs beta shared."""
    arms = list(arms or fit.arms)

    def f(th):
        with np.errstate(divide="ignore", invalid="ignore"):
            return -th[..., 1] / th[..., 4]

    point = np.array([f(fit.theta(a)) for a in arms])
    boot = None
    if fit.boot is not None:
        boot = np.stack([f(fit.boot_thetas(a)) for a in arms], axis=1)
        boot = boot[np.all(np.isfinite(fit.boot), axis=1)]
    return point, boot


def pairwise(fit, level: float = LEVEL) -> list[dict]:
    """Every pair (a, b), a listed before b: the multiplier ratio k_a / k_b with its interval and the decision."""
    if "beta" not in fit.layout.share:
        return []
    arms = list(fit.arms)
    point, boot = log_multipliers(fit, arms)
    rows = []
    for i, j in itertools.combinations(range(len(arms)), 2):
        lr = point[i] - point[j]
        row = {"a": arms[i], "b": arms[j], "ratio": math.exp(lr), "ci_low": None, "ci_high": None,
               "p_a_better": None, "decision": "undecided", "half_width_log": None}
        if boot is not None and len(boot) >= 2:
            s = boot[:, i] - boot[:, j]
            lo, hi = _q(s, level)
            if lo is not None:
                row.update(ci_low=math.exp(lo), ci_high=math.exp(hi), half_width_log=(hi - lo) / 2,
                           p_a_better=float(np.mean(s[np.isfinite(s)] > 0)))
                row["decision"] = "a" if lo > 0 else "b" if hi < 0 else "undecided"
        rows.append(row)
    return rows


def better(rows: list[dict]) -> set[tuple[str, str]]:
    """Decided pairs as (winner, loser)."""
    out = set()
    for r in rows:
        if r["decision"] == "a":
            out.add((r["a"], r["b"]))
        elif r["decision"] == "b":
            out.add((r["b"], r["a"]))
    return out


def ranking(arms: list[str], estimate: dict[str, float], rows: list[dict]) -> list[list[str]]:
    """Tiers, best first: arms sorted by `estimate`, split only where every arm above is decided better than
    every arm below."""
    order = sorted(arms, key=lambda a: -estimate[a])
    wins = better(rows)
    tiers, current = [], [order[0]]
    for k in range(1, len(order)):
        above, below = order[:k], order[k:]
        if all((x, y) in wins for x in above for y in below):
            tiers.append(current)
            current = []
        current.append(order[k])
    tiers.append(current)
    return tiers


def ranking_text(tiers: list[list[str]]) -> str:
    return " > ".join(" ~ ".join(f"`{a}`" for a in t) for t in tiers)


def resolution(rows: list[dict]) -> dict | None:
    """The multiplier ratio the grid and noise resolve (see the module docstring)."""
    hw = [r["half_width_log"] for r in rows if r.get("half_width_log") is not None]
    if not hw:
        return None
    h = float(np.median(hw))
    return {"half_width_log": h, "ratio_50": math.exp(h), "ratio_80": math.exp(h * (Z95 + Z80) / Z95),
            "pairs": len(hw)}


def at_target(fit, n: float, d: float, pools: dict | None = None, level: float = LEVEL) -> dict:
    """Predicted loss per arm at (N, D) with intervals, and P(loss_a < loss_b) for every pair."""
    from pipeline.scaling.fit import predict, theta_to_params

    arms = list(fit.arms)
    pools = pools or {}
    rstar = fit.rstar

    def loss(th, a, r):
        u = pools.get(a)
        d_eff = float(effective_tokens(d, u, r)) if (u and r is not None) else d
        return float(predict(theta_to_params(th), n, d_eff))

    point = {a: loss(fit.theta(a), a, rstar) for a in arms}
    samples = {}
    if fit.boot is not None:
        ok = np.all(np.isfinite(fit.boot), axis=1)
        rs = fit.boot_rstar if fit.boot_rstar is not None else np.full(len(fit.boot), rstar if rstar else np.nan)
        for a in arms:
            th = fit.boot_thetas(a)[ok]
            with np.errstate(over="ignore", invalid="ignore"):
                samples[a] = np.array([loss(t, a, None if not np.isfinite(r) else float(r))
                                       for t, r in zip(th, rs[ok])])
    out = {"n": float(n), "d": float(d), "arms": {}, "order": []}
    for a in arms:
        lo, hi = _q(samples[a], level) if a in samples else (None, None)
        out["arms"][a] = {"loss": point[a], "ci_low": lo, "ci_high": hi}
    q = (1 - level) / 2
    for a, b in itertools.combinations(arms, 2):
        row = {"a": a, "b": b, "loss_a": point[a], "loss_b": point[b], "p_a_lower": None, "decision": "undecided"}
        if a in samples:
            s = samples[a] - samples[b]
            s = s[np.isfinite(s)]
            if len(s):
                p = float(np.mean(s < 0))
                row["p_a_lower"] = p
                row["decision"] = "a" if p >= 1 - q else "b" if p <= q else "undecided"
        out["order"].append(row)
    return out


def parse_target(text) -> tuple[float, float]:
    """'N,D' (numbers, e.g. 1e9,2e10) -> (N, D); one clear line when it is not that."""
    if isinstance(text, (list, tuple)):
        parts = list(text)
    else:
        parts = [p.strip() for p in str(text).split(",")]
    try:
        n, d = (float(p) for p in parts)
    except (TypeError, ValueError):
        raise ValueError(f"--target must be N,D (model size and token budget, e.g. 1e9,2e10), got {text!r}") \
            from None
    if not (n > 0 and d > 0 and math.isfinite(n) and math.isfinite(d)):
        raise ValueError(f"--target N,D must be positive numbers, got {text!r}")
    return n, d
