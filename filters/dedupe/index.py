"""Incremental dedupe: a Parquet band-hash index of kept documents, reusable by later runs.

Index rows: ``id`` (str), ``exact_hash`` (uint64), ``b0..b{B-1}`` (uint64 band hashes); the MinHash parameters are
stored in the Parquet schema metadata and must match the new run's (otherwise the bands are incomparable).
New documents that share an exact key or a band bucket with an indexed one are removed as its duplicates; indexed
documents are never removed and their signatures are never recomputed.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

PARAM_KEYS = ("num_perm", "bands", "rows", "ngram", "seed", "scheme", "exact_url")
META_KEY = b"assay.dedupe.params"


def index_params(cfg) -> dict:
    """The parameters that make two runs' band hashes comparable."""
    bands, rows = cfg.band_rows()
    return {"num_perm": cfg.num_perm, "bands": bands, "rows": rows, "ngram": cfg.ngram, "seed": cfg.seed,
            "scheme": cfg.scheme, "exact_url": cfg.exact_url}


def index_table(ids, exact: np.ndarray, bhashes: np.ndarray, params: dict) -> pa.Table:
    """Build an index table (see module doc)."""
    cols = {"id": pa.array(np.asarray(ids, dtype=object).astype(str), pa.string()),
            "exact_hash": pa.array(np.asarray(exact, np.uint64))}
    for i in range(bhashes.shape[1]):
        cols[f"b{i}"] = pa.array(np.ascontiguousarray(bhashes[:, i]), pa.uint64())
    t = pa.table(cols)
    return t.replace_schema_metadata({META_KEY: json.dumps(params, sort_keys=True).encode()})


def load_index(path: str | Path, params: dict | None = None) -> pa.Table:
    """Read an index (a file or a directory of files); check its parameters against `params` when given."""
    path = Path(path)
    files = sorted(path.glob("*.parquet")) if path.is_dir() else [path]
    if not files:
        raise FileNotFoundError(f"no index files in {path}")
    tables = [pq.read_table(f) for f in files]
    for f, t in zip(files, tables):
        meta = (t.schema.metadata or {}).get(META_KEY)
        if meta is None:
            raise ValueError(f"{f}: not a dedupe index (no {META_KEY.decode()} metadata)")
        got = json.loads(meta)
        if params is not None and {k: got.get(k) for k in PARAM_KEYS} != {k: params.get(k) for k in PARAM_KEYS}:
            raise ValueError(f"{f}: index parameters {got} differ from this run's {params}")
    return pa.concat_tables(tables)


def index_bands(table: pa.Table) -> np.ndarray:
    """(n, B) uint64 band hashes of an index table."""
    names = sorted((c for c in table.column_names if c.startswith("b") and c[1:].isdigit()), key=lambda c: int(c[1:]))
    if not names:
        return np.zeros((table.num_rows, 0), dtype=np.uint64)
    return np.stack([table.column(c).to_numpy() for c in names], axis=1).astype(np.uint64)
