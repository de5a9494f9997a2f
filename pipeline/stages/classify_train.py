"""`assay classifier train` and `assay classifier evaluate`: the quality classifier's model and its held-out
numbers (the fastText code is `filters/quality_train.py`; scoring is `classify.py`).

Training recipes:
- **reference sets (DCLM)**: `--positive PATH... --negative PATH...` (any reader inputs), or `--labelled PATH...` with
  a 0/1 `label` field; balanced classes, word bigrams, a held-out split, a retry when fastText hits NaN;
- **teacher annotations (FineWeb-Edu)**: `--annotate PATH...` with a `teacher:` backend of the synthesize stage: a
  sample of documents is scored 0-5 with the versioned `edu_score` rubric (structured output, cached and resumable
  like generation) and the grades train the classifier (`annotation.mode`: binary at grade >= 3, or classes);
- **the embedded default** (no inputs given): positives are clean reference prose (the embedded corpus's prose
  pool), negatives a random crawl sample of the embedded corpus (built here, extracted): no network.
`MODEL_DIR` holds `model.bin`, `train_manifest.json` (sources, counts, seed) and `metrics.json` (held-out accuracy,
ROC AUC, precision and recall at the operating threshold).

Evaluation: `assay classifier evaluate MODEL_DIR LABELLED... -o FILE.json` on rows with `text` and `label` (0/1):
`classifier` (ROC AUC as `roc_auc`, accuracy, precision, recall at the operating threshold) and, on the same rows,
`heuristics`: the filter chain's keep/remove decision scored the same way (keep = predicted 1).
"""
from __future__ import annotations

import json
import random
import tempfile
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.errors import UserError
from pipeline.extract import ExtractionConfig
from pipeline.progress import log
from pipeline.readers.options import ReaderOptions
from pipeline.stage import Opt, RunContext, StageSpec, check_writable_parent, prepare_output, register
from pipeline.stages.base import iter_docs, plan_inputs


class AnnotationConfig(BaseModel):
    """FineWeb-Edu recipe: a teacher grades a sample of documents 0-5 for educational value."""
    model_config = ConfigDict(extra="forbid")
    teacher: dict = Field(default_factory=lambda: {"kind": "procedural"},
                          description="a teacher backend config (the synthesize stage's `teacher:`)")
    sample: int = Field(2000, ge=10, description="documents to annotate (a seeded random sample of the inputs)")
    mode: Literal["binary", "classes"] = Field("binary", description="binary: grade >= min_positive is positive; "
                                                                     "classes: one class per grade")
    min_positive: float = Field(3.0, ge=0, le=5)
    cache: str | None = Field(None, description="completion cache dir (default: MODEL_DIR/annotations)")


class TrainClassifierJob(BaseModel):
    """`assay classifier train` / `python -m jobs.classifier_train`."""
    model_config = ConfigDict(extra="forbid")
    output: str = Field(..., description="model directory")
    positive: list[str] = Field(default_factory=list, description="high-quality reference documents")
    negative: list[str] = Field(default_factory=list, description="low-quality / random crawl documents")
    labelled: list[str] = Field(default_factory=list, description="documents with a 0/1 label field")
    annotate: list[str] = Field(default_factory=list, description="documents for a teacher to grade")
    annotation: AnnotationConfig = Field(default_factory=AnnotationConfig)
    label_field: str = "label"
    reader: ReaderOptions = Field(default_factory=ReaderOptions)
    extraction: ExtractionConfig = Field(default_factory=ExtractionConfig)
    max_per_class: int | None = Field(20_000, ge=1, description="cap per class (a seeded uniform sample)")
    heldout_frac: float = Field(0.1, ge=0, lt=1)
    seed: int = 0
    epoch: int = Field(5, ge=1)
    lr: float = Field(0.1, gt=0)
    dim: int = Field(64, ge=2)
    word_ngrams: int = Field(2, ge=1)
    min_count: int = Field(1, ge=1)
    bucket: int = Field(500_000, ge=1)
    threshold: float = Field(0.5, ge=0, le=1, description="operating threshold for the held-out metrics")
    embedded_docs: int = Field(3000, ge=100, description="embedded default: crawl pages to build for negatives")

    @model_validator(mode="after")
    def _one_recipe(self):
        recipes = [bool(self.positive or self.negative), bool(self.labelled), bool(self.annotate)]
        if sum(recipes) > 1:
            raise ValueError("give one recipe: --positive/--negative, --labelled, or --annotate")
        if bool(self.positive) != bool(self.negative):
            raise ValueError("--positive and --negative go together")
        return self


def _labelled(inputs: list[str], reader: ReaderOptions, label_field: str) -> tuple[list[str], list[int]]:
    texts, labels = [], []
    for did, text, extra in iter_docs(inputs, reader, fields=(label_field,)):
        lab = extra.get(label_field)
        if lab not in (0, 1, True, False, "0", "1"):
            raise UserError(f"document {did}: {label_field!r} must be 0 or 1, got {lab!r}")
        texts.append(text)
        labels.append(int(lab))
    if not texts:
        raise UserError(f"no labelled documents in {', '.join(inputs)}")
    return texts, labels


