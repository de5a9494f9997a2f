"""Decontamination against evaluation data: find documents that contain an evaluation item, verbatim or lightly
edited, whole or embedded in longer text, without flagging independent text on the same topic.

Method (plain functions, no Ray, no pipeline imports):
1. **Index.** Each evaluation item is normalised like dedupe (`filters.dedupe.normalize.words`: NFKC, lower case,
   punctuation folded) and cut into word n-grams, hashed to 64 bits (xxh3, stable across processes, so an index
   built on the driver works in every worker). Items shorter than ``ngram`` words (but at least
   ``min_item_words``) are indexed as one gram of their full length; items longer than ``max_item_words`` are
   indexed as overlapping chunks of that many words (stride half of it; matches report the item's id), so a copied
   part of a long passage is matched against a chunk that contains it whole. Grams shared by more than
   ``max_items_per_gram`` items are template text of the benchmark ("which of the following ...") and are dropped.
2. **Candidates.** Every n-gram of the document is looked up; the hits of one item are grouped into clusters
   (hits closer than the item's length).
3. **Confirmation over the matched region**, not the whole document: for each cluster, the region is the
   cluster's span widened by the item's length on both sides; `difflib.SequenceMatcher` (autojunk off) aligns the
   item's words with the region's, and the **score** is the share of the item's words inside matching blocks of at
   least ``min_block`` words (single shared words such as "the" do not count). A document is contaminated when its
   best score reaches ``threshold`` (0.5, Cosmopedia's ``diff_threshold``), or when at least ``min_matched_words``
   (50) of one item's words are matched (a paragraph copied from a long item). Because the region is local, a
   copied paragraph inside a long answer scores as high as the paragraph alone.

Measurement (the ``ngram`` choice; the planted cases of tests/test_decontam.py at a larger scale, rerun with
``python tests/test_decontam.py``).
Evaluation items: 200 prose paragraphs (40-150 words) of the Python language reference (`pydoc_data.topics`,
shipped with CPython; chosen so no two share an 8-gram) + 12 hand-written science/history/maths passages.
Documents: every item verbatim or lightly edited (that share of its words substituted, deleted or doubled at random
positions), alone or embedded at a random place among 4-8 other reference paragraphs; "flag" for a positive means
flagged with the right item id. Negatives: 12 hand-written passages on the same topics as the 12 hand-written items,
written independently (alone and embedded); for each reference item, the other paragraphs of its reference page
(same subject, author and vocabulary, other evaluation items removed); and 200 documents of 8 paragraphs from other
pages. "cand" = at least one shared n-gram, "flag" = confirmed (score >= 0.5).

| case                                 | 13 cand | 13 flag | 10 cand | 10 flag | 8 cand | 8 flag |
|--------------------------------------|--------:|--------:|--------:|--------:|-------:|-------:|
| verbatim, whole (212)                |   1.000 |   1.000 |   1.000 |   1.000 |  1.000 |  1.000 |
| verbatim, embedded                   |   1.000 |   1.000 |   1.000 |   1.000 |  1.000 |  1.000 |
| 5% of words edited, whole            |   1.000 |   1.000 |   1.000 |   1.000 |  1.000 |  1.000 |
| 10% edited, whole                    |   0.943 |   0.943 |   0.995 |   0.995 |  0.995 |  0.995 |
| 10% edited, embedded                 |   0.934 |   0.934 |   0.972 |   0.972 |  1.000 |  1.000 |
| 20% edited, whole                    |   0.542 |   0.542 |   0.854 |   0.854 |  0.953 |  0.953 |
| hand-written same topic (12)         |   0.000 |   0.000 |   0.000 |   0.000 |  0.000 |  0.000 |
| hand-written same topic, embedded    |   0.000 |   0.000 |   0.000 |   0.000 |  0.000 |  0.000 |
| reference, same page (180)           |   0.306 |   0.128 |   0.361 |   0.128 |  0.406 |  0.128 |
| reference, other pages (200)         |   0.000 |   0.000 |   0.000 |   0.000 |  0.000 |  0.000 |

Reading: every flag on same-page reference text comes from two templated paragraph pairs that repeat 67-69% of
their words in long runs (the ``for``/``while`` "break ... continue" paragraphs, the ``+``/``*`` operator
paragraphs): near-copies by any measure, and flagged alike by every n, because confirmation decides. The n-gram
length changes recall on edited copies: 13-grams miss 6% of copies with 10% of the words edited and 46% at 20%;
10-grams miss 0.5-3% and 15%. 8-grams recall a little more but send 12% more same-page text to confirmation.
Default: **ngram=10** (Cosmopedia's choice; also phi-1's), threshold 0.5, min_block 3. Time: 0.9-1.8 s per n for the
2,700 documents of the table against 212 items, on one core.
"""
from __future__ import annotations

