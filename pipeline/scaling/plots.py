"""Scaling plots (matplotlib Agg, each written as PNG and SVG via `pipeline.plots.save_figure`): loss vs compute
with fitted frontiers and bootstrap bands, the data multiplier per arm (forest plot), the pool-limited crossover
plot, the iso-loss compute multiplier vs target loss, and loss vs tokens per model size."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from pipeline.plots import save_figure  # noqa: E402
from pipeline.scaling.fit import FitResult, predict  # noqa: E402
from pipeline.scaling.multiplier import frontier_loss  # noqa: E402
from pipeline.scaling.repetition import effective_tokens  # noqa: E402

_save = save_figure


def _colors(arms) -> dict:
    cmap = plt.get_cmap("tab10")
    return {a: cmap(i % 10) for i, a in enumerate(arms)}


def plot_loss_vs_compute(points: pd.DataFrame, fits: dict[str, FitResult], stem: Path, loss_label: str = "loss",
                         c_grid=None, frontier=None, bands=None, repeat_compute=None):
    """Observed (flops, loss) per arm with each arm's compute-optimal frontier L*(C) (pool-limited when the arm's
    pool and R* are known) and its 95% bootstrap band; a diamond marks where the arm starts repeating its pool."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    colors = _colors(fits)
    lo, hi = points["flops"].min() / 3, points["flops"].max() * 30
    if c_grid is None:
        c = np.geomspace(lo, hi, 200)
        frontier = {a: frontier_loss(f.params, c) for a, f in fits.items()}
    else:
        c = np.asarray(c_grid)
    sel = (c >= lo) & (c <= hi)
    for arm in fits:
        pts = points[points["arm"] == arm]
        ax.scatter(pts["flops"], pts["loss"], s=18, color=colors[arm], alpha=0.8, label=f"{arm} runs")
        ax.plot(c[sel], frontier[arm][sel], color=colors[arm], lw=1.8, label=f"{arm} frontier L*(C)")
        if bands and arm in bands:
            ax.fill_between(c[sel], bands[arm][0][sel], bands[arm][1][sel], color=colors[arm], alpha=0.18, lw=0)
        rc = (repeat_compute or {}).get(arm)
        if rc is not None and np.isfinite(rc) and lo <= rc <= hi:
            ax.plot([rc], [np.interp(np.log(rc), np.log(c), frontier[arm])], marker="D", color=colors[arm], ms=7,
                    mec="k", ls="none", label=f"{arm}: pool exhausted (starts repeating)")
    ax.set_xscale("log")
    ax.set_xlabel("compute C = 6ND (FLOPs)")
    ax.set_ylabel(loss_label)
    ax.set_title("Loss vs compute: fitted compute-optimal frontiers, 95% bootstrap bands")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    return _save(fig, stem)


def plot_data_multiplier(dms: dict[str, dict], baseline: str, stem: Path, planted: dict | None = None):
    """Forest plot: one token of each arm is worth k tokens of the baseline, with 95% intervals (log axis)."""
    arms = [a for a in dms if a != baseline]
    fig, ax = plt.subplots(figsize=(7, 1.2 + 0.55 * max(1, len(arms))))
    colors = _colors(list(dms))
    for i, a in enumerate(arms):
        d = dms[a]
        y = len(arms) - 1 - i
        if d.get("value") is None:
            ax.text(1.0, y, "  no single value (beta per arm)", va="center", fontsize=8)
            continue
        if d.get("ci_low") is not None:
            ax.plot([d["ci_low"], d["ci_high"]], [y, y], color=colors[a], lw=2.5)
        ax.plot([d["value"]], [y], marker="o", ms=8, color=colors[a], mec="k")
        label = f"{d['value']:.3g}" + (f" ({d['ci_low']:.3g}-{d['ci_high']:.3g})" if d.get("ci_low") else "")
        ax.annotate(label, (d["value"], y), textcoords="offset points", xytext=(0, 8), ha="center", fontsize=8)
        p = (planted or {}).get(a)
        if p is not None:
            ax.plot([p["value"]], [y], marker="x", ms=9, color="k", ls="none",
                    label="planted" if a == next(iter(planted)) else None)
    ax.axvline(1.0, color="k", lw=0.8, ls="--")
    ax.set_yticks(range(len(arms)), list(reversed(arms)))
    ax.set_ylim(-0.6, len(arms) - 0.2)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(matplotlib.ticker.FuncFormatter(
        lambda v, _: f"{v:g}" if v > 0 and round(v / 10 ** np.floor(np.log10(v))) in (2, 5) else ""))
    ax.set_xlabel(f"data multiplier: one token of the arm is worth k tokens of `{baseline}` (95% CI)")
    ax.set_title("Data multiplier per arm, (B_base / B_arm)^(1/beta)")
    ax.grid(alpha=0.3, axis="x", which="both")
    if any(a in (planted or {}) for a in arms):
        ax.legend(fontsize=7, loc="lower right")
    if arms:
        vals = [v for a in arms for v in (dms[a].get("ci_low"), dms[a].get("ci_high"), dms[a].get("value"))
                if v is not None]
        if vals:
            ax.set_xlim(min(min(vals), 1.0) / 1.3, max(max(vals), 1.0) * 1.3)
    return _save(fig, stem)