def embedded_reference(docs: int, seed: int) -> tuple[list[str], list[str], dict]:
    """The embedded default: clean reference prose vs a random crawl sample of the embedded corpus."""
    from pipeline.corpus import build_corpus
    from pipeline.corpus.prose import prose_pool

    rng = random.Random(seed)
    # reference documents of 4 paragraphs (the pool's articles cut up: more, and page-sized, examples)
    pos = ["\n\n".join(a.paragraphs[i:i + 4]) for a in prose_pool() for i in range(0, len(a.paragraphs) - 2, 4)]
    with tempfile.TemporaryDirectory(prefix="assay-crawl-") as tmp:
        build_corpus(Path(tmp), docs=docs, seed=seed, docs_per_file=1000)
        neg = [t for _, t, _ in iter_docs([tmp], ReaderOptions())]
    rng.shuffle(neg)
    sources = {"positive": f"embedded prose pool ({len(pos)} articles)",
               "negative": f"embedded crawl sample ({docs} pages, seed {seed}, extracted)"}
    return pos, neg, sources


def run_train_classifier(job: TrainClassifierJob, ctx: RunContext) -> dict:
    from filters.quality_train import TrainingFailed, train_from_scores, train_quality_classifier

    inputs = job.positive + job.negative + job.labelled + job.annotate
    files = plan_inputs(inputs, job.reader) if inputs else []
    prepare_output(job.output, "classifier-train", job.model_dump(mode="json", exclude={"output"}), files,
                   ctx.overwrite)
    done = _finished(Path(job.output))
    if done is not None:  # this run (same inputs and settings) finished: a rerun keeps its model, as stages do
        if ctx.progress:
            log(f"{job.output}: already trained by this run (same inputs and settings); kept", stage="classifier")
        return done
    ft = dict(seed=job.seed, heldout_frac=job.heldout_frac, max_per_class=job.max_per_class, epoch=job.epoch,
              lr=job.lr, dim=job.dim, word_ngrams=job.word_ngrams, min_count=job.min_count, bucket=job.bucket,
              threshold=job.threshold)
    try:
        if job.annotate:
            texts, scores, info = annotate_documents(job)
            res = train_from_scores(texts, scores, job.output, mode=job.annotation.mode,
                                    min_positive=job.annotation.min_positive, sources=info, **ft)
        elif job.labelled:
            texts, labels = _labelled(job.labelled, job.reader, job.label_field)
            res = train_quality_classifier([t for t, y in zip(texts, labels) if y],
                                           [t for t, y in zip(texts, labels) if not y], job.output,
                                           sources={"labelled": job.labelled, "label_field": job.label_field}, **ft)
        elif job.positive:
            res = train_quality_classifier((t for _, t, _ in iter_docs(job.positive, job.reader, job.extraction)),
                                           (t for _, t, _ in iter_docs(job.negative, job.reader, job.extraction)),
                                           job.output, sources={"positive": job.positive, "negative": job.negative},
                                           **ft)
        else:
            if ctx.progress:
                log("no inputs: the embedded default (reference prose vs a crawl sample of the embedded corpus)",
                    stage="classifier")
            pos, neg, sources = embedded_reference(job.embedded_docs, job.seed)
            res = train_quality_classifier(pos, neg, job.output, sources=sources, **ft)
    except TrainingFailed as e:
        raise UserError(f"fastText training failed after {len(e.attempts)} attempts: {e}") from None
    except ValueError as e:
        raise UserError(str(e)) from None
    m = res["metrics"]
    print(json.dumps({"model": res["model"], **{k: m.get(k) for k in ("roc_auc", "accuracy", "precision", "recall",
                                                                       "n")}}, indent=1))
    return res


def _finished(out: Path) -> dict | None:
    """The result of a finished training in `out` (metrics.json is written last), else None."""
    from filters.quality_train import MANIFEST_FILE, METRICS_FILE, MODEL_FILE

    if not all((out / f).exists() for f in (MODEL_FILE, MANIFEST_FILE, METRICS_FILE)):
        return None
    return {"model": str(out / MODEL_FILE), "manifest": json.loads((out / MANIFEST_FILE).read_text()),
            "metrics": json.loads((out / METRICS_FILE).read_text())}


def annotate_documents(job: TrainClassifierJob) -> tuple[list[str], list[float], dict]:
    """Grade a seeded sample of the documents with the teacher (cached, resumable) -> (texts, grades, sources)."""
    from generators.complete import annotate_texts

    docs = [(did, t) for did, t, _ in iter_docs(job.annotate, job.reader, job.extraction)]
    rng = random.Random(job.seed)
    if len(docs) > job.annotation.sample:
        docs = rng.sample(docs, job.annotation.sample)
    cache = job.annotation.cache or str(Path(job.output) / "annotations")
    grades = annotate_texts(docs, job.annotation.teacher, cache, seed=job.seed)
    kept = [(t, g) for (_, t), g in zip(docs, grades) if g is not None]
    if len(kept) < 10:
        raise UserError(f"the teacher graded only {len(kept)} of {len(docs)} documents; check its configuration")
    info = {"annotate": job.annotate, "teacher": {k: v for k, v in job.annotation.teacher.items()
                                                  if "key" not in k.lower()},
            "annotated": len(docs), "graded": len(kept)}
    return [t for t, _ in kept], [g for _, g in kept], info


