"""A content-addressed cache of completions, keyed by `request_key` (prompt, model, sampling parameters, task
version), so a restarted or repeated run never re-sends a completed request.

Storage: one SQLite file in WAL mode per writer. WAL lets any number of readers (other processes, other shard
workers) read while the one writer appends; each `put_many` is one transaction, committed before it returns, so a
run killed at any point keeps every batch it finished (with ``synchronous=NORMAL`` a power cut can lose the last
transactions, never corrupt the file; pass ``durable=True`` for ``FULL``). Only successful responses are stored:
failures are retried by the next run. The first completion stored under a key wins (``INSERT OR IGNORE``), so a
rerun reproduces the same dataset even if a backend is not deterministic.

Parallel workers: give each writer its own file in one directory (`CacheDir`): a worker writes its file and reads
all of them. WAL needs shared memory between the processes, so keep cache files on a local disk, not NFS.
A `CompletionCache` pickles as its path (it reconnects lazily), so it can be handed to Ray actors.
"""
from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Iterable, Sequence

from generators.backends.base import Response

_SCHEMA = """
CREATE TABLE IF NOT EXISTS completions (
    key TEXT PRIMARY KEY,
    text TEXT NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    created REAL NOT NULL
) WITHOUT ROWID
"""
_CHUNK = 500  # keys per SELECT (SQLite's bound-variable limit is far higher)


class CompletionCache:
    """Completions by request key in one SQLite file. ``readonly=True`` opens an existing file for lookups only."""

    def __init__(self, path: str | os.PathLike, readonly: bool = False, durable: bool = False,
                 timeout: float = 30.0):
        self.path = Path(path)
        self.readonly = readonly
        self.durable = durable
        self.timeout = timeout
        self._conn: sqlite3.Connection | None = None
        self._pid: int | None = None

    # -- connection ------------------------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        if self._conn is not None and self._pid == os.getpid():
            return self._conn
        if self.readonly:
            if not self.path.exists():
                raise FileNotFoundError(f"cache file not found: {self.path}")
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=self.timeout,
                                   isolation_level=None, check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=self.timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={'FULL' if self.durable else 'NORMAL'}")
            conn.execute(_SCHEMA)
        self._conn, self._pid = conn, os.getpid()
        return conn

    def close(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            self._conn.close()
        self._conn = None

    def __enter__(self) -> "CompletionCache":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __getstate__(self) -> dict:
        return {"path": str(self.path), "readonly": self.readonly, "durable": self.durable, "timeout": self.timeout}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    # -- reads and writes ------------------------------------------------------------------------------------
    def get_many(self, keys: Iterable[str]) -> dict[str, Response]:
        """Cached responses (``cached=True``) for the keys present; missing keys are simply absent."""
        keys = list(dict.fromkeys(keys))
        if not keys:
            return {}
        conn = self._connect()
        out: dict[str, Response] = {}
        for i in range(0, len(keys), _CHUNK):
            chunk = keys[i:i + _CHUNK]
            rows = conn.execute(
                f"SELECT key, text, prompt_tokens, completion_tokens FROM completions "
                f"WHERE key IN ({','.join('?' * len(chunk))})", chunk).fetchall()
            for key, text, pt, ct in rows:
                out[key] = Response(key=key, text=text, prompt_tokens=pt, completion_tokens=ct, cached=True)
        return out

    def put_many(self, responses: Iterable[Response]) -> int:
        """Store the successful responses in one transaction; returns how many were new."""
        if self.readonly:
            raise PermissionError(f"cache opened read-only: {self.path}")
        rows = [(r.key, r.text, int(r.prompt_tokens), int(r.completion_tokens), time.time())
                for r in responses if r.ok and not r.cached]
        if not rows:
            return 0
        conn = self._connect()
        before = conn.total_changes
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.executemany("INSERT OR IGNORE INTO completions VALUES (?, ?, ?, ?, ?)", rows)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return conn.total_changes - before

    def __len__(self) -> int:
        try:
            return self._connect().execute("SELECT COUNT(*) FROM completions").fetchone()[0]
        except FileNotFoundError:
            return 0

    def __contains__(self, key: str) -> bool:
        return key in self.get_many([key])


class CacheDir:
    """A directory of cache files, one per writer: lookups read every ``*.sqlite`` file there (the writer's own
    first), writes go to ``<name>.sqlite``. Files that appear later (other workers) are picked up on the next
    lookup."""

    def __init__(self, directory: str | os.PathLike, name: str = "cache"):
        self.directory = Path(directory)
        self.writer = CompletionCache(self.directory / f"{name}.sqlite")
        self._readers: dict[Path, CompletionCache] = {}

    def _reader_files(self) -> list[Path]:
        return sorted(p for p in self.directory.glob("*.sqlite") if p != self.writer.path)

    def get_many(self, keys: Sequence[str]) -> dict[str, Response]:
        found = self.writer.get_many(keys)
        for path in self._reader_files():
            missing = [k for k in keys if k not in found]
            if not missing:
                break
            reader = self._readers.get(path) or self._readers.setdefault(path, CompletionCache(path, readonly=True))
            try:
                found.update(reader.get_many(missing))
            except sqlite3.OperationalError:  # a file another worker is still creating
                continue
        return found

    def put_many(self, responses: Iterable[Response]) -> int:
        return self.writer.put_many(responses)

    def close(self) -> None:
        self.writer.close()
        for r in self._readers.values():
            r.close()
        self._readers.clear()

    def __enter__(self) -> "CacheDir":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
