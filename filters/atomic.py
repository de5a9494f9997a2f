"""Atomic writes: a reader (or a resumed run) never sees a partial file or folder.

The one implementation for every package: `filters/` may not import `pipeline/`, so it lives at the bottom of the
import graph and `pipeline.io` re-exports it.
- `atomic_path(path)`: a temp file name in the same folder, renamed onto `path` on success (`os.replace`);
- `atomic_dir(path)`: a temp folder next to `path`, filled by the caller, then put in place of `path` at once; a
  temp folder left by a killed writer is removed by the next one.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temp path next to `path`; on success rename it to `path`, on failure remove it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty temp folder next to `path`; on success it replaces `path` (an earlier `path` is removed
    first), on failure it is removed."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