import difflib
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import xxhash
from pydantic import BaseModel, ConfigDict, Field

from filters.base import reasons_array
from filters.dedupe.normalize import words as normalized_words


class DecontamConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    ngram: int = Field(8, ge=3, description="word n-gram length of the candidate search (a shared n-gram makes a "
                       "candidate; the decision is the region's)")
    min_matched_words: int = Field(30, ge=1, description="contaminated: this many words of one item matched in "
                                   "the region, whatever the lengths of the item and the document")
    threshold: float = Field(0.5, gt=0, le=1, description="also contaminated: this share of the item's words "
                             "matched (of its chunk, for items longer than max_item_words)")
    doc_share: float = Field(0.3, gt=0, le=1, description="also contaminated: the matched words are this share of "
                             "the document's words")
    min_block: int = Field(3, ge=1, description="shortest run of words that counts as matched")
    min_item_words: int = Field(8, ge=1, description="shorter evaluation items are not indexed")
    max_item_words: int = Field(300, ge=20, description="longer items are indexed as overlapping chunks of this "
                                "many words (stride half of it)")
    max_items_per_gram: int = Field(50, ge=1, description="grams in more items are benchmark boilerplate")


@dataclass(frozen=True)
class Match:
    """Result for one document: the best-matching evaluation item (if any n-gram was shared) and its score."""

    contaminated: bool
    item_id: str | None = None
    score: float = 0.0
    hits: int = 0                              # n-gram hits of that item in the document
    region: tuple[int, int] | None = None      # word offsets (normalised words) of the confirmed region
    matched_words: int = 0                     # the item's words inside matching blocks of the region
    doc_share: float = 0.0                     # matched words / the document's words


def _hash(words: Sequence[str]) -> int:
    return xxhash.xxh3_64_intdigest(" ".join(words).encode())


