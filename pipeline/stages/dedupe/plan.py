"""Dedupe's plan: which inputs are read directly and which go through the ingest pass, the shards with their node
offsets, an earlier run's index, the run's state shared by the steps (`DedupeRun`), and the sizes that decide how
Ray groupings shuffle (`band_spans`, `shuffle_strategy`)."""
from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from filters.dedupe.config import DedupeConfig
from filters.dedupe.index import index_params, load_index
from pipeline.errors import UserError
from pipeline.progress import log
from pipeline.runner import Groupings, Layout, Resources, RunEnv, run_shards, sum_counts, sum_steps
from pipeline.schema import shard_name
from pipeline.shard import DocShardWorker
from pipeline.stages.base import IngestConfig, StageResult

SORT_SHUFFLE_MAX_DOCS = 200_000  # Ray groupings of more documents use the task-based hash shuffle
SHUFFLE_BATCH_BYTES = 32 << 20   # input one map task of that hash shuffle partitions at a time
MAX_SHUFFLE_PIECES = 1_000_000   # above it the buckets grouping is split by bands (band_spans)
BAND_ROW_BYTES = 26              # band int16 + bucket, node, part 8 bytes each


@dataclass
class DedupeRun:
    """What the steps share: the plan (shards with node offsets, an earlier index), where they write, how they
    run, and what the steps before found (edges)."""
    layout: Layout
    cfg: DedupeConfig
    resources: Resources
    env: RunEnv
    shards: list[dict]                               # {"i", "path", "offset", "rows", "name"}
    index: list[dict] = field(default_factory=list)  # an earlier run's index files: {"path", "base", "rows"}
    edges: int = 0
    groupings: Groupings | None = None

    @property
    def ray(self) -> bool:
        return self.env.ray

    @property
    def work(self) -> Path:
        return self.layout.work

    @property
    def total(self) -> int:
        return sum(p["rows"] for p in self.shards)

    @property
    def node_lo(self) -> int:
        """The smallest node id: an earlier index's documents have negative ids."""
        return -sum(i["rows"] for i in self.index)

    @property
    def sig_files(self) -> list[str]:
        return [str(self.work / "sigs" / f"{p['name']}.parquet") for p in self.shards]

    def label(self, step: str) -> str:
        return f"{self.layout.stage}: {step}"

    def say(self, msg: str) -> None:
        if self.env.progress:
            log(msg, stage=self.layout.stage)

    def timing(self, t0: float, **extra) -> dict:
        """A step's entry in the manifest's `steps`: wall time, documents, what else it reports."""
        return {"wall_s": time.perf_counter() - t0, "docs": self.total, **extra}

    def task(self, fn):
        """A function of a Ray Data grouping, wrapped so the watchdog sees its tasks start and finish."""
        return self._groupings().task(fn)

    def execute(self, ds, action=None):
        """Run a Ray Data grouping (`action(ds)`, default: materialize it) under the run's watchdog."""
        return self._groupings().run(ds, action)

    def _groupings(self) -> Groupings:
        if self.groupings is None:
            self.groupings = Groupings(self.env, self.label("groupings"))
        return self.groupings

    def close(self) -> None:
        if self.groupings is not None:
            self.groupings.close()


def is_doc_shard(path: str, reader) -> bool:
    """A Parquet file dedupe can read directly: `id` and a `text` column without nulls (the reader's default
    fields); anything else goes through the ingest pass."""
    if not str(path).endswith(".parquet") or reader.text_field != "text" or reader.id_field != "id":
        return False
    pf = pq.ParquetFile(path)
    names = pf.schema_arrow.names
    if "id" not in names or "text" not in names:
        return False
    j = names.index("text")
    for i in range(pf.metadata.num_row_groups):
        rg = pf.metadata.row_group(i)
        st = rg.column(j).statistics
        if rg.num_rows and (st is None or st.null_count is None):
            return pq.read_table(path, columns=["text"]).column("text").null_count == 0
        if rg.num_rows and st.null_count > 0:
            return False
    return True


def ingest_worker(layout: Layout, cfg: IngestConfig) -> DocShardWorker:
    return DocShardWorker(layout, cfg.reader, list, "annotate", cfg.extraction)


