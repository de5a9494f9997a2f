"""Model-based quality scoring with fastText (DCLM-style ``__label__hq`` vs ``__label__cc``, or graded 0-5 classes).

A filter step (see ``filters/base.py``): annotate -> ``quality_score``; decide -> ``"quality"`` where the score is
under the threshold. DCLM scores in one pass and filters in another with a percentile threshold taken over the
whole corpus; here every shard's scores go into a :class:`ScoreHistogram` (``filters/quality_hist.py``), the merged
histogram gives the threshold for a ``keep_top`` share (:meth:`QualityConfig.resolve_keep_top`), and the arms are
re-decided from the stored column without re-scoring.

Training (``filters/quality_train.py``) and scoring share ONE normalisation, :func:`normalize_for_classifier`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from .fasttext_util import load_model
from .quality_hist import ScoreHistogram

__all__ = ["NORMALIZATION", "QUALITY_COLUMN", "FastTextQuality", "QualityConfig", "ScoreHistogram",
           "normalize_for_classifier"]

QUALITY_COLUMN = "quality_score"
LABEL_PREFIX = "__label__"
MAX_CHARS = 20_000
# ASCII punctuation plus the typographic quotes, dashes, ellipsis and guillemets of web text.
PUNCTUATION = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\u201c\u201d\u2018\u2019\u2013\u2014\u2026\u00ab\u00bb"
# (char, replacement) pairs: each punctuation character becomes its own token; NUL (fastText's word separator too)
# becomes a space. One str.replace per character present: 15 us for 800 characters, 5x faster than str.translate
# with multi-character values and 14x faster than a regex substitution (measured).
_SPACING = tuple((c, f" {c} ") for c in PUNCTUATION) + (("\0", " "),)
# Identifies the normalisation; written into train_manifest.json and checked when a model is loaded for scoring.
NORMALIZATION = {"name": "assay-fasttext", "version": 1, "max_chars": MAX_CHARS}


def normalize_for_classifier(text: str) -> str:
    """The text a quality model is trained on and scores (one line, fastText's input format).

    In order (the tokenisation of fastText's own ``classification-example.sh`` ``normalize_text``, plus the line
    joining DCLM does before ``predict``):

    1. truncate the raw text to its first ``MAX_CHARS`` (20,000) characters: bounds the cost of giant documents;
       a fastText model averages word vectors, so a long prefix represents the document;
    2. lower-case (``str.lower``): case carries little quality signal and doubles the vocabulary;
    3. every punctuation character (ASCII, typographic quotes, dashes, ellipsis, guillemets) becomes its own
       token, so ``"end."`` and ``"end"`` share a vector and punctuation density (hash dumps, tables, URLs) is
       visible to the model. ``_`` is punctuation, so no token can start with ``__label__`` (fastText would read
       it as a label);
    4. whitespace of any kind (newlines, tabs, NUL, Unicode spaces) folds to single spaces, none at the ends;
    5. cut to ``MAX_CHARS`` again at a word boundary (step 3 lengthens the text), so the function is idempotent:
       ``normalize_for_classifier(normalize_for_classifier(t)) == normalize_for_classifier(t)``.

    No Unicode (NFKC) normalisation, no digit folding, no stop-word removal. Changing any of this changes
    ``NORMALIZATION`` (models record it; scoring refuses a model trained with another one).
    """
    t = text[:MAX_CHARS].lower()
    for c, spaced in _SPACING:
        if c in t:
            t = t.replace(c, spaced)
    t = " ".join(t.split())
    if len(t) > MAX_CHARS:
        cut = t.rfind(" ", 0, MAX_CHARS + 1)
        t = t[:cut] if cut > 0 else t[:MAX_CHARS]
    return t


def parse_share(v):
    """`10%`, `0.1` or 0.1 -> 0.1."""
    if isinstance(v, str):
        s = v.strip()
        try:
            return float(s[:-1]) / 100 if s.endswith("%") else float(s)
        except ValueError:
            raise ValueError(f"expected a share like 10% or 0.1, got {v!r}") from None
    return v


Share = Annotated[float, BeforeValidator(parse_share), Field(gt=0, le=1)]


def label_name(label: str) -> str:
    """``"hq"`` or ``"__label__hq"`` -> ``"__label__hq"``."""
    return label if label.startswith(LABEL_PREFIX) else LABEL_PREFIX + label


class QualityConfig(BaseModel):
    """Quality step settings. ``threshold`` is absolute; ``keep_top`` is a share resolved into a threshold from the
    global score histogram (:meth:`resolve_keep_top`) by the stage before deciding."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = Field(None, description="fastText .bin model path (MODEL_DIR/model.bin); not needed to "
                                                "re-decide from a stored quality_score column")
    label: str = Field("hq", description="label of the high-quality class, with or without __label__; a model "
                                         "whose labels are all grades (0..K) scores the expected grade / max grade "
                                         "(grades.max of its train_manifest.json, else K) instead")
    threshold: float | None = Field(None, ge=0, le=1, description="remove documents with quality_score < threshold")
    keep_top: Share | None = Field(None, description="keep this share of the corpus (global histogram), e.g. 10% "
                                                    "or 0.1")
    annotate_only: bool = Field(False, description="score, remove nothing")

    @model_validator(mode="after")
    def _label_set(self):
        if not self.label.removeprefix(LABEL_PREFIX):
            raise ValueError("label must not be empty")
        return self

    def resolve_keep_top(self, hist: ScoreHistogram) -> QualityConfig:
        """A copy whose ``threshold`` keeps about ``keep_top`` of the documents counted in ``hist``."""
        if self.keep_top is None:
            raise ValueError("resolve_keep_top needs keep_top")
        return self.model_copy(update={"threshold": hist.threshold_for_top(self.keep_top)})


