"""Training of fastText quality classifiers (DCLM recipe) and the metrics that go with them.

- :func:`train_quality_classifier`: positives vs negatives (``__label__hq`` vs ``__label__cc``, DCLM's labels),
  ``fasttext.train_supervised`` with word bigrams (DCLM: "we did not deviate from their default values", i.e.
  lr 0.1, dim 100, epoch 5, minCount 1, plus ``wordNgrams=2``), balanced classes, a seeded held-out split.
- :func:`train_from_scores`: FineWeb-Edu-style 0-5 grades, either binned (``score >= 3`` is high quality, the
  FineWeb-Edu release threshold) or one class per grade (scored as expected grade / max grade).
- :func:`train_with_retry`: fasttext-numpy2 intermittently raises ``RuntimeError: Encountered NaN`` during training;
  the trainer is retried with a new seed on a reshuffled file, and every attempt is recorded.
- :func:`classification_metrics`: exact rank-based ROC AUC (ties count one half) and threshold metrics.

MODEL_DIR gets ``model.bin``, ``train_manifest.json`` (sources, counts, seed, hyper-parameters, attempts,
normalisation) and ``metrics.json`` (held-out metrics at the operating threshold). Texts go through
:func:`filters.quality.normalize_for_classifier`, the function scoring uses.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .atomic import atomic_path
from .fasttext_util import zeroed_allocations
from .quality import LABEL_PREFIX, NORMALIZATION, FastTextQuality, QualityConfig, normalize_for_classifier

POSITIVE, NEGATIVE = "hq", "cc"
MODEL_FILE, MANIFEST_FILE, METRICS_FILE = "model.bin", "train_manifest.json", "metrics.json"
NAN_MESSAGE = "Encountered NaN"


class TrainingFailed(RuntimeError):
    """Every attempt hit fastText's NaN; ``attempts`` lists them."""

    def __init__(self, message: str, attempts: list[dict]):
        super().__init__(message)
        self.attempts = attempts


# ---------------------------------------------------------------------------------------------------- metrics

def roc_auc(labels, scores) -> float | None:
    """Exact ROC AUC = P(score of a random positive > score of a random negative) + P(tie) / 2 (Mann-Whitney U
    with mid-ranks); None when one class is absent."""
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    n_pos = int(y.sum())
    n_neg = len(y) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    _, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    mid = np.cumsum(counts) - (counts - 1) / 2.0          # 1-based mid-rank of each distinct score
    rank_sum = float(mid[inverse][y].sum())
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def classification_metrics(labels, scores, threshold: float) -> dict[str, Any]:
    """Binary metrics with prediction ``score >= threshold``. ``labels``: 1/True = positive (high quality).

    Keys: ``roc_auc``, ``accuracy``, ``precision``, ``recall``, ``threshold``, ``n``, ``positives`` and the
    confusion counts ``tp``, ``fp``, ``tn``, ``fn``. A metric with a zero denominator (no documents, no positive
    prediction, no positive label, one class only for AUC) is None.
    """
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    if y.shape != s.shape or y.ndim != 1:
        raise ValueError(f"labels and scores must be 1-d of equal length, got {y.shape} and {s.shape}")
    pred = s >= float(threshold)
    tp, fp = int((pred & y).sum()), int((pred & ~y).sum())
    fn, tn = int((~pred & y).sum()), int((~pred & ~y).sum())
    n = len(y)

    def ratio(a: int, b: int) -> float | None:
        return a / b if b else None

    return {"roc_auc": roc_auc(y, s), "accuracy": ratio(tp + tn, n), "precision": ratio(tp, tp + fp),
            "recall": ratio(tp, tp + fn), "threshold": float(threshold), "n": n, "positives": int(y.sum()),
            "tp": tp, "fp": fp, "tn": tn, "fn": fn}


# ---------------------------------------------------------------------------------------------------- retry

