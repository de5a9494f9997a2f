"""Fixed-bin score histograms over [0, 1]: per-shard counts that merge exactly and give global percentile thresholds.

Bins: ``bins`` equal bins with edges ``e_k = k / bins`` (float64). Bin ``k`` holds the scores ``e_k <= s < e_{k+1}``;
the last bin also holds ``s == 1``. A score is binned by comparing it with the float64 edges (``searchsorted``),
not by ``floor(s * bins)``, so "``s >= e_k``" and "bin index ``>= k``" are the same statement, with no rounding
disagreement. A score exactly on an edge belongs to the upper bin, and the keep rule everywhere is
``score >= threshold`` (``FastTextQuality.decide`` removes ``score < threshold``, comparing in float64).

Thresholds are bin edges. ``threshold_for_top(share)`` returns the HIGHEST edge ``e_k`` whose tail (documents with
``score >= e_k``) holds at least ``ceil(share * n)`` documents. Error bound (documented and tested):

- the kept share at that threshold is exactly ``share_above(e_k)`` (edges align with bins), it is never below the
  requested share, and it exceeds it by less than the share of documents in bin ``k`` (the one bin that holds the
  exact quantile) -- ``0 <= kept - share < count[k] / n``;
- the threshold is within one bin width of the exact quantile score ``q`` (the ``ceil(share*n)``-th highest
  score): ``e_k <= q < e_{k+1}`` (``<=`` in the last bin, which is closed at 1).

Genuinely tied scores cannot be split by any threshold, so a heavy bin (e.g. saturated fastText probabilities at
1.0) makes the first bound loose; that is a property of the scores, not of the binning. Counts add, so per-shard
histograms merged in any order equal the histogram of the concatenated scores, bit for bit. NaN scores (documents
not scored) are counted apart and never kept or dropped by a threshold computation: shares are over scored docs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable

import numpy as np

DEFAULT_BINS = 10_000


class ScoreHistogram:
    """Counts of scores in ``bins`` equal bins over [0, 1] (see the module docstring for the bounds)."""

    def __init__(self, bins: int = DEFAULT_BINS):
        if not 1 <= int(bins) <= 10_000_000:
            raise ValueError(f"bins must be in [1, 10^7], got {bins}")
        self.bins = int(bins)
        self.edges = np.arange(self.bins + 1, dtype=np.float64) / self.bins
        self.counts = np.zeros(self.bins, dtype=np.int64)
        self.nan = 0

    @property
    def n(self) -> int:
        """Number of scored (non-NaN) documents counted."""
        return int(self.counts.sum())

    def bin_of(self, scores) -> np.ndarray:
        """Bin index per score (scores in [0, 1])."""
        s = np.asarray(scores, dtype=np.float64)
        return np.minimum(np.searchsorted(self.edges, s, side="right") - 1, self.bins - 1)

    def add(self, scores: Iterable[float] | np.ndarray) -> ScoreHistogram:
        """Count ``scores`` (NaN counted apart; anything outside [0, 1] is an error). Returns self."""
        s = np.asarray(scores if isinstance(scores, np.ndarray) else list(scores), dtype=np.float64).ravel()
        nan = np.isnan(s)
        if nan.any():
            self.nan += int(nan.sum())
            s = s[~nan]
        if s.size and (s.min() < 0.0 or s.max() > 1.0):
            raise ValueError(f"scores must lie in [0, 1]; got min {s.min()}, max {s.max()}")
        self.counts += np.bincount(self.bin_of(s), minlength=self.bins)
        return self

    def merge(self, other: ScoreHistogram) -> ScoreHistogram:
        """Add ``other``'s counts into this histogram (same bins required). Returns self."""
        if other.bins != self.bins:
            raise ValueError(f"cannot merge histograms with {self.bins} and {other.bins} bins")
        self.counts += other.counts
        self.nan += other.nan
        return self

    @classmethod
    def merged(cls, hists: Iterable[ScoreHistogram], bins: int | None = None) -> ScoreHistogram:
        """One histogram from many (e.g. one per shard); ``bins`` needed only if ``hists`` may be empty."""
        out = None
        for h in hists:
            out = cls(h.bins) if out is None else out
            out.merge(h)
        if out is None:
            return cls(bins or DEFAULT_BINS)
        return out

    # ------------------------------------------------------------------------------------------------ queries
    def _tail(self) -> np.ndarray:
        """``tail[k]`` = documents with score >= e_k, for k = 0..bins (tail[bins] = 0)."""
        return np.concatenate([np.cumsum(self.counts[::-1])[::-1], [0]])

    def threshold_for_top(self, share: float) -> float:
        """The highest bin edge keeping at least ``ceil(share * n)`` documents (``score >= threshold``)."""
        if not 0.0 < share <= 1.0:
            raise ValueError(f"share must be in (0, 1], got {share}")
        n = self.n
        if n == 0:
            raise ValueError("empty histogram: no scores to take a threshold from")
        target = max(1, math.ceil(round(share * n, 6)))  # round: 0.3 * 10 = 3.0000000000000004
        tail = self._tail()
        k = int(np.flatnonzero(tail >= target)[-1])     # tail is non-increasing and tail[0] = n >= target
        return float(self.edges[k])

    def share_above(self, threshold: float) -> float:
        """Share of scored documents with ``score >= threshold``: exact when ``threshold`` is a bin edge below 1
        (as :meth:`threshold_for_top` returns); otherwise the bin holding the threshold is counted as removed, so the
        result is a lower bound short by at most that bin's share."""
        n = self.n
        if n == 0:
            return 0.0
        if threshold <= 0.0:
            return 1.0
        if threshold > 1.0:
            return 0.0
        k = int(np.searchsorted(self.edges, float(threshold), side="left"))  # first edge >= threshold, 1..bins
        return float(self._tail()[k] / n)

    # ------------------------------------------------------------------------------------------------ JSON
    def to_dict(self) -> dict:
        nz = np.flatnonzero(self.counts)
        return {"kind": "score_histogram", "version": 1, "bins": self.bins, "range": [0.0, 1.0],
                "n": self.n, "nan": self.nan, "nonzero": [[int(i), int(self.counts[i])] for i in nz]}

    def to_json(self) -> str:
        """Compact JSON: the bin count and the non-empty bins as ``[index, count]`` pairs."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, d: dict) -> ScoreHistogram:
        if d.get("kind") != "score_histogram" or d.get("version") != 1:
            raise ValueError(f"not a version-1 score histogram: kind={d.get('kind')!r} version={d.get('version')!r}")
        h = cls(int(d["bins"]))
        for i, c in d["nonzero"]:
            if not 0 <= int(i) < h.bins or int(c) < 0:
                raise ValueError(f"score histogram: bad bin [{i}, {c}] for {h.bins} bins")
            h.counts[int(i)] += int(c)
        h.nan = int(d.get("nan", 0))
        if "n" in d and int(d["n"]) != h.n:
            raise ValueError(f"score histogram: n={d['n']} but the bins hold {h.n}")
        return h

    @classmethod
    def from_json(cls, text: str) -> ScoreHistogram:
        return cls.from_dict(json.loads(text))

    def __eq__(self, other) -> bool:
        return (isinstance(other, ScoreHistogram) and self.bins == other.bins and self.nan == other.nan
                and bool(np.array_equal(self.counts, other.counts)))

    def __repr__(self) -> str:
        return f"ScoreHistogram(bins={self.bins}, n={self.n}, nan={self.nan})"