class FastTextQuality:
    """Filter step: ``quality_score`` = p(high-quality label), or expected grade / max grade for a graded model."""

    name = "quality"

    def __init__(self, cfg: QualityConfig):
        self.cfg = cfg
        self.path = Path(cfg.model) if cfg.model else None
        self.label = label_name(cfg.label)
        self._model = None
        self._values: dict[str, float] | None = None   # graded model: label -> grade / max grade

    def __getstate__(self) -> dict:
        """Pickled without the loaded model (shipped to workers, reloaded there on first use)."""
        return {**self.__dict__, "_model": None, "_values": None}

    # ------------------------------------------------------------------------------------------------ model
    @property
    def model(self):
        """Loaded (and checked) on first use, so re-deciding from annotations needs no model."""
        if self._model is None:
            if self.path is None:
                raise ValueError("quality: no model configured (a model path is needed to score documents)")
            manifest = self._read_manifest()
            model = load_model(self.path)
            labels = list(model.get_labels())
            if self.label not in labels:
                grades = _grades(labels)
                if grades is None:
                    raise ValueError(f"quality model {self.path}: label {self.label!r} not among its labels "
                                     f"{labels}; set label to the high-quality class")
                top = float((manifest.get("grades") or {}).get("max") or max(grades.values()))
                self._values = {k: (v / top if top else 0.0) for k, v in grades.items()}
            self._model = model
        return self._model

    def _read_manifest(self) -> dict:
        """The train_manifest.json next to the model, if any; its normalisation must be this code's."""
        manifest = self.path.parent / "train_manifest.json"
        if not manifest.is_file():
            return {}
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ValueError(f"quality model {self.path}: unreadable {manifest}: {e}") from e
        norm = data.get("normalization")
        if norm is not None and norm != NORMALIZATION:
            raise ValueError(f"quality model {self.path} was trained with normalization {norm}, this code uses "
                             f"{NORMALIZATION}: retrain the model")
        return data

    # ------------------------------------------------------------------------------------------------ step
    def annotate(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        if not len(texts):
            return {QUALITY_COLUMN: np.array([], dtype=np.float32)}
        return {QUALITY_COLUMN: self.score_normalized([normalize_for_classifier(t) for t in texts])}

    def score_normalized(self, lines: list[str]) -> np.ndarray:
        """Scores of texts already passed through :func:`normalize_for_classifier` (float32 in [0, 1])."""
        model = self.model
        lines = [s + "\n" for s in lines]      # a trailing newline = the </s> token every training line ends with
        try:
            labels, probs = model.f.multilinePredict(lines, -1, 0.0, "strict")
        except (UnicodeError, TypeError):      # lone surrogates cannot be encoded to UTF-8: "?" (as in training)
            lines = [s.encode("utf-8", "replace").decode("utf-8") for s in lines]
            labels, probs = model.f.multilinePredict(lines, -1, 0.0, "strict")
        if self._values is None:
            score = _label_probs(labels, probs, self.label)
        else:
            values = self._values
            score = [sum(values[x] * float(q) for x, q in zip(lab, p)) / max(float(p.sum()), 1e-12)
                     for lab, p in zip(labels, probs)]
        return np.clip(np.asarray(score, dtype=np.float32), 0.0, 1.0)

    def decide(self, cols: Mapping[str, np.ndarray]) -> np.ndarray:
        score = np.asarray(cols[QUALITY_COLUMN], dtype=np.float64)
        if self.cfg.annotate_only:
            return np.full(len(score), None, dtype=object)
        if self.cfg.threshold is None:
            if self.cfg.keep_top is not None:
                raise ValueError("quality: keep_top needs a threshold from the global score histogram first "
                                 "(QualityConfig.resolve_keep_top)")
            return np.full(len(score), None, dtype=object)
        # float64 on both sides, so a score equal to a histogram bin edge is decided as the histogram counts it
        # (kept: the keep rule is score >= threshold). NaN (not scored) is kept.
        return np.where(score < float(self.cfg.threshold), "quality", None).astype(object)


def _label_probs(labels: list[list[str]], probs: list[np.ndarray], label: str) -> list[float]:
    """p(label) per row of a ``k=-1`` prediction (every label listed, most probable first)."""
    out = []
    for lab, p in zip(labels, probs):
        if lab[0] == label:
            out.append(p[0])
        elif len(lab) > 1 and lab[1] == label:
            out.append(p[1])
        else:
            out.append(p[lab.index(label)] if label in lab else 0.0)
    return out


def _grades(labels: Sequence[str]) -> dict[str, float] | None:
    """``{"__label__0": 0.0, ..., "__label__5": 5.0}`` if every label is a non-negative number, else None."""
    out = {}
    for lab in labels:
        try:
            v = float(lab.removeprefix(LABEL_PREFIX))
        except ValueError:
            return None
        if not np.isfinite(v) or v < 0:
            return None
        out[lab] = v
    return out