def ingest(files: list[str], layout: Layout, cfg: IngestConfig, resources: Resources,
           env: RunEnv) -> tuple[list[str], StageResult | None]:
    """Inputs that are not Parquet document shards read and extracted into Parquet by the shared shard worker
    (with the usual quarantine and `no_text` accounting): (every input as a document shard, the pass's result)."""
    direct = [f for f in files if is_doc_shard(f, cfg.reader)]
    other = [f for f in files if f not in set(direct)]
    if not other:
        return direct, None
    il = layout.sub(f"{layout.stage}-ingest")
    stats = run_shards(other, il, functools.partial(ingest_worker, il, cfg), env, resources, f"{layout.stage}: ingest")
    return direct + [str(il.data / f"{s['shard']}.parquet") for s in stats], \
        StageResult("ingest", sum_counts(stats), sum_steps(stats))


def plan_shards(files: list[str]) -> list[dict]:
    plan, offset = [], 0
    for i, f in enumerate(files):
        n = pq.ParquetFile(f).metadata.num_rows
        plan.append({"i": i, "path": f, "offset": offset, "rows": n, "name": shard_name(f)})
        offset += n
    if len({p["name"] for p in plan}) != len(plan):
        raise UserError("two dedupe inputs map to the same shard name; give distinct files")
    return plan


def plan_index(cfg: DedupeConfig) -> list[dict]:
    """The files of an earlier run's index (`index_in`, its parameters checked), with their node bases."""
    if not cfg.index_in:
        return []
    load_index(cfg.index_in, index_params(cfg))  # checks the parameters
    ip, index, base = Path(cfg.index_in), [], 0
    for f in (sorted(str(p) for p in ip.glob("*.parquet")) if ip.is_dir() else [str(ip)]):
        rows = pq.ParquetFile(f).metadata.num_rows
        index.append({"path": f, "base": base, "rows": rows})
        base += rows
    return index


def shuffle_strategy(docs: int) -> None:
    """How Ray Data shuffles dedupe's groupings (buckets, components, keepers). Small jobs: the task-based sort
    shuffle (starts fast). Large ones: the task-based hash shuffle (SHUFFLE_V2): shuffle pieces live in the object
    store (spilled to disk when it fills), a map task partitions at most SHUFFLE_BATCH_BYTES of input, a reduce
    task holds one partition of at most `shuffle_rows_per_partition` rows, so a worker's memory is bounded by these
    constants, not by the corpus. Not the sort shuffle above 200k documents (it grew the driver by 1.4 GB at 1M),
    nor the actor-based hash shuffle (its aggregators keep every partition in their heap until the end):
    benchmarks/RESULTS.md, "Scale (issue 11)"."""
    from ray.data import DataContext
    from ray.data.context import ShuffleStrategy

    ctx = DataContext.get_current()
    if docs <= SORT_SHUFFLE_MAX_DOCS:
        ctx.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED
    else:
        ctx.shuffle_strategy = ShuffleStrategy.SHUFFLE_V2
        ctx.shuffle_input_batch_bytes = SHUFFLE_BATCH_BYTES


def band_spans(cfg: DedupeConfig, docs: int, split: bool = True) -> list[tuple[int, int, int]]:
    """How the buckets grouping is split on Ray: [(band lo, band hi, partitions)], band -1 the exact key. One
    grouping unless its shuffle would have more than MAX_SHUFFLE_PIECES pieces (map batches x partitions, which
    grows with the square of the corpus: ~3e8 for the 700M documents a 1B-page crawl keeps, with the defaults);
    then g groupings of about 1/g of the bands each have ~1/g^2 of the pieces. Bands are independent, so the edges
    are the same."""
    bands, _ = cfg.band_rows()
    slots = list(range(-1 if cfg.exact else 0, bands if cfg.near else 0))
    rows = docs * len(slots)
    batches = max(1, rows * BAND_ROW_BYTES // SHUFFLE_BATCH_BYTES)
    parts = max(1, -(-rows // cfg.shuffle_rows_per_partition))
    g = max(1, min(len(slots), math.ceil(math.sqrt(batches * parts / MAX_SHUFFLE_PIECES)))) if split else 1
    spans = [c for c in np.array_split(np.array(slots), g) if len(c)] or [np.array([0])]
    return [(int(c[0]), int(c[-1]) + 1, max(1, -(-docs * len(c) // cfg.shuffle_rows_per_partition))) for c in spans]
