"""C4 quality filter (Raffel et al. 2020) with datatrove v0.10's line and document rules and defaults.

Line rules (too-long word, citation removal, terminal punctuation, words per line, javascript, policy phrases)
rewrite the text, so they are applied in `annotate`, which returns the new text under ``"text"``. Document rules
(lorem ipsum, curly bracket, minimum sentences) are decided from columns: `annotate` records the index of the first
line (among lines that survive the earlier line rules) containing "lorem ipsum" / "{", so `decide` reproduces
datatrove's "first offending line wins" order. Only ``split_paragraph=True`` (C4's default: one line = one
paragraph) is implemented.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np
from pydantic import BaseModel, ConfigDict

from filters.base import reasons_array
from filters.text import C4_END_PUNCT, SENTENCIZER_PUNCT, word_tokenize

CITATION_RE = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
POLICY_SUBSTRINGS = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
_SENT_CHAR_RE = re.compile("[" + re.escape("".join(sorted(SENTENCIZER_PUNCT))) + "]")


class C4Config(BaseModel):
    """Options of `C4QualityFilter` (datatrove defaults; FineWeb's chain sets filter_no_terminal_punct=False)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    remove_citations: bool = True
    filter_no_terminal_punct: bool = True
    min_num_sentences: int = 5  # -1 disables
    min_words_per_line: int = 3  # -1 disables
    max_word_length: int = 1000  # -1 disables
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    filter_policy: bool = True


@lru_cache(maxsize=1 << 14)
def _is_punct(token: str) -> bool:
    """spaCy's ``is_punct``: every character is in a Unicode punctuation category."""
    return all(unicodedata.category(ch).startswith("P") for ch in token)


def count_sentences(line: str) -> int:
    """Sentences in ``line`` as spaCy's rule-based sentencizer counts them (approximation on regex tokens).

    A new sentence starts at the first non-punctuation token after a sentence-final mark (``.``, ``!``, ``?``, ...).
    """
    if not _SENT_CHAR_RE.search(line):
        return 1 if line.strip() else 0
    n = 1
    seen = False
    for tok in word_tokenize(line):
        in_punct = tok in SENTENCIZER_PUNCT
        if seen and not in_punct and not _is_punct(tok):
            n += 1
            seen = False
        elif in_punct:
            seen = True
    return n


class C4QualityFilter:
    """C4's line filters (rewriting the text) and document filters."""

    name = "c4"

    def __init__(self, config: C4Config | None = None):
        self.config = config or C4Config()

    def process(self, text: str) -> tuple[str, int, int, int, int, int]:
        """(new text, lines in, lines kept, sentences kept, first lorem-ipsum line or -1, first "{" line or -1)."""
        c = self.config
        kept: list[str] = []
        n_sent = 0
        lorem = curly = -1
        lines = text.splitlines()
        for i, raw in enumerate(lines):
            line = raw.strip()
            words = line.split()
            if c.max_word_length != -1 and any(len(w) > c.max_word_length for w in words):
                continue
            if c.remove_citations and "[" in line:
                line = CITATION_RE.sub("", line)
            if c.filter_no_terminal_punct and (not line.endswith(C4_END_PUNCT) or line.endswith("...")):
                continue
            if len(words) < c.min_words_per_line:
                continue
            line_l = line.lower()
            if lorem < 0 and "lorem ipsum" in line_l:
                lorem = i
            if c.filter_javascript and "javascript" in line_l:
                continue
            if curly < 0 and "{" in line:
                curly = i
            if c.filter_policy and any(p in line_l for p in POLICY_SUBSTRINGS):
                continue
            n_sent += count_sentences(line)
            kept.append(line)
        return "\n".join(kept).strip(), len(lines), len(kept), n_sent, lorem, curly

    def annotate(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        out = [self.process(t) for t in texts]
        n = len(out)
        p = self.name
        new_text = np.empty(n, dtype=object)
        new_text[:] = [o[0] for o in out]
        ints = np.array([o[1:] for o in out], dtype=np.int64).reshape(n, 5)
        return {
            "text": new_text,
            f"{p}_lines": ints[:, 0],
            f"{p}_lines_kept": ints[:, 1],
            f"{p}_num_sentences": ints[:, 2],
            f"{p}_lorem_ipsum_line": ints[:, 3],
            f"{p}_curly_bracket_line": ints[:, 4],
        }

    def decide(self, cols: Mapping[str, np.ndarray]) -> np.ndarray:
        c, p = self.config, self.name
        lorem = np.asarray(cols[f"{p}_lorem_ipsum_line"])
        curly = np.asarray(cols[f"{p}_curly_bracket_line"])
        sent = np.asarray(cols[f"{p}_num_sentences"])
        reasons = reasons_array(len(sent))
        has_lorem = (lorem >= 0) if c.filter_lorem_ipsum else np.zeros(len(sent), dtype=bool)
        has_curly = (curly >= 0) if c.filter_curly_bracket else np.zeros(len(sent), dtype=bool)
        lorem_first = has_lorem & (~has_curly | (lorem <= curly))
        reasons[lorem_first] = "c4_lorem_ipsum"
        reasons[has_curly & ~lorem_first] = "c4_curly_bracket"
        with np.errstate(invalid="ignore"):
            few = (sent < c.min_num_sentences) & ~has_lorem & ~has_curly
        reasons[few] = "c4_too_few_sentences"
        return reasons
