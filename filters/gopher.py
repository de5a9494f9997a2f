"""Gopher quality and repetition filters (Rae et al. 2021, Table A1), with datatrove v0.10's rules and defaults.

A threshold set to None (or 0, as datatrove tests truthiness) disables its check.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np

from filters.hashing import MIX
from pydantic import BaseModel, ConfigDict

from filters.base import reasons_array
from filters.text import TextView, find_duplicates, safe_div, view

_PARA_RE = re.compile(r"\n{2,}")
_LINE_RE = re.compile(r"\n+")
STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")


class GopherQualityConfig(BaseModel):
    """Thresholds of `GopherQualityFilter` (datatrove defaults)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    min_doc_words: int | None = 50
    max_doc_words: int | None = 100000
    min_avg_word_length: float | None = 3
    max_avg_word_length: float | None = 10
    max_symbol_word_ratio: float | None = 0.1
    max_bullet_lines_ratio: float | None = 0.9
    max_ellipsis_lines_ratio: float | None = 0.3
    max_non_alpha_words_ratio: float | None = 0.8
    min_stop_words: int | None = 2  # distinct stop words that must occur
    stop_words: list[str] = list(STOP_WORDS)


class GopherQualityFilter:
    """Document length, mean word length, symbol ratios, bullet/ellipsis lines, alphabetic words, stop words."""

    name = "gopher"

    def __init__(self, config: GopherQualityConfig | None = None):
        self.config = config or GopherQualityConfig()
        self._stop = frozenset(self.config.stop_words)

    def _signals(self, v: TextView) -> tuple:
        text = v.text
        n, n_words, mean_len, n_alpha = v.word_stats
        lines = v.lines
        n_lines = len(lines)
        bullets = end_ell = 0
        for s in lines:
            ls = s.lstrip()
            if ls.startswith(("•", "-")):
                bullets += 1
            if s.rstrip().endswith(("...", "…")):
                end_ell += 1
        counts = v.word_counts
        n_stop = sum(1 for w in self._stop if w in counts)  # distinct stop words present (datatrove v0.10)
        return (
            n_words,
            mean_len,
            safe_div(text.count("#"), n),
            safe_div(text.count("...") + text.count("…"), n),
            safe_div(bullets, n_lines),
            safe_div(end_ell, n_lines),
            safe_div(n_alpha, n),
            n_stop,
        )

    def annotate(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        rows = [self._signals(view(t)) for t in texts]
        cols = np.array(rows, dtype=np.float64).reshape(len(rows), 8)
        p = self.name
        return {
            f"{p}_word_count": cols[:, 0].astype(np.int64),
            f"{p}_avg_word_length": cols[:, 1],
            f"{p}_hash_ratio": cols[:, 2],
            f"{p}_ellipsis_ratio": cols[:, 3],
            f"{p}_bullet_lines_ratio": cols[:, 4],
            f"{p}_end_ellipsis_lines_ratio": cols[:, 5],
            f"{p}_alpha_words_ratio": cols[:, 6],
            f"{p}_distinct_stop_words": cols[:, 7].astype(np.int64),
        }

    def decide(self, cols: Mapping[str, np.ndarray]) -> np.ndarray:
        c, p = self.config, self.name
        words = np.asarray(cols[f"{p}_word_count"])
        avg = np.asarray(cols[f"{p}_avg_word_length"])
        sym = c.max_symbol_word_ratio
        checks = [
            (c.min_doc_words, lambda t: words < t, "short_doc"),
            (c.max_doc_words, lambda t: words > t, "long_doc"),
            (c.min_avg_word_length, lambda t: avg < t, "below_avg_threshold"),
            (c.max_avg_word_length, lambda t: avg > t, "above_avg_threshold"),
            (sym, lambda t: np.asarray(cols[f"{p}_hash_ratio"]) > t, "too_many_hashes"),
            (sym, lambda t: np.asarray(cols[f"{p}_ellipsis_ratio"]) > t, "too_many_ellipsis"),
            (c.max_bullet_lines_ratio, lambda t: np.asarray(cols[f"{p}_bullet_lines_ratio"]) > t, "too_many_bullets"),
            (
                c.max_ellipsis_lines_ratio,
                lambda t: np.asarray(cols[f"{p}_end_ellipsis_lines_ratio"]) > t,
                "too_many_end_ellipsis",
            ),
            (
                c.max_non_alpha_words_ratio,
                lambda t: np.asarray(cols[f"{p}_alpha_words_ratio"]) < t,
                "below_alpha_threshold",
            ),
            (c.min_stop_words, lambda t: np.asarray(cols[f"{p}_distinct_stop_words"]) < t, "enough_stop_words"),
        ]
        return _first_failing(len(words), checks, "gopher_")


def _first_failing(n: int, checks, prefix: str) -> np.ndarray:
    """Reasons from ordered (threshold, test, name) checks; falsy thresholds are skipped, first hit wins."""
    reasons = reasons_array(n)
    open_ = np.ones(n, dtype=bool)
    for thr, test, name in checks:
        if not thr:
            continue
        with np.errstate(invalid="ignore"):
            hit = open_ & np.asarray(test(thr), dtype=bool)
        reasons[hit] = prefix + name
        open_ &= ~hit
    return reasons


class GopherRepetitionConfig(BaseModel):
    """Thresholds of `GopherRepetitionFilter` (datatrove defaults)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    dup_line_frac: float | None = 0.3
    dup_para_frac: float | None = 0.3
    dup_line_char_frac: float | None = 0.2
    dup_para_char_frac: float | None = 0.2
    top_n_grams: list[tuple[int, float]] = [(2, 0.2), (3, 0.18), (4, 0.16)]
    dup_n_grams: list[tuple[int, float]] = [(5, 0.15), (6, 0.14), (7, 0.13), (8, 0.12), (9, 0.11), (10, 0.10)]


_MULT = MIX


def ngram_keys(ids: np.ndarray, n: int) -> np.ndarray:
    """A 64-bit key per word n-gram (polynomial hash of word ids; collisions ~ m^2 / 2^64)."""
    m = len(ids) - n + 1
    if m <= 0:
        return np.empty(0, dtype=np.uint64)
    u = ids.astype(np.uint64) + np.uint64(1)
    with np.errstate(over="ignore"):
        key = u[:m].copy()
        for k in range(1, n):
            key = key * _MULT + u[k : k + m]
    return key


def ngram_char_lengths(lengths: np.ndarray, n: int, sep: int) -> np.ndarray:
    """Character length of each n-gram joined with ``sep`` characters between words."""
    cs = np.concatenate(([0], np.cumsum(lengths)))
    m = max(len(lengths) - n + 1, 0)
    return cs[n : n + m] - cs[:m] + sep * (n - 1)


def _span_lengths(cs: np.ndarray, n: int, sep: int) -> np.ndarray:
    m = max(len(cs) - n, 0)
    return cs[n : n + m] - cs[:m] + sep * (n - 1)


def top_ngram_chars(keys: np.ndarray, char_lens: np.ndarray) -> int:
    """Characters of the most frequent n-gram times its count (ties: first seen, like Counter.most_common)."""
    uniq, first, counts = np.unique(keys, return_index=True, return_counts=True)
    top = counts.max()
    j = first[counts == top].min()
    return int(char_lens[j]) * int(top)


def all_dup_ngram_chars(keys: np.ndarray, char_lens: np.ndarray, n: int) -> int:
    """datatrove's ``find_all_duplicate``: greedy scan, a repeated n-gram adds its characters and skips n words."""
    return _dup_scan(keys, char_lens, n)[0]


def _dup_scan(keys: np.ndarray, char_lens: np.ndarray, n: int) -> tuple[int, bool]:
    """(duplicated characters, whether any n-gram repeats). Positions holding an n-gram's first occurrence are
    always "new", so the scan jumps between repeat positions and adds the ones in between with one ``set.update``."""
    m = len(keys)
    if m == 0:
        return 0, False
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    is_rep = first[inverse] < np.arange(m)
    if not is_rep.any():
        return 0, False
    rep_pos = np.flatnonzero(is_rep)
    # next_rep[i]: the first repeat position >= i (m if none)
    next_rep = np.full(m + 1, m, dtype=np.int64)
    next_rep[rep_pos] = rep_pos
    next_rep = np.minimum.accumulate(next_rep[::-1])[::-1].tolist()
    keys_l = keys.tolist()
    lens = char_lens.tolist()
    unique: set[int] = set()
    total, idx = 0, 0
    while idx < m:
        j = next_rep[idx]
        if j >= m:
            break
        if j > idx:
            unique.update(keys_l[idx:j])
        k = keys_l[j]
        if k in unique:
            total += lens[j]
            idx = j + n
        else:
            unique.add(k)
            idx = j + 1
    return total, True


class GopherRepetitionFilter:
    """Duplicate paragraphs/lines (count and character fractions), top n-gram and duplicated n-gram fractions."""

    name = "gopher_rep"

    def __init__(self, config: GopherRepetitionConfig | None = None):
        self.config = config or GopherRepetitionConfig()

    def _signals(self, v: TextView) -> list[float]:
        text = v.text
        n_chars = len(text)
        paras = _para_split(text.strip())
        p_dup, p_chars = find_duplicates(paras)
        lines = _line_split(text)
        l_dup, l_chars = find_duplicates(lines)
        out = [
            safe_div(p_dup, len(paras)),
            safe_div(p_chars, n_chars),
            safe_div(l_dup, len(lines)),
            safe_div(l_chars, n_chars),
        ]
        ids = v.word_ids
        cs = np.concatenate(([0], np.cumsum(v.word_lengths)))  # n-gram character lengths from prefix sums
        for n, _ in self.config.top_n_grams:
            keys = ngram_keys(ids, n)
            if len(keys) == 0:
                out.append(0.0)  # datatrove skips the check when there are no n-grams
                continue
            out.append(safe_div(top_ngram_chars(keys, _span_lengths(cs, n, 1)), n_chars))
        # A repeated (n+1)-gram contains a repeated n-gram: once some n has no repeat, larger n have none either.
        no_repeat_from = None
        dup = {}
        for n in sorted(k for k, _ in self.config.dup_n_grams):
            if no_repeat_from is not None:
                dup[n] = 0
                continue
            keys = ngram_keys(ids, n)
            # datatrove v0.10 joins the n-gram's words with "" here (no separator).
            dup[n], repeats = _dup_scan(keys, _span_lengths(cs, n, 0), n)
            if not repeats:
                no_repeat_from = n
        for n, _ in self.config.dup_n_grams:
            out.append(safe_div(dup[n], n_chars))
        return out

    def _columns(self) -> list[str]:
        p = self.name
        names = [f"{p}_dup_para_frac", f"{p}_dup_para_char_frac", f"{p}_dup_line_frac", f"{p}_dup_line_char_frac"]
        names += [f"{p}_top_{n}_gram_frac" for n, _ in self.config.top_n_grams]
        names += [f"{p}_dup_{n}_gram_frac" for n, _ in self.config.dup_n_grams]
        return names

    def annotate(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        names = self._columns()
        rows = np.array([self._signals(view(t)) for t in texts], dtype=np.float64).reshape(len(texts), len(names))
        return {name: rows[:, i] for i, name in enumerate(names)}

    def decide(self, cols: Mapping[str, np.ndarray]) -> np.ndarray:
        c, p = self.config, self.name
        n = len(cols[f"{p}_dup_para_frac"])

        def gt(col):
            return lambda t: np.asarray(cols[col]) > t

        checks = [
            (c.dup_para_frac, gt(f"{p}_dup_para_frac"), "dup_para_frac"),
            (c.dup_para_char_frac, gt(f"{p}_dup_para_char_frac"), "dup_para_char_frac"),
            (c.dup_line_frac, gt(f"{p}_dup_line_frac"), "dup_line_frac"),
            (c.dup_line_char_frac, gt(f"{p}_dup_line_char_frac"), "dup_line_char_frac"),
        ]
        checks += [(thr, gt(f"{p}_top_{k}_gram_frac"), f"top_{k}_gram") for k, thr in c.top_n_grams]
        checks += [(thr, gt(f"{p}_dup_{k}_gram_frac"), f"duplicated_{k}_n_grams") for k, thr in c.dup_n_grams]
        return _first_failing(n, checks, "gopher_rep_")


def _para_split(text: str) -> list[str]:
    return _PARA_RE.split(text)


def _line_split(text: str) -> list[str]:
    return _LINE_RE.split(text)