def train_with_retry(train_file: str | Path, params: Mapping[str, Any], *, seed: int, max_attempts: int = 5,
                     nan_lr_factor: float = 1.0, trainer: Callable[..., Any] | None = None,
                     reshuffle: Callable[[int], None] | None = None,
                     zero_memory: bool = True) -> tuple[Any, list[dict]]:
    """``trainer(input=train_file, seed=..., **params)``, retried on fastText's "Encountered NaN".

    With ``zero_memory`` every attempt runs under :func:`~filters.fasttext_util.zeroed_allocations`, which removes
    the usual cause of the NaN (uninitialised rows of the input matrix; see there) and makes ``thread=1`` training
    reproducible for a seed; the retry stays for real divergence (too high a learning rate) and other platforms.

    Attempt ``a`` (0-based) uses seed ``seed + a``; before every retry ``reshuffle(new_seed)`` rewrites the training
    file in a new order and the learning rate is multiplied by ``nan_lr_factor`` (1.0 = reseed only, as DCLM's
    defaults stay untouched). Other errors propagate at once. Returns ``(model, attempts)``; raises
    :class:`TrainingFailed` when all ``max_attempts`` hit NaN.
    """
    if max_attempts < 1:
        raise ValueError("max_attempts must be >= 1")
    if trainer is None:
        import fasttext

        trainer = fasttext.train_supervised
    params = dict(params)
    lr = float(params.pop("lr", 0.1))
    attempts: list[dict] = []
    for a in range(max_attempts):
        s = seed + a
        if a and reshuffle is not None:
            reshuffle(s)
        t0 = time.perf_counter()
        zeroed = False
        try:
            with zeroed_allocations() if zero_memory else contextlib.nullcontext(False) as zeroed:
                model = trainer(input=str(train_file), seed=s, lr=lr, **params)
        except RuntimeError as e:
            if NAN_MESSAGE not in str(e):
                raise
            attempts.append({"attempt": a + 1, "seed": s, "lr": lr, "ok": False, "error": str(e),
                             "zeroed_memory": zeroed, "seconds": round(time.perf_counter() - t0, 3)})
            lr *= nan_lr_factor
            continue
        attempts.append({"attempt": a + 1, "seed": s, "lr": lr, "ok": True, "zeroed_memory": zeroed,
                         "seconds": round(time.perf_counter() - t0, 3)})
        return model, attempts
    raise TrainingFailed(f"fastText training hit NaN in all {max_attempts} attempts "
                         f"(seeds {seed}..{seed + max_attempts - 1}, last lr {attempts[-1]['lr']:g})", attempts)


# ---------------------------------------------------------------------------------------------------- sampling

def _sample_class(texts: Iterable[str], cap: int | None, rng: random.Random) -> tuple[list[str], dict[str, int]]:
    """Normalised non-empty texts; with ``cap``, a uniform reservoir sample of at most ``cap`` (memory-bounded)."""
    kept: list[str] = []
    seen = empty = 0
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(f"training texts must be str, got {type(text).__name__}")
        norm = normalize_for_classifier(text)
        if not norm:
            empty += 1
            continue
        seen += 1
        if cap is None or len(kept) < cap:
            kept.append(norm)
        else:
            j = rng.randrange(seen)
            if j < cap:
                kept[j] = norm
    return kept, {"input": seen + empty, "empty": empty, "nonempty": seen, "sampled": len(kept)}


def _heldout_size(n: int, frac: float) -> int:
    if frac <= 0 or n < 2:
        return 0
    return min(n - 1, max(1, round(n * frac)))


def _write_lines(path: Path, rows: list[tuple[str, str]], seed: int) -> None:
    order = list(range(len(rows)))
    random.Random(seed).shuffle(order)
    with open(path, "w", encoding="utf-8", errors="replace") as fh:   # lone surrogate -> "?", as when scoring
        for i in order:
            label, text = rows[i]
            fh.write(f"{LABEL_PREFIX}{label} {text}\n")


def _write_json(path: Path, obj: Any) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(json.dumps(obj, indent=2, sort_keys=False) + "\n", encoding="utf-8")


def _fasttext_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("fasttext-numpy2", "fasttext", "fasttext-wheel"):
        try:
            return f"{dist} {version(dist)}"
        except PackageNotFoundError:
            continue
    return None


# ---------------------------------------------------------------------------------------------------- training

