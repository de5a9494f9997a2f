"""The filter-step protocol and the sequential runner (annotate, then decide).

A step computes signal columns for a batch of texts (`annotate`) and turns columns into a removal reason per
document (`decide`, `None` = keep) using only its thresholds. `apply_steps` chains steps like a datatrove
pipeline: in order, each step sees the text as modified by the steps before it, and a document's reason is that
of the FIRST step that rejects it. `decide_steps` re-derives the same reasons from the columns alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

TEXT_KEY = "text"


@runtime_checkable
class Step(Protocol):
    """A filter step: signal columns from texts, reasons from columns."""

    name: str

    def annotate(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Signal columns (one value per text); may include a modified text array under ``"text"``."""
        ...

    def decide(self, cols: Mapping[str, np.ndarray]) -> np.ndarray:
        """Removal reason per document (object array of str or None), from columns and thresholds only."""
        ...


def reasons_array(n: int) -> np.ndarray:
    """An object array of ``n`` Nones (all kept)."""
    return np.full(n, None, dtype=object)


def kept_mask(reasons: np.ndarray) -> np.ndarray:
    """True where the reason is None (document kept)."""
    return np.fromiter((r is None for r in reasons), dtype=bool, count=len(reasons))


def merge_reasons(reasons: np.ndarray, new: np.ndarray) -> None:
    """Fill ``new`` reasons into ``reasons`` where no earlier reason is set (in place)."""
    hit = kept_mask(reasons) & ~kept_mask(new)
    reasons[hit] = new[hit]


def _check_columns(step_name: str, cols: Mapping[str, np.ndarray], n: int) -> None:
    for key, col in cols.items():
        if len(col) != n:
            raise ValueError(f"step {step_name!r}: column {key!r} has {len(col)} values for {n} texts")


def apply_steps(
    texts: Sequence[str], steps: Sequence[Step], annotate_all: bool = True
) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Run ``steps`` in order over ``texts``.

    Returns ``(cols, reasons, texts_out)``: all signal columns, the first failing step's reason per document
    (None = kept) and the texts after every step's modification. With ``annotate_all=True`` every step annotates
    every document (signals exist for all, as ``--annotate-only`` needs); with False a step only sees documents
    still kept (datatrove's behaviour, faster) and its columns hold NaN/None for the others.
    """
    n = len(texts)
    current = np.empty(n, dtype=object)
    current[:] = list(texts)
    for i, t in enumerate(current):
        if not isinstance(t, str):
            raise TypeError(f"text #{i} is {type(t).__name__}, expected str")
    cols: dict[str, np.ndarray] = {}
    reasons = reasons_array(n)
    for step in steps:
        idx = np.arange(n) if annotate_all else np.flatnonzero(kept_mask(reasons))
        sub = current[idx].tolist()
        out = step.annotate(sub)
        _check_columns(step.name, out, len(sub))
        new_text = out.pop(TEXT_KEY, None)
        sub_cols = {k: np.asarray(v) for k, v in out.items()}
        step_reasons = step.decide(sub_cols)
        for key, col in sub_cols.items():
            if key in cols:
                raise ValueError(f"step {step.name!r}: column {key!r} already written by an earlier step")
            cols[key] = col if len(idx) == n else _scatter(col, idx, n)
        full_reasons = reasons_array(n)
        full_reasons[idx] = step_reasons
        merge_reasons(reasons, full_reasons)
        if new_text is not None:
            current[idx] = np.asarray(new_text, dtype=object)
    return cols, reasons, current


def _scatter(col: np.ndarray, idx: np.ndarray, n: int) -> np.ndarray:
    if col.dtype.kind in "fiub":
        full = np.full(n, np.nan, dtype=np.float64)
    else:
        full = np.full(n, None, dtype=object)
    full[idx] = col
    return full


def decide_steps(cols: Mapping[str, np.ndarray], steps: Sequence[Step]) -> np.ndarray:
    """Re-derive the reason per document from signal columns alone (first failing step wins)."""
    n = len(next(iter(cols.values()))) if cols else 0
    reasons = reasons_array(n)
    for step in steps:
        merge_reasons(reasons, step.decide(cols))
    return reasons
