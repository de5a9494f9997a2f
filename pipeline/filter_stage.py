"""The filter stage: read -> extract HTML -> language ID -> heuristic quality filters -> kept / rejects / quarantine.

Three modes: normal (decide and split), `annotate_only` (compute every signal for every document, keep all, so
thresholds can be changed later) and `from_annotations` (input is annotated Parquet; re-decide from the signal
columns with the current thresholds, nothing recomputed).
"""
from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, Field

from filters.base import apply_steps, decide_steps
from filters.chain import HeuristicsConfig, build_heuristic_steps
from filters.langid import LanguageConfig, LanguageID
from pipeline.extract import ExtractionError, ExtractionTimeout, extract
from pipeline.io import write_parquet_atomic
from pipeline.readers import read_path
from pipeline.readers.options import ReaderOptions
from pipeline.runner import Layout, Timer, write_shard_stats
from pipeline.schema import QUARANTINE_SCHEMA, Bad, Doc

BASE_COLUMNS = ["id", "text", "url", "date", "source"]


class FilterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reader: ReaderOptions = ReaderOptions()
    extractor: Literal["trafilatura", "resiliparse"] = Field("trafilatura", description="HTML text extractor")
    extract_timeout_s: float = Field(5.0, ge=0, description="per-document extraction time limit (0 = none)")
    language: LanguageConfig = LanguageConfig()
    heuristics: HeuristicsConfig = HeuristicsConfig()
    annotate_only: bool = Field(False, description="write signals as columns, remove nothing")
    from_annotations: bool = Field(False, description="input is annotated Parquet: re-decide from its columns")
    workers: int = Field(0, ge=0, description="actor-pool size (0 = one per cluster CPU)")
    batch_docs: int = Field(500, gt=0, description="documents per filter batch inside a shard")


def build_steps(cfg: FilterConfig) -> list:
    steps = [LanguageID(cfg.language)] if cfg.language.enabled else []
    return steps + build_heuristic_steps(cfg.heuristics)


class FilterWorker:
    """One per actor: holds the language-ID model and the filter steps; processes whole shards."""

    def __init__(self, cfg_json: str, layout_json: str):
        self.cfg = FilterConfig.model_validate_json(cfg_json)
        self.layout = Layout.from_json(layout_json)
        self.steps = build_steps(self.cfg)

    def process(self, path: str, shard: str) -> dict:
        t0 = time.perf_counter()
        if self.cfg.from_annotations:
            result = self._redecide(path)
        else:
            result = self._filter(path)
        kept, rejects, quarantine, counts, timer = result
        lay, name = self.layout, f"{self.layout.prefix}{shard}.parquet"
        t1 = time.perf_counter()
        write_parquet_atomic(kept, lay.data / f"{shard}.parquet")
        if rejects.num_rows:
            write_parquet_atomic(rejects, lay.rejects / name)
        if quarantine.num_rows:
            write_parquet_atomic(quarantine, lay.quarantine / name)
        timer.add("write", time.perf_counter() - t1, counts["input"])
        stats = {"shard": shard, "path": path, "counts": counts, "steps": timer.steps,
                 "wall_s": round(time.perf_counter() - t0, 3)}
        write_shard_stats(lay, shard, stats)  # last: marks the shard done
        return stats

    # -- normal and annotate-only -------------------------------------------------------------------------------
    def _filter(self, path: str):
        cfg, timer = self.cfg, Timer()
        kept_parts, reject_parts, bad_rows = [], [], []
        removed: Counter = Counter()
        n_input = n_kept = 0
        reader = read_path(path, cfg.reader)
        while True:
            t0 = time.perf_counter()
            chunk = _take(reader, cfg.batch_docs)
            if not chunk:
                break
            docs: list[Doc] = []
            n_input += len(chunk)
            for item in chunk:
                if isinstance(item, Bad):
                    bad_rows.append(item)
                else:
                    docs.append(item)
            timer.add("read", time.perf_counter() - t0, len(chunk))
            t0 = time.perf_counter()
            docs, no_text = self._extract(docs, bad_rows)
            timer.add("extract", time.perf_counter() - t0, len(docs) + len(no_text))
            if no_text:
                removed["no_text"] += len(no_text)
                reject_parts.append(_table(no_text, [d.text for d in no_text], {}, ["no_text"] * len(no_text)))
            if not docs:
                continue
            cols, reasons, texts = apply_steps([d.text for d in docs], _timed(self.steps, timer),
                                               annotate_all=cfg.annotate_only)
            if cfg.annotate_only:
                reasons = np.full(len(docs), None, dtype=object)
            keep = np.array([r is None for r in reasons])
            n_kept += int(keep.sum())
            removed.update(r for r in reasons if r is not None)
            kept_parts.append(_table([d for d, k in zip(docs, keep) if k], texts[keep], _sel(cols, keep)))
            if (~keep).any():
                reject_parts.append(_table([d for d, k in zip(docs, keep) if not k], texts[~keep],
                                           _sel(cols, ~keep), reasons[~keep]))
        counts = {"input": n_input, "kept": n_kept, "removed": dict(sorted(removed.items())),
                  "quarantined": len(bad_rows)}
        return _concat(kept_parts, with_reason=False), _concat(reject_parts, with_reason=True), \
            _quarantine_table(bad_rows), counts, timer

    def _extract(self, docs: list[Doc], bad_rows: list[Bad]) -> tuple[list[Doc], list[Doc]]:
        out, empty = [], []
        for d in docs:
            if d.html is not None:
                try:
                    d.text = extract(d.html, d.charset, self.cfg.extractor, self.cfg.extract_timeout_s)
                except ExtractionTimeout as e:
                    bad_rows.append(Bad(d.source, _offset(d.id), f"extraction timed out: {e}", d.id))
                    continue
                except ExtractionError as e:
                    bad_rows.append(Bad(d.source, _offset(d.id), f"extraction failed: {e}", d.id))
                    continue
                finally:
                    d.html = None
            (out if d.text.strip() else empty).append(d)
        return out, empty

    # -- from annotations ---------------------------------------------------------------------------------------
    def _redecide(self, path: str):
        timer = Timer()
        t0 = time.perf_counter()
        table = pq.read_table(path)
        timer.add("read", time.perf_counter() - t0, table.num_rows)
        t0 = time.perf_counter()
        cols = {name: _to_numpy(table.column(name)) for name in table.column_names if name not in BASE_COLUMNS}
        reasons = decide_steps(cols, self.steps) if table.num_rows else np.array([], dtype=object)
        timer.add("decide", time.perf_counter() - t0, table.num_rows)
        keep = np.array([r is None for r in reasons], dtype=bool)
        removed = Counter(r for r in reasons if r is not None)
        rejects = table.filter(pa.array(~keep)) if table.num_rows else table
        rejects = rejects.append_column("reason", pa.array(reasons[~keep].tolist(), pa.string()))
        counts = {"input": table.num_rows, "kept": int(keep.sum()), "removed": dict(sorted(removed.items())),
                  "quarantined": 0}
        return table.filter(pa.array(keep)), rejects, _quarantine_table([]), counts, timer