def _train(groups: Mapping[str, Iterable[str]], out_dir: str | Path, *, positive: Callable[[str], bool],
           recipe: dict, seed: int, heldout_frac: float, balance: bool, max_per_class: int | None,
           threshold: float, fasttext_params: dict, max_attempts: int, nan_lr_factor: float,
           sources: Any, trainer: Callable[..., Any] | None, grades: dict | None = None) -> dict:
    """Shared body: sample, balance, split, write, train with retry, save, score the held-out split."""
    if not 0 <= heldout_frac < 1:
        raise ValueError(f"heldout_frac must be in [0, 1), got {heldout_frac}")
    if max_per_class is not None and max_per_class < 1:
        raise ValueError("max_per_class must be >= 1")
    try:
        json.dumps(sources)
    except (TypeError, ValueError) as e:
        raise ValueError(f"sources must be JSON-serialisable (it goes into {MANIFEST_FILE}): {e}") from e
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    counts: dict[str, dict[str, int]] = {}
    samples: dict[str, list[str]] = {}
    for label, texts in groups.items():
        samples[label], counts[label] = _sample_class(texts, max_per_class, random.Random(f"{seed}:sample:{label}"))
    present = [lab for lab in samples if samples[lab]]
    if len(present) < 2:
        raise ValueError(f"need texts of at least two classes, got {({k: v['nonempty'] for k, v in counts.items()})}")
    target = min(len(samples[lab]) for lab in present) if balance else None
    train_rows: list[tuple[str, str]] = []
    held_texts: list[str] = []
    held_labels: list[str] = []
    for label in present:
        rng = random.Random(f"{seed}:split:{label}")
        texts = samples[label]
        rng.shuffle(texts)
        if target is not None:
            del texts[target:]
        k = _heldout_size(len(texts), heldout_frac)
        held_texts += texts[:k]
        held_labels += [label] * k
        train_rows += [(label, t) for t in texts[k:]]
        counts[label].update(balanced=len(texts), train=len(texts) - k, heldout=k)
    train_file = out / f".train-{os.getpid()}.txt"
    params = {"verbose": 0, **fasttext_params}
    try:
        _write_lines(train_file, train_rows, seed)
        model, attempts = train_with_retry(train_file, params, seed=seed, max_attempts=max_attempts,
                                           nan_lr_factor=nan_lr_factor, trainer=trainer,
                                           reshuffle=lambda s: _write_lines(train_file, train_rows, s))
    finally:
        train_file.unlink(missing_ok=True)
    model_path = out / MODEL_FILE
    with atomic_path(model_path) as tmp:
        model.save_model(tmp)
    manifest = {
        "kind": "quality_classifier", "recipe": recipe, "sources": sources, "normalization": NORMALIZATION,
        "labels": {"positive": [f"{LABEL_PREFIX}{lab}" for lab in present if positive(lab)],
                   "all": [f"{LABEL_PREFIX}{lab}" for lab in present]},
        "counts": counts, "seed": seed, "heldout_frac": heldout_frac, "balance": balance,
        "max_per_class": max_per_class, "operating_threshold": threshold,
        "hyperparameters": {**params, "lr": attempts[0]["lr"]}, "attempts": attempts,
        "fasttext": _fasttext_version(), "model_file": MODEL_FILE, "model_bytes": model_path.stat().st_size,
    }
    if grades is not None:
        manifest["grades"] = grades
    _write_json(out / MANIFEST_FILE, manifest)
    step = FastTextQuality(QualityConfig(model=str(model_path), label=POSITIVE))  # graded: expected grade
    scores = step.score_normalized(held_texts) if held_texts else np.array([], dtype=np.float32)
    y = np.array([positive(lab) for lab in held_labels], dtype=bool)
    metrics = {"split": "heldout", **classification_metrics(y, scores, threshold)}
    if grades is not None and recipe.get("mode") == "classes" and len(held_texts):
        true = np.array([float(lab) for lab in held_labels])
        metrics["grade_mae"] = float(np.abs(scores.astype(np.float64) * grades["max"] - true).mean())
    _write_json(out / METRICS_FILE, metrics)
    return {"model": str(model_path), "manifest": manifest, "metrics": metrics}


def _ft_params(epoch: int, lr: float, word_ngrams: int, dim: int, min_count: int, bucket: int, thread: int,
               loss: str, extra: Mapping[str, Any] | None) -> dict[str, Any]:
    return {"epoch": epoch, "lr": lr, "wordNgrams": word_ngrams, "dim": dim, "minCount": min_count,
            "bucket": bucket, "thread": thread, "loss": loss, **(extra or {})}


def train_quality_classifier(positives: Iterable[str], negatives: Iterable[str], out_dir: str | Path, *,
                             seed: int = 0, heldout_frac: float = 0.1, balance: bool = True,
                             max_per_class: int | None = None, epoch: int = 5, lr: float = 0.1,
                             word_ngrams: int = 2, dim: int = 100, min_count: int = 1, bucket: int = 2_000_000,
                             thread: int = 1, loss: str = "softmax", threshold: float = 0.5,
                             max_attempts: int = 5, nan_lr_factor: float = 1.0, sources: Any = None,
                             fasttext_args: Mapping[str, Any] | None = None,
                             trainer: Callable[..., Any] | None = None) -> dict:
    """DCLM recipe: ``__label__hq`` (positives) vs ``__label__cc`` (negatives), fastText defaults + bigrams.

    ``balance`` downsamples the larger class to the smaller one's size (after ``max_per_class``, a uniform
    reservoir sample per class); ``heldout_frac`` of each class is held out (seeded) and scored through
    :class:`~filters.quality.FastTextQuality` for ``metrics.json`` at the operating ``threshold`` on p(hq).
    ``thread=1`` keeps training deterministic for a seed; ``fasttext_args`` passes any other fastText argument.
    ``sources`` (anything JSON-serialisable: paths, dataset names) is recorded in the manifest as given.
    Returns ``{"model", "manifest", "metrics"}``.
    """
    return _train({POSITIVE: positives, NEGATIVE: negatives}, out_dir, positive=lambda lab: lab == POSITIVE,
                  recipe={"name": "dclm-binary"}, seed=seed, heldout_frac=heldout_frac, balance=balance,
                  max_per_class=max_per_class, threshold=threshold,
                  fasttext_params=_ft_params(epoch, lr, word_ngrams, dim, min_count, bucket, thread, loss,
                                             fasttext_args),
                  max_attempts=max_attempts, nan_lr_factor=nan_lr_factor, sources=sources, trainer=trainer)


