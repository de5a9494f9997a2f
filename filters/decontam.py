"""Decontamination against evaluation data: find documents that contain a substantial passage of an evaluation item,
verbatim or lightly edited, whatever the lengths of item and document, without flagging independent text on the
same topic.

Method (plain functions, no Ray, no pipeline imports):
1. **Index.** Each evaluation item is normalised like dedupe (`filters.dedupe.normalize.words`: NFKC, lower case,
   punctuation folded) and cut into word n-grams (``ngram``, 8), hashed to 64 bits (xxh3, stable across processes,
   so an index built on the driver works in every worker). Items shorter than ``ngram`` words (but at least
   ``min_item_words``) are indexed as one gram of their full length; items longer than ``max_item_words`` (300) are
   indexed as overlapping chunks of that many words (stride half of it; matches report the item's id), so any
   copied passage of up to 150 words lies whole inside one chunk. Grams shared by more than ``max_items_per_gram``
   items are template text of the benchmark ("which of the following ...") and are dropped.
2. **Candidates.** Every n-gram of the document is looked up: an item (chunk) with a shared n-gram is a candidate.
3. **The matched passage.** For each candidate, the region of the document around its hits (from the first hit to
   the last, widened by the chunk's length on both sides) is aligned with the chunk (`difflib.SequenceMatcher`,
   autojunk off); the **matched words** are the chunk's words inside matching blocks of at least ``min_block`` (3)
   words, so single shared words such as "the" do not count and edits break a copy into blocks rather than end it.
4. **Decision** on the matched passage's size in absolute words and its share of both texts: contaminated when the
   matched words are at least ``min_matched_words`` (30: a substantial passage, whatever the item's length), or at
   least ``threshold`` (0.5) of the item's words (a short item copied whole or nearly), or at least ``doc_share``
   (0.3) of the document's words (a short answer that is mostly the item). The previous rule (a share of the item
   only) let a short answer that copied a third of a long article pass.

Measured (benchmarks/decontam.py through `assay decontaminate`, RESULTS.md "Decontamination"): on the PAN 2013
text-alignment corpus (suspicious web essays with verbatim passages of source pages; same-topic pages of other
authors as negatives), recall 1.00 on copies in whole documents and in 250-word excerpts, 1.00 / 0.97-0.98 with 10%
/ 20% of the copied words edited, 0.5% false positives on same-topic pages (two census-template town pages), against
1.00 / 0.88-1.00 and 2.0-3.6% for the plain "any shared 10-gram" rule. The defaults were chosen there (8-grams
recall 20%-edited excerpts 0.97 where 10-grams reach 0.88, at the same false positives; 30 words is the smallest
absolute size that keeps the false positives at 0.5%; the document share changes nothing on PAN13 between 0.2
and 0.5 and guards short documents).
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
    """A filter step (`filters.base.Step`): annotate -> ``decontam_score`` (share of the item), ``decontam_item``,
    ``decontam_hits``, ``decontam_matched`` (words), ``decontam_doc_share``; decide -> ``"contaminated"`` by
    `EvalIndex.decide` over those columns (the same rule as `EvalIndex.check`)."""

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
