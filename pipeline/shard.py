"""The document-shard worker every document stage runs on (filter, classify, the ingest pass of dedupe).

One input file is one shard: read it with the reader stack (any format) and extract HTML (a step under a hard time
limit) in batches through the one document iterator (`pipeline.documents`), run the stage's steps over the batches
(`filters.base.apply_steps`: annotate, then decide; first failing step wins), and split into kept (`data/`), removed
with a reason (`rejects/`) and unreadable (`quarantine/`). Outputs are written atomically and the stats file last,
so a shard is either done or redone. Three modes:
- `filter`: decide and split;
- `annotate`: compute every signal for every document and keep all (thresholds can be changed later);
- `redecide`: the input is annotated Parquet; decide again from its columns with the current thresholds,
  recomputing nothing (`--from-annotations`).
Columns of a Parquet input pass through; signal columns a step computes replace same-named ones.
"""
from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from filters.base import apply_steps, decide_steps
from pipeline.errors import UserError
from pipeline.documents import extracted, take
from pipeline.extract import Extraction, ExtractionConfig
from pipeline.io import open_binary, write_parquet_atomic
from pipeline.readers import read_path
from pipeline.readers.options import ReaderOptions
from pipeline.runner import Layout, Timer, shard_stats, write_shard_stats
from pipeline.schema import BASE_COLUMNS, Bad, Doc, quarantine_table

Mode = Literal["filter", "annotate", "redecide"]


class DocShardWorker:
    """Built once per worker process (loads models once); `process(path, shard)` handles one shard.

    `steps`: a picklable factory of the stage's filter steps. `summaries`: name -> factory of an accumulator with
    `add(cols)` and `to_json()`, fed every batch's signal columns; its JSON lands in the shard stats' `extra`
    (e.g. a histogram of quality scores, merged over shards by the stage).
    """

    def __init__(self, layout: Layout, reader: ReaderOptions, steps: Callable[[], list], mode: Mode = "filter",
                 extraction: ExtractionConfig | None = None, batch_docs: int = 500,
                 summaries: dict[str, Callable[[], object]] | None = None):
        self.layout, self.reader, self.mode, self.batch_docs = layout, reader, mode, batch_docs
        self.steps = steps()
        self.extraction = Extraction(extraction) if extraction is not None else None
        self.summary_factories = summaries or {}

    def close(self) -> None:
        if self.extraction is not None:
            self.extraction.close()

    def process(self, path: str, shard: str) -> dict:
        t0 = time.perf_counter()
        summaries = {k: f() for k, f in self.summary_factories.items()}
        timer = Timer()
        if self.mode == "redecide":
            kept, rejects, bad, counts = self._redecide(path, timer, summaries)
        else:
            kept, rejects, bad, counts = self._filter(path, timer, summaries)
        t1 = time.perf_counter()
        lay = self.layout
        write_parquet_atomic(kept, lay.data / f"{shard}.parquet")  # written even when empty: the next stage's input
        if rejects.num_rows:
            write_parquet_atomic(rejects, lay.reject_file(shard))
        if bad:
            write_parquet_atomic(quarantine_table(bad), lay.quarantine_file(shard))
        timer.add("write", time.perf_counter() - t1, counts["input"])
        extra = {k: s.to_json() for k, s in summaries.items()}
        if bad:
            extra["quarantine_reasons"] = dict(Counter(b.reason for b in bad))
        stats = shard_stats(shard, path, counts, timer.steps, extra, time.perf_counter() - t0)
        write_shard_stats(lay, stats)  # last: marks the shard done
        return stats

    # -- filter and annotate ---------------------------------------------------------------------------------
    def _filter(self, path: str, timer: Timer, summaries: dict):
        kept_parts, reject_parts, bad = [], [], []
        removed: Counter = Counter()
        n_input = n_kept = n_missing_text = 0
        reader = read_path(path, self.reader)
        steps = [_TimedStep(s, timer) for s in self.steps]
        while True:
            t0 = time.perf_counter()
            chunk = take(reader, self.batch_docs)
            if not chunk:
                break
            n_input += len(chunk)
            timer.add("read", time.perf_counter() - t0, len(chunk))
            if self.extraction is not None:
                t0, c0, k0 = time.perf_counter(), time.process_time(), self.extraction.child_cpu_s
                n = sum(not isinstance(item, Bad) for item in chunk)
                chunk = extracted(chunk, self.extraction)
                timer.add("extract", time.perf_counter() - t0, n)
                step = timer.steps["extract"]  # + CPU seconds of this process and of the extraction child
                step["cpu_s"] = step.get("cpu_s", 0.0) + time.process_time() - c0 + self.extraction.child_cpu_s - k0
            docs: list[Doc] = []
            for item in chunk:
                if isinstance(item, Bad):
                    bad.append(item)
                    n_missing_text += item.reason == "missing_text"
                else:
                    docs.append(item)
            no_text = [d for d in docs if not d.text.strip()]
            if no_text:
                docs = [d for d in docs if d.text.strip()]
                removed["no_text"] += len(no_text)
                reject_parts.append(doc_table(no_text, [d.text for d in no_text], {}, ["no_text"] * len(no_text)))
            if not docs:
                continue
            cols, reasons, texts = apply_steps([d.text for d in docs], steps, annotate_all=self.mode == "annotate")
            for s in summaries.values():
                s.add(cols)
            if self.mode == "annotate":
                reasons = np.full(len(docs), None, dtype=object)
            keep = np.array([r is None for r in reasons], dtype=bool)
            n_kept += int(keep.sum())
            removed.update(r for r in reasons if r is not None)
            kept_parts.append(doc_table([d for d, k in zip(docs, keep) if k], texts[keep], _sel(cols, keep)))
            if (~keep).any():
                reject_parts.append(doc_table([d for d, k in zip(docs, keep) if not k], texts[~keep],
                                              _sel(cols, ~keep), reasons[~keep]))
        if n_input and n_missing_text == n_input:
            raise UserError(f"{path}: no record has the text field {self.reader.text_field!r}; "
                            "set --text-field or reader.text_field")
        counts = {"input": n_input, "kept": n_kept, "removed": dict(sorted(removed.items())),
                  "quarantined": len(bad)}
        return concat(kept_parts, False), concat(reject_parts, True), bad, counts

    # -- from annotations -------------------------------------------------------------------------------------
    def _redecide(self, path: str, timer: Timer, summaries: dict):
        t0 = time.perf_counter()
        with open_binary(path) as fh:
            table = pq.read_table(fh)
        timer.add("read", time.perf_counter() - t0, table.num_rows)
        t0 = time.perf_counter()
        cols = {name: _to_numpy(table.column(name)) for name in table.column_names if name not in BASE_COLUMNS}
        try:
            reasons = decide_steps(cols, self.steps) if table.num_rows else np.array([], dtype=object)
        except KeyError as e:
            raise UserError(f"{path}: column {e.args[0]!r} is missing; --from-annotations needs Parquet written by "
                            "a run with --annotate-only (or a classify stage) that computed it") from None
        for s in summaries.values():
            s.add(cols)
        timer.add("decide", time.perf_counter() - t0, table.num_rows)
        keep = np.array([r is None for r in reasons], dtype=bool)
        removed = Counter(r for r in reasons if r is not None)
        rejects = table.filter(pa.array(~keep))
        rejects = rejects.append_column("reason", pa.array(reasons[~keep].tolist(), pa.string()))
        counts = {"input": table.num_rows, "kept": int(keep.sum()), "removed": dict(sorted(removed.items())),
                  "quarantined": 0}
        return table.filter(pa.array(keep)), rejects, [], counts


