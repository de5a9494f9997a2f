"""Dedupe's tables on disk: folders of Parquet written as a whole (`atomic_dir`), and node-ranged tables.

A node-ranged table (components, decisions) is one file per contiguous range of node ids, sorted by node in small
row groups, so a step that reads it per shard (keepers' member join, apply) opens only the file and row groups
covering that shard's rows, not the whole table (which made those steps O(shards x rows)).
"""
from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from pipeline.io import atomic_dir, write_parquet_atomic
from pipeline.runner import RAY_TASK_RETRIES

RANGE_ROWS = 250_000             # about this many rows per file of a node-ranged table
RANGE_ROW_GROUP = 8_192          # rows per row group inside it (what one shard's read skips to)
COMPONENT_SCHEMA = pa.schema([("node", pa.int64()), ("label", pa.int64())])
DECISION_SCHEMA = pa.schema([("node", pa.int64()), ("cluster_id", pa.int64()), ("keep", pa.bool_()),
                             ("duplicate_of", pa.string()), ("reason", pa.string()), ("cluster_size", pa.int64())])


def read_dir(path: Path, columns: list[str] | None = None, filt=None) -> pa.Table | None:
    files = sorted(str(p) for p in Path(path).glob("*.parquet"))
    if not files:
        return None
    return pads.dataset(files, format="parquet").to_table(columns=columns, filter=filt)


def rows_in_dir(path: Path) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in Path(path).glob("*.parquet"))


def write_table_dir(table: pa.Table, final: Path) -> None:
    with atomic_dir(final) as tmp:
        write_parquet_atomic(table, tmp / "part-00000.parquet")


def write_ds_dir(datasets: Iterable, final: Path, execute) -> None:
    """Ray datasets (executed one after another by `execute(ds, action)`, under the run's watchdog) as one folder
    of Parquet files, in place at once."""
    with atomic_dir(final) as tmp:  # an empty dataset writes nothing
        for i, ds in enumerate(datasets):
            execute(ds, lambda d, out=str(tmp / f"{i}"): d.write_parquet(out))
            for f in sorted((tmp / f"{i}").glob("*.parquet")):
                os.replace(f, tmp / f"{i}-{f.name}")
            shutil.rmtree(tmp / f"{i}", ignore_errors=True)


def np_columns(t: pa.Table) -> dict:
    return {c: (t.column(c).to_numpy(zero_copy_only=False) if c != "shingles" else
                np.array(t.column(c).to_pylist() + [None], dtype=object)[:-1]) for c in t.column_names}


class NodeRanges:
    """Contiguous ranges of node ids [lo, hi) split into `n` equal parts: a table written by range (one sorted file
    per part) lets a reader of one shard's nodes open only the part(s) its range falls in."""

    def __init__(self, lo: int, hi: int, rows: int):
        self.lo, self.hi = int(lo), max(int(hi), int(lo) + 1)
        self.n = max(1, -(-int(rows) // RANGE_ROWS))

    def of(self, nodes: np.ndarray) -> np.ndarray:
        span = self.hi - self.lo
        return np.clip((np.asarray(nodes, np.int64) - self.lo) * self.n // span, 0, self.n - 1)


def _add_range(batch: dict, ranges: NodeRanges) -> dict:
    return {**batch, "_range": ranges.of(batch["node"])}


def _write_range(group: dict, out: str, schema: pa.Schema) -> dict:
    """One part of a node-ranged table (all rows of one `_range`), sorted by node, to out/range-NNNNNN.parquet."""
    order = np.argsort(group["node"], kind="stable")
    table = pa.table({f.name: pa.array(group[f.name][order], f.type) for f in schema}, schema=schema)
    part = int(group["_range"][0]) if len(order) else -1
    write_parquet_atomic(table, Path(out) / f"range-{part:06d}.parquet", RANGE_ROW_GROUP)
    return {"part": np.array([part], np.int64), "rows": np.array([len(order)], np.int64)}


def write_ranges_local(cols: dict, ranges: NodeRanges, schema: pa.Schema, final: Path) -> None:
    with atomic_dir(final) as tmp:
        part = ranges.of(cols["node"])
        for r in np.unique(part):
            sel = part == r
            _write_range({**{k: np.asarray(v)[sel] for k, v in cols.items()}, "_range": part[sel]}, str(tmp), schema)


def write_ranges_ray(ds, ranges: NodeRanges, schema: pa.Schema, final: Path, run) -> None:
    """`run`: the dedupe run, whose watchdog covers the grouping (`run.task`, `run.execute`)."""
    with atomic_dir(final) as tmp:
        ds = ds.map_batches(run.task(_add_range), fn_kwargs={"ranges": ranges}, batch_format="numpy",
                            **RAY_TASK_RETRIES)
        run.execute(ds.groupby("_range", num_partitions=ranges.n).map_groups(
            run.task(_write_range), fn_kwargs={"out": str(tmp), "schema": schema}, batch_format="numpy", **RAY_TASK_RETRIES))


def range_index(folder: Path) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(min node, max node, path) of each file of a node-ranged table, from the footers (read once, by the
    driver), in node order. Files cover disjoint ranges, so both arrays are sorted."""
    rows = []
    for p in sorted(Path(folder).glob("*.parquet")):
        md = pq.ParquetFile(p).metadata
        if md.num_rows == 0:
            continue
        col = md.schema.to_arrow_schema().get_field_index("node")
        st = [md.row_group(i).column(col).statistics for i in range(md.num_row_groups)]
        rows.append((min(s.min for s in st), max(s.max for s in st), str(p)))
    rows.sort()
    return (np.array([r[0] for r in rows], np.int64), np.array([r[1] for r in rows], np.int64), [r[2] for r in rows])


def range_files(index: tuple[np.ndarray, np.ndarray, list[str]], lo: int, hi: int) -> list[str]:
    """The files of a node-ranged table that can hold nodes in [lo, hi)."""
    mins, maxs, paths = index
    return paths[int(np.searchsorted(maxs, lo, "left")):int(np.searchsorted(mins, hi, "left"))]


def read_node_range(files: list[str], lo: int, hi: int, columns: list[str]) -> pa.Table | None:
    """Rows with lo <= node < hi of the given files of a node-ranged table (row groups outside skipped)."""
    if not files:
        return None
    return pads.dataset(files, format="parquet").to_table(
        columns=columns, filter=(pads.field("node") >= lo) & (pads.field("node") < hi))
