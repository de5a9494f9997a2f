"""Scaling plots (matplotlib Agg, each written as PNG and SVG): loss vs compute with fitted frontiers, the iso-loss
compute multiplier vs target loss, and loss vs tokens per model size."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.plots import save_figure  # noqa: E402
from pipeline.scaling.fit import FitResult, predict  # noqa: E402
from pipeline.scaling.multiplier import frontier_loss  # noqa: E402


_save = save_figure


def _colors(arms) -> dict:
    cmap = plt.get_cmap("tab10")
    return {a: cmap(i % 10) for i, a in enumerate(arms)}


def plot_loss_vs_compute(points: pd.DataFrame, fits: dict[str, FitResult], stem: Path, loss_label: str = "loss"):
    """Observed (flops, loss) per arm with each arm's compute-optimal frontier L*(C)."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = _colors(fits)
    c = np.geomspace(points["flops"].min() / 3, points["flops"].max() * 3, 200)
    for arm, fit in fits.items():
        pts = points[points["arm"] == arm]
        ax.scatter(pts["flops"], pts["loss"], s=18, color=colors[arm], alpha=0.8, label=f"{arm} runs")
        ax.plot(c, frontier_loss(fit.params, c), color=colors[arm], lw=1.8, label=f"{arm} frontier L*(C)")
    ax.set_xscale("log")
    ax.set_xlabel("compute C = 6ND (FLOPs)")
    ax.set_ylabel(loss_label)
    ax.set_title("Loss vs compute, fitted compute-optimal frontiers")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return _save(fig, stem)


def plot_multiplier(curves: dict[str, dict], baseline: str, stem: Path, loss_label: str = "loss"):
    """M(L*) = C_baseline / C_arm vs target loss per arm, with bootstrap CI bands."""
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colors = _colors(list(curves) + [baseline])
    for arm, cur in curves.items():
        ax.plot(cur["loss"], cur["m"], color=colors[arm], lw=1.8, label=f"{arm} vs {baseline}")
        band = np.isfinite(cur["lo"]) & np.isfinite(cur["hi"])
        if band.any():
            ax.fill_between(cur["loss"], cur["lo"], cur["hi"], where=band, color=colors[arm], alpha=0.2,
                            label=f"{arm} 95% CI")
    ax.axhline(1.0, color="k", lw=0.8, ls="--")
    ax.set_yscale("log")
    ax.invert_xaxis()  # lower (better) target loss to the right
    ax.set_xlabel(f"target {loss_label} L*")
    ax.set_ylabel(f"effective compute multiplier C_{baseline}(L*) / C_arm(L*)")
    ax.set_title("Iso-loss compute multiplier vs target loss")
    ax.grid(alpha=0.3, which="both")
    if curves:
        ax.legend(fontsize=7)
    return _save(fig, stem)


def plot_loss_vs_tokens(points: pd.DataFrame, fits: dict[str, FitResult], stem: Path, loss_label: str = "loss"):
    """One panel per arm: observed loss vs tokens per model size, with the fitted L(N, D) at each N."""
    arms = list(fits)
    fig, axes = plt.subplots(1, len(arms), figsize=(4.2 * len(arms), 4), squeeze=False, sharey=True)
    sizes = sorted(points["params"].unique())
    cmap = plt.get_cmap("viridis")
    d = np.geomspace(points["tokens"].min() / 2, points["tokens"].max() * 2, 100)
    for ax, arm in zip(axes[0], arms):
        pts = points[points["arm"] == arm]
        for i, n in enumerate(sizes):
            color = cmap(i / max(1, len(sizes) - 1))
            sel = pts[pts["params"] == n]
            if len(sel):
                ax.scatter(sel["tokens"], sel["loss"], s=18, color=color)
            ax.plot(d, predict(fits[arm].params, n, d), color=color, lw=1.4, label=f"N={n:.3g}")
        ax.set_xscale("log")
        ax.set_title(arm)
        ax.set_xlabel("tokens D")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel(loss_label)
    axes[0][-1].legend(fontsize=7, title="non-embedding N")
    fig.suptitle("Loss vs tokens per model size (points: runs, lines: fitted L(N, D))")
    return _save(fig, stem)
