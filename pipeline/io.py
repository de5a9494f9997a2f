"""Atomic writers and input listing (local paths, globs, and any pyarrow/fsspec URL)."""
from __future__ import annotations

import glob
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

URL_SCHEMES = ("s3://", "gs://", "gcs://", "file://", "hdfs://", "abfs://", "az://", "http://", "https://", "memory://")


def is_url(path: str) -> bool:
    return str(path).startswith(URL_SCHEMES)


def _atomic(path: Path, write) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_parquet_atomic(table: pa.Table, path: Path) -> None:
    """Write `table` to `path` via a temp file in the same dir and a rename: readers never see a partial file."""
    _atomic(path, lambda tmp: pq.write_table(table, tmp, compression="zstd"))


def write_json_atomic(obj: Any, path: Path) -> None:
    def write(tmp: str) -> None:
        with open(tmp, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True, default=str)
            f.write("\n")

    _atomic(path, write)


def write_text_atomic(text: str, path: Path) -> None:
    def write(tmp: str) -> None:
        Path(tmp).write_text(text)

    _atomic(path, write)


def expand_inputs(paths: list[str] | str, suffixes: tuple[str, ...] | None = None) -> list[str]:
    """Expand files, directories (recursively) and globs, locally or through fsspec for URLs.

    Hidden files and temp files (``.name``) are skipped. The result is sorted and de-duplicated so shard
    assignment is stable across runs. Raises FileNotFoundError naming the pattern that matched nothing.
    """
    if isinstance(paths, (str, Path)):
        paths = [str(paths)]
    out: list[str] = []
    for p in map(str, paths):
        if is_url(p):
            found = _expand_url(p)
        elif any(c in p for c in "*?["):
            found = sorted(glob.glob(p, recursive=True))
            found = [f for f in found if os.path.isfile(f)]
        elif os.path.isdir(p):
            found = sorted(
                os.path.join(root, f)
                for root, dirs, files in os.walk(p)
                for f in files
                if not f.startswith(".") and not any(d.startswith(".") for d in Path(root).relative_to(p).parts)
            )
        elif os.path.exists(p):
            found = [p]
        else:
            raise FileNotFoundError(f"input not found: {p}")
        if suffixes:
            found = [f for f in found if f.endswith(suffixes) or _is_hf_dataset_dir(f)]
        if not found:
            raise FileNotFoundError(f"no input files match: {p}")
        out.extend(found)
    return sorted(set(out))


def _is_hf_dataset_dir(path: str) -> bool:
    return os.path.isdir(path) and os.path.exists(os.path.join(path, "dataset_info.json"))


def _expand_url(url: str) -> list[str]:
    import fsspec

    fs, _, roots = fsspec.get_fs_token_paths(url)
    protocol = url.split("://", 1)[0]
    found: list[str] = []
    for root in roots:
        if fs.isdir(root):
            found += [f for f in fs.find(root) if not Path(f).name.startswith(".")]
        else:
            found.append(root)
    return sorted(f if "://" in f else f"{protocol}://{f}" for f in found)


def open_binary(path: str):
    """Open a local path or fsspec URL for binary reading."""
    if is_url(path):
        import fsspec

        return fsspec.open(path, "rb").open()
    return open(path, "rb")