class EvalIndex:
    """An n-gram index of evaluation items; `check` one document or `check_many`."""

    def __init__(self, config: DecontamConfig | None = None):
        self.config = config or DecontamConfig()
        self.ids: list[str] = []                 # original item id per indexed unit (chunk)
        self.units: list[list[str]] = []         # normalised words per unit
        self._grams: dict[int, list[int]] = defaultdict(list)
        self._lengths: set[int] = set()          # gram lengths in use (ngram, plus short items' lengths)
        self.skipped: list[str] = []             # items too short to index
        self._frozen = False

    @classmethod
    def build(cls, items: Mapping[str, str] | Iterable[tuple[str, str]],
              config: DecontamConfig | None = None) -> "EvalIndex":
        index = cls(config)
        pairs = items.items() if isinstance(items, Mapping) else items
        for item_id, text in pairs:
            index.add(str(item_id), text)
        return index.freeze()

    def add(self, item_id: str, text: str) -> None:
        if self._frozen:
            raise RuntimeError("the index is frozen; build a new one")
        c = self.config
        w = normalized_words(text)
        if len(w) < c.min_item_words:
            self.skipped.append(item_id)
            return
        size, stride = c.max_item_words, c.max_item_words // 2
        if len(w) <= size:
            chunks = [w]
        else:  # overlapping, so any passage of up to `stride` words lies whole inside one chunk
            chunks = [w[i:i + size] for i in range(0, len(w) - stride, stride)]
        for chunk in chunks:
            u = len(self.units)
            self.ids.append(item_id)
            self.units.append(chunk)
            n = min(c.ngram, len(chunk))
            self._lengths.add(n)
            for h in {_hash(chunk[i:i + n]) for i in range(len(chunk) - n + 1)}:
                self._grams[h].append(u)

    def freeze(self) -> "EvalIndex":
        """Drop boilerplate grams (in more than ``max_items_per_gram`` units); no more `add` after this."""
        limit = self.config.max_items_per_gram
        self._grams = {h: us for h, us in self._grams.items() if len(us) <= limit}
        self._frozen = True
        return self

    def __len__(self) -> int:
        return len(self.units)

    def candidates(self, doc_words: Sequence[str]) -> dict[int, list[int]]:
        """Unit -> sorted start positions of its n-grams in the document."""
        if not self._frozen:
            self.freeze()
        hits: dict[int, list[int]] = defaultdict(list)
        for n in self._lengths:
            for i in range(len(doc_words) - n + 1):
                for u in self._grams.get(_hash(doc_words[i:i + n]), ()):
                    hits[u].append(i)
        return {u: sorted(set(p)) for u, p in hits.items()}

    def region_score(self, unit: int, doc_words: Sequence[str], positions: Sequence[int]
                     ) -> tuple[int, tuple[int, int]]:
        """(matched words, region) of one unit: the region spans the unit's hits widened by the unit's length on
        both sides; matched words are the unit's words inside matching blocks of at least ``min_block`` words of
        an alignment (`difflib.SequenceMatcher`, autojunk off) of the unit with the region."""
        item = self.units[unit]
        n = min(self.config.ngram, len(item))
        a, b = max(0, positions[0] - len(item)), min(len(doc_words), positions[-1] + n + len(item))
        sm = difflib.SequenceMatcher(None, item, list(doc_words[a:b]), autojunk=False)
        matched = sum(blk.size for blk in sm.get_matching_blocks() if blk.size >= self.config.min_block)
        return matched, (a, b)

    def decide(self, matched, item_share, doc_share):
        """Contaminated: the matched words are a substantial passage in absolute terms, or most of the item, or a
        large share of the document (scalars or numpy arrays)."""
        c = self.config
        return (matched >= c.min_matched_words) | (item_share >= c.threshold) | (
            (doc_share >= c.doc_share) & (matched >= c.min_block))

    def check(self, text: str) -> Match:
        """The best match of one document (contaminated first, then the most matched words)."""
        doc = normalized_words(text)
        best = Match(False)
        for unit, positions in self.candidates(doc).items():
            matched, region = self.region_score(unit, doc, positions)
            item_share, doc_share = round(matched / len(self.units[unit]), 4), round(matched / len(doc), 4)
            flagged = bool(self.decide(matched, item_share, doc_share))
            if (flagged, matched) > (best.contaminated, best.matched_words) or best.item_id is None:
                best = Match(flagged, self.ids[unit], item_share, len(positions), region, matched, doc_share)
        return best

    def check_many(self, texts: Sequence[str]) -> list[Match]:
        return [self.check(t) for t in texts]


class Decontaminator:
    """A filter step (`filters.base.Step`): annotate -> ``decontam_score``, ``decontam_item``, ``decontam_hits``,
    ``decontam_matched``; decide -> ``"contaminated"`` where the score reaches the threshold (or the matched words
    reach ``min_matched_words``)."""

    name = "decontam"

    def __init__(self, index: EvalIndex):
        self.index = index

    def annotate(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        matches = self.index.check_many(texts)
        return {
            "decontam_score": np.array([m.score for m in matches], dtype=np.float64),
            "decontam_item": np.array([m.item_id for m in matches], dtype=object),
            "decontam_hits": np.array([m.hits for m in matches], dtype=np.int64),
            "decontam_matched": np.array([m.matched_words for m in matches], dtype=np.int64),
            "decontam_doc_share": np.array([m.doc_share for m in matches], dtype=np.float64),
        }

    def decide(self, cols: Mapping[str, np.ndarray]) -> np.ndarray:
        flagged = self.index.decide(np.asarray(cols["decontam_matched"], dtype=np.int64),
                                    np.asarray(cols["decontam_score"], dtype=np.float64),
                                    np.asarray(cols["decontam_doc_share"], dtype=np.float64))
        reasons = reasons_array(len(flagged))
        reasons[flagged] = "contaminated"
        return reasons


def measure(index: EvalIndex, cases: Mapping[str, Sequence[str]]) -> dict[str, dict[str, float]]:
    """Per case name: the share of documents with a candidate (any shared n-gram) and the share flagged."""
    out = {}
    for name, docs in cases.items():
        cand = flag = 0
        for d in docs:
            m = index.check(d)
            cand += m.item_id is not None
            flag += m.contaminated
        out[name] = {"candidate": cand / max(1, len(docs)), "flagged": flag / max(1, len(docs)), "n": len(docs)}
    return out
