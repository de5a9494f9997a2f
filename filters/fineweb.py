"""FineWeb quality filter (Penedo et al. 2024) with datatrove v0.10's rules and defaults."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from pydantic import BaseModel, ConfigDict

from filters.base import reasons_array
from filters.text import TERMINAL_PUNCTUATION, TextView, find_duplicates, safe_div, view


class FineWebConfig(BaseModel):
    """Thresholds of `FineWebQualityFilter` (datatrove defaults)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    line_punct_thr: float = 0.12
    line_punct_exclude_zero: bool = False
    stop_chars: list[str] | None = None  # None: datatrove's TERMINAL_PUNCTUATION (. ! ? and other scripts' marks)
    short_line_thr: float = 0.67
    short_line_length: int = 30
    char_duplicates_ratio: float = 0.01
    new_line_ratio: float = 0.3


class FineWebQualityFilter:
    """Share of non-empty lines ending in punctuation, share of short lines, duplicated-line characters, newlines per
    word. A text with no non-empty line is removed as ``fineweb_empty``."""

    name = "fineweb"

    def __init__(self, config: FineWebConfig | None = None):
        self.config = config or FineWebConfig()
        self._stop = tuple(self.config.stop_chars) if self.config.stop_chars is not None else tuple(TERMINAL_PUNCTUATION)

    def _signals(self, v: TextView) -> tuple[float, float, float, float, int]:
        text = v.text
        lines = v.nonempty_lines
        n_lines = len(lines)
        if n_lines == 0:  # datatrove: reason "empty"
            return (float("nan"),) * 4 + (0,)
        stop, short = self._stop, self.config.short_line_length
        punct = sum(1 for s in lines if s.endswith(stop))
        n_short = sum(1 for s in lines if len(s) <= short)
        dup_chars = find_duplicates(lines)[1]
        n_newlines = text.count("\n")
        return (
            punct / n_lines,
            n_short / n_lines,
            safe_div(dup_chars, len(text) - n_newlines),
            safe_div(n_newlines, v.word_stats[0]),
            n_lines,
        )

    def annotate(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        rows = np.array([self._signals(view(t)) for t in texts], dtype=np.float64).reshape(len(texts), 5)
        p = self.name
        return {
            f"{p}_line_punct_ratio": rows[:, 0],
            f"{p}_short_line_ratio": rows[:, 1],
            f"{p}_char_dup_ratio": rows[:, 2],
            f"{p}_list_ratio": rows[:, 3],
            f"{p}_nonempty_lines": rows[:, 4].astype(np.int64),
        }

    def decide(self, cols: Mapping[str, np.ndarray]) -> np.ndarray:
        c, p = self.config, self.name
        punct = np.asarray(cols[f"{p}_line_punct_ratio"])
        reasons = reasons_array(len(punct))
        open_ = np.ones(len(punct), dtype=bool)
        with np.errstate(invalid="ignore"):
            checks = [
                (np.asarray(cols[f"{p}_nonempty_lines"]) == 0, "empty"),
                ((punct < c.line_punct_thr) & ~((punct == 0) & c.line_punct_exclude_zero), "line_punct_ratio"),
                (np.asarray(cols[f"{p}_short_line_ratio"]) > c.short_line_thr, "short_line_ratio"),
                (np.asarray(cols[f"{p}_char_dup_ratio"]) > c.char_duplicates_ratio, "char_dup_ratio"),
                (np.asarray(cols[f"{p}_list_ratio"]) > c.new_line_ratio, "list_ratio"),
            ]
        for hit, name in checks:
            hit = hit & open_
            reasons[hit] = f"{p}_{name}"
            open_ &= ~hit
        return reasons
