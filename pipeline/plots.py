"""Figures people compare: matplotlib (Agg), each written as PNG and SVG, atomically."""
from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from pipeline.io import atomic_path  # noqa: E402


def save_figure(fig, stem: Path) -> list[Path]:
    """Write `stem.png` and `stem.svg`; return their paths."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    out = []
    fig.tight_layout()
    for ext in ("png", "svg"):
        path = stem.with_suffix(f".{ext}")
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=ext, dpi=110)
        out.append(path)
    plt.close(fig)
    return out


def plot_score_histogram(counts, threshold: float | None, stem: Path, title: str) -> list[Path]:
    """A score histogram over [0, 1] (coarsened to at most 100 bars) with the keep threshold marked."""
    import numpy as np

    counts = np.asarray(counts, dtype=np.float64)
    k = max(1, len(counts) // 100)
    coarse = counts[: len(counts) // k * k].reshape(-1, k).sum(axis=1)
    edges = np.linspace(0, 1, len(coarse) + 1)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(edges[:-1], coarse, width=edges[1] - edges[0], align="edge", color="#4c72b0")
    if threshold is not None:
        ax.axvline(threshold, color="#c44e52", ls="--", label=f"keep >= {threshold:.4f}")
        ax.legend()
    ax.set_xlabel("quality_score")
    ax.set_ylabel("documents")
    ax.set_title(title)
    return save_figure(fig, stem)
