"""Atomic writes and input expansion (local paths, globs, directories and fsspec URLs).

Every file assay writes goes through `atomic_path` (a temp name in the same directory, then `os.replace`) and every
folder written as a whole through `atomic_dir`, so a reader (or a resumed run) never sees a partial file or folder
(both from `filters.atomic`, the one implementation that `filters/` can use too).

Input expansion rules (`expand_inputs`), the same for every stage:
- a file is taken as it is; its name must end in a document suffix (`pipeline.formats.ALL_SUFFIXES`);
- a `datasets` `save_to_disk` folder (`dataset_info.json` + `state.json`, or `dataset_dict.json`) is one input;
- an assay stage output (a folder with `manifest.json` and `data/`) means its `data/` only, never `rejects/`,
  `quarantine/`, `work/`, `stats/` or side files;
- any other folder is walked recursively for document files; names starting with `.` or `_` are skipped (temp
  files, `_truth.jsonl`-style side files), as are files without a document suffix (counted in `skipped`);
- globs and fsspec URLs (`s3://`, `gs://`, `file://`, ...) expand to files, then follow the rules above.
The result is sorted and de-duplicated, so shard assignment is stable across runs.
"""
from __future__ import annotations

import glob
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from filters.atomic import atomic_dir, atomic_path  # noqa: F401  (re-exported: the one implementation)
from pipeline.errors import UserError
from pipeline.formats import ALL_SUFFIXES, is_hf_dataset_dir  # noqa: F401  (is_hf_dataset_dir: re-exported)

URL_SCHEMES = ("s3://", "gs://", "gcs://", "file://", "hdfs://", "abfs://", "az://", "http://", "https://", "memory://")


def is_url(path: str) -> bool:
    return str(path).startswith(URL_SCHEMES)


def write_parquet_atomic(table: pa.Table, path: str | os.PathLike, row_group_size: int | None = None) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", row_group_size=row_group_size)


def write_json_atomic(obj: Any, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True, default=str)
        f.write("\n")