class _TimedStep:
    def __init__(self, step, timer: Timer):
        self.step, self.timer, self.name = step, timer, step.name

    def annotate(self, texts):
        return self.timer.time(self.name, len(texts), self.step.annotate, texts)

    def decide(self, cols):
        return self.step.decide(cols)


# ------------------------------------------------------------------------------------------------- tables
def _sel(cols: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask] for k, v in cols.items()}


def _to_numpy(col: pa.ChunkedArray) -> np.ndarray:
    if pa.types.is_floating(col.type) or pa.types.is_integer(col.type) or pa.types.is_boolean(col.type):
        return col.to_numpy(zero_copy_only=False).astype(np.float64)
    return np.array(col.to_pylist(), dtype=object)


def signal_array(values: np.ndarray) -> pa.Array:
    """Signals are float64 (numbers, bools) or string, so every shard has the same schema; a signal a step did not
    compute (the document was already removed) is null."""
    values = np.asarray(values)
    if values.dtype.kind in "fiub":
        values = values.astype(np.float64)
        return pa.array(values, pa.float64(), mask=np.isnan(values))
    return pa.array([None if v is None or (isinstance(v, float) and np.isnan(v)) else str(v) for v in values],
                    pa.string())


def doc_table(docs: list[Doc], texts, cols: dict[str, np.ndarray], reasons=None) -> pa.Table:
    """Base columns, then `reason` (rejects), then the input's pass-through columns, then signal columns."""
    data = {
        "id": pa.array([d.id for d in docs], pa.string()),
        "text": pa.array([str(t) for t in texts], pa.string()),
        "url": pa.array([d.url for d in docs], pa.string()),
        "date": pa.array([d.date for d in docs], pa.string()),
        "source": pa.array([d.source for d in docs], pa.string()),
    }
    if reasons is not None:
        data["reason"] = pa.array([str(r) for r in reasons], pa.string())
    if docs and docs[0].extra:
        for k, typ in docs[0].extra_types.items():
            if k not in cols and k not in data:
                data[k] = pa.array([d.extra.get(k) for d in docs], typ)
    for k in sorted(cols):
        data[k] = signal_array(cols[k])
    return pa.table(data)


def concat(parts: list[pa.Table], with_reason: bool) -> pa.Table:
    if not parts:
        fields = [pa.field(c, pa.string()) for c in BASE_COLUMNS + (["reason"] if with_reason else [])]
        return pa.schema(fields).empty_table()
    return pa.concat_tables(parts, promote_options="default")