class _TimedStep:
    def __init__(self, step, timer: Timer):
        self.step, self.timer, self.name = step, timer, step.name

    def annotate(self, texts):
        return self.timer.time(self.name, len(texts), self.step.annotate, texts)

    def decide(self, cols):
        return self.step.decide(cols)


def _timed(steps, timer):
    return [_TimedStep(s, timer) for s in steps]


def _take(it, n: int) -> list:
    out = []
    for item in it:
        out.append(item)
        if len(out) >= n:
            break
    return out


def _offset(doc_id: str) -> int:
    tail = doc_id.rsplit(":", 1)[-1]
    return int(tail) if tail.isdigit() else -1


def _sel(cols: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in cols.items()}


def _to_numpy(col: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_floating(col.type) or pa.types.is_integer(col.type) or pa.types.is_boolean(col.type):
        return col.to_numpy(zero_copy_only=False).astype(np.float64)
    return np.array(col.to_pylist(), dtype=object)


def _signal_array(values: np.ndarray) -> pa.Array:
    """Signals are float64 (numbers, bools) or string, so every shard has the same schema; a signal a step did not
    compute (the document was already removed) is null."""
    values = np.asarray(values)
    if values.dtype.kind in "fiub":
        values = values.astype(np.float64)
        return pa.array(values, pa.float64(), mask=np.isnan(values))
    return pa.array([None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values],
                    pa.string())


def _table(docs: list[Doc], texts, cols: dict[str, np.ndarray], reasons=None) -> pa.Table:
    data = {
        "id": pa.array([d.id for d in docs], pa.string()),
        "text": pa.array([str(t) for t in texts], pa.string()),
        "url": pa.array([d.url for d in docs], pa.string()),
        "date": pa.array([d.date for d in docs], pa.string()),
        "source": pa.array([d.source for d in docs], pa.string()),
    }
    if reasons is not None:
        data["reason"] = pa.array([str(r) for r in reasons], pa.string())
    for k in sorted(cols):
        data[k] = _signal_array(cols[k])
    return pa.table(data)


def _concat(parts: list[pa.Table], with_reason: bool) -> pa.Table:
    if not parts:
        fields = [pa.field(c, pa.string()) for c in BASE_COLUMNS + (["reason"] if with_reason else [])]
        return pa.schema(fields).empty_table()
    return pa.concat_tables(parts, promote_options="default")


def _quarantine_table(rows: list[Bad]) -> pa.Table:
    return pa.Table.from_pylist([{"file": b.file, "offset": int(b.offset), "record_id": b.record_id,
                                  "error": b.error} for b in rows], schema=QUARANTINE_SCHEMA)