def write_text_atomic(text: str, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_text(text)


def write_bytes_atomic(data: bytes, path: str | os.PathLike) -> None:
    with atomic_path(path) as tmp:
        Path(tmp).write_bytes(data)


def unify_parquet_dir(folder: str | os.PathLike) -> int:
    """Give every Parquet file in `folder` the same schema (the union, base columns first; a column a file lacks is
    null there), so `datasets` and pyarrow read the folder as one table. Shards of mixed inputs differ (a Parquet
    input's pass-through columns, signals of steps no kept document reached). Returns the number rewritten."""
    files = sorted(Path(folder).glob("*.parquet"))
    schemas = [pq.read_schema(f) for f in files]
    if len({s.remove_metadata() for s in schemas}) <= 1:
        return 0
    from pipeline.schema import BASE_COLUMNS

    try:
        union = pa.unify_schemas([s.remove_metadata() for s in schemas], promote_options="permissive")
    except (pa.ArrowInvalid, pa.ArrowTypeError) as e:
        raise UserError(f"{folder}: shards have incompatible column types ({e}); give inputs with consistent "
                        "schemas") from None
    names = [c for c in BASE_COLUMNS if c in union.names] + [c for c in union.names if c not in BASE_COLUMNS]
    union = pa.schema([union.field(n) for n in names])
    n = 0
    for f, s in zip(files, schemas):
        if s.remove_metadata() == union:
            continue
        t = pq.read_table(f)
        cols = [t.column(c).cast(union.field(c).type) if c in t.column_names else
                pa.nulls(t.num_rows, union.field(c).type) for c in union.names]
        write_parquet_atomic(pa.table(cols, schema=union), f)
        n += 1
    return n


# ---------------------------------------------------------------------------------------------- input expansion
STAGE_SUBDIRS = ("data", "rejects", "quarantine", "work", "stats")


def is_stage_output(path: str) -> bool:
    """A folder written by an assay stage: `manifest.json` (or a run record) next to `data/`."""
    return os.path.isdir(os.path.join(path, "data")) and (
        os.path.exists(os.path.join(path, "manifest.json")) or os.path.exists(os.path.join(path, "run.json")))


@dataclass
class Expansion:
    files: list[str]
    skipped: list[str] = field(default_factory=list)  # files in walked folders that are not documents


def _hidden(name: str) -> bool:
    return name.startswith((".", "_"))


def _walk(root: str, suffixes: tuple[str, ...], out: Expansion) -> None:
    if is_hf_dataset_dir(root):
        out.files.append(root)
        return
    if is_stage_output(root):
        root = os.path.join(root, "data")
    for entry in sorted(os.scandir(root), key=lambda e: e.name):
        if _hidden(entry.name):
            continue
        if entry.is_dir():
            _walk(entry.path, suffixes, out)
        elif entry.name.lower().endswith(suffixes):
            out.files.append(entry.path)
        else:
            out.skipped.append(entry.path)


def expand_inputs(paths: list[str] | str, suffixes: tuple[str, ...] | None = None,
                  allow_empty: bool = False) -> list[str]:
    """Expand inputs into document files by the rules in the module docstring; raise UserError naming an input
    that does not exist or matches nothing."""
    return expand(paths, suffixes, allow_empty).files


def expand(paths: list[str] | str, suffixes: tuple[str, ...] | None = None, allow_empty: bool = False) -> Expansion:
    suffixes = suffixes or ALL_SUFFIXES
    if isinstance(paths, (str, Path)):
        paths = [str(paths)]
    out = Expansion([])
    for p in map(str, paths):
        before = len(out.files)
        if is_url(p):
            _expand_url(p, suffixes, out)
        elif any(c in p for c in "*?["):
            for f in sorted(glob.glob(p, recursive=True)):
                if os.path.isdir(f):
                    _walk(f, suffixes, out)
                elif f.lower().endswith(suffixes):
                    out.files.append(f)
        elif os.path.isdir(p):
            _walk(p, suffixes, out)
        elif os.path.isfile(p):
            if not p.lower().endswith(suffixes):
                raise UserError(f"{p}: not a document file (expected a name ending in {', '.join(suffixes)}, "
                                "a directory or a `datasets` save_to_disk folder)")
            out.files.append(p)
        else:
            raise UserError(f"input not found: {p}")
        if len(out.files) == before and not allow_empty:
            raise UserError(f"no document files in {p} (looked for {', '.join(suffixes)})")
    out.files = sorted(set(out.files))
    return out


def _expand_url(url: str, suffixes: tuple[str, ...], out: Expansion) -> None:
    import fsspec

    fs, _, roots = fsspec.get_fs_token_paths(url)
    protocol = url.split("://", 1)[0]
    for root in roots:
        found = [f for f in fs.find(root) if not any(_hidden(part) for part in Path(f).relative_to(root).parts)] \
            if fs.isdir(root) else [root]
        for f in sorted(found):
            full = f if "://" in f else f"{protocol}://{f}"
            (out.files if f.lower().endswith(suffixes) else out.skipped).append(full)


def open_binary(path: str):
    """Open a local path or fsspec URL for binary reading."""
    if is_url(path):
        import fsspec

        return fsspec.open(path, "rb").open()
    return open(path, "rb")


def file_signature(path: str) -> list:
    """(path, size, mtime) of an input, for run fingerprints; URLs and folders by what fsspec/os report."""
    try:
        if is_url(path):
            import fsspec

            fs, _, (p,) = fsspec.get_fs_token_paths(path)
            info = fs.info(p)
            return [path, info.get("size"), str(info.get("mtime") or info.get("LastModified") or "")]
        if os.path.isdir(path):
            files = sorted(Path(path).rglob("*"))
            return [path, sum(f.stat().st_size for f in files if f.is_file()),
                    max((f.stat().st_mtime_ns for f in files if f.is_file()), default=0)]
        st = os.stat(path)
        return [path, st.st_size, st.st_mtime_ns]
    except OSError:
        return [path, None, None]
