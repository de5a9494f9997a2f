"""The global distribution of `quality_score` over a run: fixed-bin histograms recorded per shard by the shard
worker (`HistogramSummary`) and merged without a second read, or computed from scored Parquet files (one task per
file); written as `quality_histogram.json` and a plot (PNG + SVG). Shared by `classify` (pass 1's histogram gives
the `keep_top` threshold) and `filter --from-annotations --keep-top`."""
from __future__ import annotations

from pathlib import Path

from filters.quality import QUALITY_COLUMN
from filters.quality_hist import ScoreHistogram
from pipeline.errors import UserError
from pipeline.io import write_json_atomic
from pipeline.runner import Resources, RunEnv, map_tasks

HIST_FILE = "quality_histogram.json"


class HistogramSummary:
    """A shard's score histogram, fed by the shard worker's batches (`DocShardWorker(summaries=...)`)."""

    def __init__(self, bins: int):
        self.hist = ScoreHistogram(bins)

    def add(self, cols: dict) -> None:
        if QUALITY_COLUMN in cols:
            self.hist.add(cols[QUALITY_COLUMN])

    def to_json(self) -> dict:
        return self.hist.to_dict()


def merged_histogram(stats: list[dict], bins: int) -> ScoreHistogram:
    return ScoreHistogram.merged([ScoreHistogram.from_dict(s["extra"]["quality_histogram"]) for s in stats
                                  if "quality_histogram" in s.get("extra", {})], bins=bins)


def write_histogram(root: Path, hist: ScoreHistogram, threshold: float | None, keep_top: float | None) -> dict:
    from pipeline.plots import plot_score_histogram

    kept = hist.share_above(threshold) if threshold is not None and hist.n else None
    doc = {"bins": hist.bins, "n": hist.n, "threshold": threshold, "keep_top": keep_top, "kept_share": kept,
           "histogram": hist.to_dict()}
    write_json_atomic(doc, root / HIST_FILE)
    plot_score_histogram(hist.counts, threshold, root / "quality_histogram",
                         f"quality_score over {hist.n} documents")
    return {k: v for k, v in doc.items() if k != "histogram"}


def histogram_of_files(files: list[str], bins: int, env: RunEnv, resources: Resources) -> ScoreHistogram:
    """The global histogram of the `quality_score` column of scored Parquet files (one task per file)."""
    parts = map_tasks(_file_histogram, [{"path": f, "bins": bins} for f in files], env.quiet(), resources)
    return ScoreHistogram.merged([ScoreHistogram.from_dict(p) for p in parts], bins=bins)


def _file_histogram(task: dict) -> dict:
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(task["path"])
    hist = ScoreHistogram(int(task["bins"]))
    if QUALITY_COLUMN not in pf.schema_arrow.names:
        raise UserError(f"{task['path']}: no {QUALITY_COLUMN!r} column; score it first with `assay classifier "
                        "score` (or a curate classify: section)")
    for batch in pf.iter_batches(columns=[QUALITY_COLUMN]):
        hist.add(batch.column(0).to_numpy(zero_copy_only=False))
    return hist.to_dict()