def plot_crossover(c_grid, frontier: dict, bands: dict, repeat_compute: dict, crossovers: list[dict], stem: Path,
                   loss_label: str = "loss", max_flops: float | None = None):
    """Pool-limited frontiers over the whole compute range, pool limits (diamonds), crossovers (vertical lines,
    95% interval shaded) and the largest run (dotted: right of it is extrapolation)."""
    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    c = np.asarray(c_grid)
    colors = _colors(list(frontier))
    for arm, y in frontier.items():
        ax.plot(c, y, color=colors[arm], lw=1.8, label=arm)
        if arm in bands:
            ax.fill_between(c, bands[arm][0], bands[arm][1], color=colors[arm], alpha=0.15, lw=0)
        rc = repeat_compute.get(arm)
        if rc is not None and np.isfinite(rc) and c[0] <= rc <= c[-1]:
            ax.plot([rc], [np.interp(np.log(rc), np.log(c), y)], marker="D", ms=7, color=colors[arm], mec="k",
                    ls="none", label=f"{arm}: pool exhausted")
    rows = [r for r in crossovers if r["compute"] is not None]
    for i, row in enumerate(rows):
        color = colors[row["overtaken_by"]]
        lo = row["ci_low"] if row["ci_low"] is not None else c[0]
        hi = row["ci_high"] if row["ci_high"] is not None else c[-1]
        y = 0.97 - 0.06 * i           # one row per crossover: the point and its 95% interval
        ax.plot([lo, hi], [y, y], color=color, lw=2.5, alpha=0.6, transform=ax.get_xaxis_transform())
        ax.plot([row["compute"]], [y], marker="|", ms=12, mew=2, color="k", transform=ax.get_xaxis_transform())
        ax.axvline(row["compute"], color=color, lw=1.0, ls="--",
                   label=f"{row['overtaken_by']} overtakes {row['leader']}: {row['compute']:.2g} "
                         f"({'<' if row['ci_low'] is None else format(lo, '.2g')}-"
                         f"{'>' if row['ci_high'] is None else format(hi, '.2g')})")
    if max_flops:
        ax.axvline(max_flops, color="grey", lw=0.8, ls=":", label="largest run")
    ax.set_xscale("log")
    ax.set_xlabel("compute C = 6ND (FLOPs)")
    ax.set_ylabel(f"best reachable {loss_label}")
    ax.set_title("Quality vs quantity: pool-limited frontiers and crossovers (95% bands)")
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
    ax.set_title("Iso-loss compute multiplier vs target loss (fresh data)")
    ax.grid(alpha=0.3, which="both")
    if curves:
        ax.legend(fontsize=7)
    return _save(fig, stem)


def plot_loss_vs_tokens(points: pd.DataFrame, fits: dict[str, FitResult], stem: Path, loss_label: str = "loss",
                        pools: dict | None = None, rstar: float | None = None):
    """One panel per arm: observed loss vs tokens per model size, with the fitted L(N, D') at each N."""
    arms = list(fits)
    fig, axes = plt.subplots(1, len(arms), figsize=(4.2 * len(arms), 4), squeeze=False, sharey=True)
    sizes = sorted(points["params"].unique())
    cmap = plt.get_cmap("viridis")
    d = np.geomspace(points["tokens"].min() / 2, points["tokens"].max() * 2, 100)
    for ax, arm in zip(axes[0], arms):
        pts = points[points["arm"] == arm]
        u = (pools or {}).get(arm)
        d_eff = effective_tokens(d, np.full_like(d, u), rstar) if u and rstar else d
        for i, n in enumerate(sizes):
            color = cmap(i / max(1, len(sizes) - 1))
            sel = pts[pts["params"] == n]
            if len(sel):
                ax.scatter(sel["tokens"], sel["loss"], s=18, color=color)
            ax.plot(d, predict(fits[arm].params, n, d_eff), color=color, lw=1.4, label=f"N={n:.3g}")
        if u:
            ax.axvline(u, color="grey", lw=0.8, ls=":")
        ax.set_xscale("log")
        ax.set_title(arm)
        ax.set_xlabel("tokens D" + (" (dotted: pool size)" if u else ""))
        ax.grid(alpha=0.3, which="both")
    axes[0][0].set_ylabel(loss_label)
    axes[0][-1].legend(fontsize=7, title="non-embedding N")
    fig.suptitle("Loss vs tokens per model size (points: runs, lines: fitted L(N, D))")
    return _save(fig, stem)


def write_all(output: Path, used: pd.DataFrame, fit, extras: dict, baseline: str, label: str,
              planted: dict | None = None) -> list[Path]:
    """Every plot of the report; returns the written paths."""
    output = Path(output)
    fits = extras["fits"]
    figs = []
    figs += plot_loss_vs_compute(used, fits, output / "loss_vs_compute", label, extras["c_grid"],
                                 extras["frontier"], extras["bands"], extras["repeat_compute"])
    if len(fits) > 1:
        figs += plot_data_multiplier(extras["data_multipliers"], baseline, output / "data_multiplier", planted)
        figs += plot_crossover(extras["c_grid"], extras["frontier"], extras["bands"], extras["repeat_compute"],
                               extras["crossovers"], output / "crossover", label, float(used["flops"].max()))
    figs += plot_multiplier(extras["curves"], baseline, output / "multiplier", label)
    figs += plot_loss_vs_tokens(used, fits, output / "loss_vs_tokens", label, extras["pools"], fit.rstar)
    return figs
