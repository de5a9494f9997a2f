"""Step 2, buckets -> edges: band rows grouped by (band, bucket), star edges member -> smallest member (`--verify`:
only pairs with exact Jaccard >= threshold). Locally one in-memory partition; on Ray a grouping per band span
(`plan.band_spans`) whose map side reads one signature source per task, so a task's memory follows the shard."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from filters.dedupe import kernels
from filters.dedupe.config import DedupeConfig
from pipeline.runner import RAY_TASK_RETRIES
from pipeline.stages.dedupe import plan
from pipeline.stages.dedupe.plan import DedupeRun
from pipeline.stages.dedupe.signatures import index_sig_rows
from pipeline.stages.dedupe.tables import np_columns, rows_in_dir, write_ds_dir, write_table_dir


def run(r: DedupeRun) -> dict:
    t0 = time.perf_counter()
    out = r.work / "edges"
    # one grouping of all bands, except a Ray job so large that its shuffle would have too many pieces
    spans = plan.band_spans(r.cfg, r.total - r.node_lo, split=r.ray and r.total > plan.SORT_SHUFFLE_MAX_DOCS)
    if not out.exists():
        sources = [{"path": f, "index": False, "base": 0} for f in r.sig_files] + \
            [{"path": i["path"], "index": True, "base": i["base"]} for i in r.index]
        if r.ray and r.shards:
            edges_ray(sources, r.cfg, spans, out, r)
        else:
            edges_local(sources, r.cfg, out)
    r.edges = rows_in_dir(out)
    r.say(f"buckets: {r.edges} candidate edges")
    return r.timing(t0, edges=r.edges, groupings=len(spans))


def source_band_rows(src: dict, cfg: DedupeConfig, parts: int, span: tuple[int, int] = (-1, 1 << 30)) -> dict:
    """The (band, bucket, node[, shingles], part) rows of one signature source: a shard's signature file, or an
    earlier run's index file (`src["index"]`, nodes -1 - (base + row)). One source per task on Ray, so a task's
    memory follows the shard, not the corpus."""
    bands, _ = cfg.band_rows()
    if src["index"]:
        t = index_sig_rows(str(src["path"]), int(src["base"]), bands, cfg.verify)
    else:
        t = pq.read_table(str(src["path"]), columns=["node", "exact", "valid"] + [f"b{b}" for b in range(bands)]
                          + (["shingles"] if cfg.verify else []))
    return kernels.band_rows(np_columns(t), bands, parts, cfg.exact, cfg.near, cfg.verify, span)


def edges_local(sources: list[dict], cfg: DedupeConfig, out: Path) -> None:
    rows = [source_band_rows(s, cfg, 1) for s in sources]
    if rows:
        group = {k: np.concatenate([r[k] for r in rows]) for k in rows[0]}
        e = kernels.partition_edges(group, cfg.threshold if cfg.verify else None)
    else:
        e = {"src": np.zeros(0, np.int64), "dst": np.zeros(0, np.int64)}
    write_table_dir(pa.table({"src": pa.array(e["src"], pa.int64()), "dst": pa.array(e["dst"], pa.int64())}), out)


def edges_ray(sources: list[dict], cfg: DedupeConfig, spans: list[tuple[int, int, int]], out: Path,
              r: DedupeRun) -> None:
    """The buckets grouping on Ray Data, one grouping per band span, all edges into `out` (`r`: the run's
    watchdog over the groupings)."""
    import ray.data

    def grouping(lo: int, hi: int, parts: int):
        ds = ray.data.from_items(sources, override_num_blocks=len(sources)).map_batches(
            r.task(_band_rows_batch), fn_kwargs={"cfg": cfg, "parts": parts, "span": (lo, hi)}, batch_size=1,
            batch_format="numpy", **RAY_TASK_RETRIES)
        return ds.groupby("part", num_partitions=parts).map_groups(
            r.task(kernels.partition_edges), fn_kwargs={"threshold": cfg.threshold if cfg.verify else None},
            batch_format="numpy", **RAY_TASK_RETRIES)

    write_ds_dir((grouping(*span) for span in spans), out, r.execute)


def _band_rows_batch(batch: dict, cfg: DedupeConfig, parts: int, span: tuple[int, int]) -> dict:
    return source_band_rows({k: batch[k][0] for k in batch}, cfg, parts, span)