# ------------------------------------------------------------------------------------------------ evaluation
class EvaluateClassifierJob(BaseModel):
    """`assay classifier evaluate MODEL_DIR LABELLED... -o FILE.json`."""
    model_config = ConfigDict(extra="forbid")
    model: str = Field(..., description="model dir (or model.bin)")
    inputs: list[str] = Field(..., min_length=1, description="labelled rows: text and label (0/1)")
    output: str = Field(..., description="JSON file for the metrics")
    label_field: str = "label"
    threshold: float | None = Field(None, ge=0, le=1, description="operating threshold (default: the model's)")
    reader: ReaderOptions = Field(default_factory=ReaderOptions)

    @model_validator(mode="before")
    @classmethod
    def _model_first(cls, data):
        """`assay classifier evaluate MODEL_DIR LABELLED...`: the first positional is the model."""
        if isinstance(data, dict) and not data.get("model") and len(data.get("inputs") or []) > 1:
            data = {**data, "model": data["inputs"][0], "inputs": data["inputs"][1:]}
        return data


def run_evaluate_classifier(job: EvaluateClassifierJob, ctx: RunContext) -> dict:
    import numpy as np

    from filters.base import apply_steps
    from filters.quality import FastTextQuality, QualityConfig
    from filters.quality_train import classification_metrics
    from pipeline.io import write_json_atomic
    from pipeline.stages.classify import ClassifyConfig
    from pipeline.stages.filter import FilterConfig

    check_writable_parent(job.output)
    model = ClassifyConfig(model=job.model).check_model()
    manifest = model.parent / "train_manifest.json"
    threshold = job.threshold
    if threshold is None:
        threshold = json.loads(manifest.read_text()).get("operating_threshold", 0.5) if manifest.exists() else 0.5
    texts, labels = _labelled(job.inputs, job.reader, job.label_field)
    y = np.asarray(labels, dtype=bool)
    scores = FastTextQuality(QualityConfig(model=str(model))).annotate(texts)["quality_score"]
    _, reasons, _ = apply_steps(texts, FilterConfig().build_steps(), annotate_all=False)
    keep = np.array([r is None for r in reasons])
    out: dict[str, Any] = {
        "n": len(texts), "positives": int(y.sum()), "model": str(model), "inputs": job.inputs,
        "classifier": classification_metrics(y, scores, threshold),
        "heuristics": {**classification_metrics(y, keep.astype(np.float64), 0.5),
                       "rule": "the default filter chain (language ID + Gopher/C4/FineWeb/hash dumps): kept = 1",
                       "removed_by": {r: int(n) for r, n in zip(*np.unique(reasons[~keep].astype(str),
                                                                          return_counts=True))}},
    }
    write_json_atomic(out, job.output)
    print(json.dumps({k: {m: out[k][m] for m in ("roc_auc", "accuracy", "precision", "recall")}
                      for k in ("classifier", "heuristics")}, indent=1))
    return out


register(StageSpec(
    name="classifier-train", group="classifier", command="train", job=TrainClassifierJob, run=run_train_classifier,
    inputs=None, output_help="Model directory: model.bin, train_manifest.json, metrics.json.",
    help="Train the fastText quality classifier: from reference sets (--positive/--negative), labelled rows "
         "(--labelled), teacher grades (--annotate, FineWeb-Edu style), or, with no inputs, the embedded default.",
    options=(
        Opt(("--positive",), "positive", "High-quality reference documents (any reader input); repeatable.",
            multiple=True),
        Opt(("--negative",), "negative", "Low-quality or random crawl documents; repeatable.", multiple=True),
        Opt(("--labelled",), "labelled", "Documents with a 0/1 label field; repeatable.", multiple=True),
        Opt(("--annotate",), "annotate", "Documents for the teacher (annotation.teacher) to grade 0-5; repeatable.",
            multiple=True),
        Opt(("--seed",), "seed", "Seed of sampling, the split and training.", int),
        Opt(("--max-per-class",), "max_per_class", "Cap per class (a seeded sample).", int),
    ),
))

register(StageSpec(
    name="classifier-evaluate", group="classifier", command="evaluate", job=EvaluateClassifierJob,
    run=run_evaluate_classifier, inputs="inputs", inputs_metavar="MODEL_DIR LABELLED...",
    inputs_help="The model dir, then rows with text and label (0/1): JSONL, Parquet or any reader input.",
    output_help="JSON file: classifier and heuristic metrics side by side.",
    help="ROC AUC, accuracy, precision and recall of the classifier and, on the same rows, of the heuristic "
         "filter chain's keep/remove decision.",
    options=(
        Opt(("--threshold",), "threshold", "Operating threshold (default: the model's).", float),
        Opt(("--label-field",), "label_field", "Label field (default label).")),
))