def grade_of(score: float, max_score: int) -> int:
    """Nearest integer grade (halves round up), clipped to ``[0, max_score]``."""
    if not math.isfinite(score):
        raise ValueError(f"grade must be finite, got {score}")
    return int(min(max(math.floor(score + 0.5), 0), max_score))


def train_from_scores(texts: Sequence[str], scores: Sequence[float], out_dir: str | Path, *,
                      mode: str = "binary", min_positive: float = 3.0, max_score: int = 5,
                      balance: bool | None = None, threshold: float | None = None, **kw) -> dict:
    """Train from graded annotations (FineWeb-Edu: an LLM scores educational value 0-5).

    - ``mode="binary"`` (default): ``score >= min_positive`` (3, FineWeb-Edu's release threshold, at which its
      classifier reports F1 82%) is ``__label__hq``, the rest ``__label__cc``; scored like the DCLM model
      (p(hq)), balanced by default, operating threshold 0.5.
    - ``mode="classes"``: one label per grade (nearest integer, ``__label__0`` .. ``__label__5``); the step scores
      the expected grade / ``max_score`` (recorded in the manifest as ``grades.max``), so the operating threshold
      defaults to ``(min_positive - 0.5) / max_score`` (0.5: expected grade >= 2.5 rounds to >= 3), and held-out
      metrics compare against ``grade >= min_positive``; ``metrics.json`` adds ``grade_mae`` (expected grade vs
      grade). Not balanced by default (balancing would cut every grade to the rarest one).

    Other keyword arguments are those of :func:`train_quality_classifier`.
    """
    if len(texts) != len(scores):
        raise ValueError(f"{len(texts)} texts but {len(scores)} scores")
    if mode not in ("binary", "classes"):
        raise ValueError(f"mode must be 'binary' or 'classes', got {mode!r}")
    fasttext_keys = ("epoch", "lr", "word_ngrams", "dim", "min_count", "bucket", "thread", "loss")
    defaults = {"epoch": 5, "lr": 0.1, "word_ngrams": 2, "dim": 100, "min_count": 1, "bucket": 2_000_000,
                "thread": 1, "loss": "softmax"}
    ft = {k: kw.pop(k, defaults[k]) for k in fasttext_keys}
    extra = kw.pop("fasttext_args", None)
    common = {"seed": kw.pop("seed", 0), "heldout_frac": kw.pop("heldout_frac", 0.1),
              "max_per_class": kw.pop("max_per_class", None), "max_attempts": kw.pop("max_attempts", 5),
              "nan_lr_factor": kw.pop("nan_lr_factor", 1.0), "sources": kw.pop("sources", None),
              "trainer": kw.pop("trainer", None)}
    if kw:
        raise TypeError(f"unexpected arguments: {sorted(kw)}")
    params = _ft_params(**ft, extra=extra)
    if mode == "binary":
        pos = [t for t, s in zip(texts, scores) if float(s) >= min_positive]
        neg = [t for t, s in zip(texts, scores) if not float(s) >= min_positive]
        recipe = {"name": "graded", "mode": "binary", "positive_if": f"score >= {min_positive}"}
        return _train({POSITIVE: pos, NEGATIVE: neg}, out_dir, positive=lambda lab: lab == POSITIVE, recipe=recipe,
                      balance=True if balance is None else balance,
                      threshold=0.5 if threshold is None else threshold, fasttext_params=params,
                      grades={"max": max_score, "min_positive": min_positive}, **common)
    groups: dict[str, list[str]] = {str(g): [] for g in range(max_score + 1)}
    for t, s in zip(texts, scores):
        groups[str(grade_of(float(s), max_score))].append(t)
    recipe = {"name": "graded", "mode": "classes", "label": "nearest integer grade",
              "score": f"expected grade / {max_score}"}
    return _train(groups, out_dir, positive=lambda lab: float(lab) >= min_positive, recipe=recipe,
                  balance=False if balance is None else balance,
                  threshold=(min_positive - 0.5) / max_score if threshold is None else threshold,
                  fasttext_params=params, grades={"max": max_score, "min_positive": min_positive}, **common)
