"""HTML to text (assay's `fast` extractor by default, or trafilatura or resiliparse) under a hard per-page limit.

`extract(html, charset, extractor)` runs an extractor in this process. `Extraction` is what stages use: it sends
pages in batches to one long-lived child process (`python -m pipeline.extract_worker`) and kills it when a page
takes longer than `timeout_s`, because a time limit inside the process (SIGALRM) cannot interrupt native code: a page
of 50k nested `<div>` keeps resiliparse's C parser busy for minutes. Pre-checks refuse the most hostile pages before
any extractor sees them: size, and for extractors whose parser does not bound nesting itself a scan of the tag
depth (`fast` reads libxml2's own depth limit from its parse instead, at no cost). Every refused, timed-out or
crashed page becomes a quarantine row with a reason (`extraction_too_large`, `extraction_too_deep`,
`extraction_timeout`, `extraction_crashed`, `extraction_failed`); the rest of the batch and the shard go on.
"""
from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.extract_worker import (  # noqa: F401  (the child's side, re-exported)
    EXTRACTORS,
    ExtractionError,
    ExtractionTimeout,
    _fast,
    _resiliparse,
    _trafilatura,
    decode_html,
    extract,
    recv_msg,
    send_msg,
    time_limit,
)

ExtractorName = Literal["fast", "trafilatura", "resiliparse"]


class ExtractionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    extractor: ExtractorName = Field(
        "fast", description="HTML text extractor: fast (assay's own, the default: on real pages with known text "
                            "F1 0.870 vs trafilatura's 0.812 at 5.5x its pages per CPU-second, see "
                            "benchmarks/RESULTS.md), trafilatura or resiliparse")
    timeout_s: float = Field(5.0, ge=0, description="hard per-page time limit in seconds (0 = none)")
    isolation: Literal["process", "none"] = Field(
        "process", description="process: extract in a child process that is killed at the time limit; none: in "
                               "this process with a SIGALRM limit (cannot stop native code)")
    max_html_bytes: int = Field(5_000_000, gt=0, description="larger pages are quarantined unparsed")
    max_depth: int = Field(1_000, gt=0, description="pages whose tags nest deeper are quarantined unparsed "
                                                    "(trafilatura, resiliparse; fast stops at its parser's 256)")
    memory_mb: int = Field(4096, ge=256, description="address-space limit of the extraction process")


# ------------------------------------------------------------------------------------------------- pre-checks
_TAG = re.compile(rb"<(/?)([a-zA-Z][a-zA-Z0-9]*)[^>]*?(/?)>")
_VOID = {b"area", b"base", b"br", b"col", b"embed", b"hr", b"img", b"input", b"link", b"meta", b"param", b"source",
         b"track", b"wbr", b"p", b"li", b"option", b"td", b"tr", b"th", b"dt", b"dd"}  # + often-unclosed tags


def nesting_depth(html: bytes, limit: int) -> int:
    """An upper estimate of the tag-nesting depth, stopping early once it exceeds `limit`. Pages with few tags
    are not scanned (they cannot nest deeply)."""
    if html.count(b"<") <= limit:
        return 0
    depth = 0
    for m in _TAG.finditer(html):
        name = m.group(2).lower()
        if name in _VOID or m.group(3):
            continue
        depth = depth - 1 if m.group(1) else depth + 1
        if depth > limit:
            return depth
    return max(depth, 0)


# extractors whose parser bounds nesting itself and reports a page it cut short (libxml2 stops at 256 levels; `fast`
# reads that from its own parse, at no cost): no pre-scan of the page for them
BOUNDS_DEPTH = frozenset({"fast"})


def precheck(body: bytes, cfg: ExtractionConfig) -> None:
    if len(body) > cfg.max_html_bytes:
        raise ExtractionError(f"page of {len(body)} bytes exceeds max_html_bytes={cfg.max_html_bytes}",
                              "extraction_too_large")
    if cfg.extractor not in BOUNDS_DEPTH and nesting_depth(body, cfg.max_depth) > cfg.max_depth:
        raise ExtractionError(f"tags nest deeper than max_depth={cfg.max_depth}", "extraction_too_deep")


# ------------------------------------------------------------------------------------------------- isolation
class Extraction:
    """A stage's extraction step: pre-checks, then the extractor in one long-lived child process per worker, fed in
    batches and killed at `timeout_s` per page.

    `extract_many(items)` sends a batch of pages in one message; the child answers page by page, so the parent
    knows which page it was working on when it went silent or died. A page that runs past the limit is quarantined
    (`extraction_timeout`) and the child replaced; a child that dies (a crash, the OOM killer, a stray SIGKILL) is
    replaced and the page it was on tried once more, then quarantined (`extraction_crashed`). The rest of the
    batch goes to the new child, so one bad page costs only itself."""

    BATCH_PAGES = 64  # pages per message to the child ...
    BATCH_BYTES = 16 << 20  # ... and at most this many bytes of HTML (a message is held in memory on both sides)
    CRASH_TRIES = 2  # a page whose child dies is tried this many times before it is quarantined

    def __init__(self, cfg: ExtractionConfig | None = None):
        self.cfg = cfg or ExtractionConfig()
        self._proc: subprocess.Popen | None = None
        self.restarts = 0  # children started
        self.retried = 0  # pages sent again after their child died
        self.child_cpu_s = 0.0  # CPU seconds the children spent, killed ones included
        self._child_cpu_seen = 0.0

    def __call__(self, body: bytes, charset: str | None = None) -> str:
        out = self.extract_many([(body, charset)])[0]
        if isinstance(out, ExtractionError):
            raise out
        return out

    def extract_many(self, items: list[tuple[bytes, str | None]]) -> list[str | ExtractionError]:
        """The text of each (body, charset), or the ExtractionError that quarantines it, in input order."""
        out: list[str | ExtractionError | None] = [None] * len(items)
        todo = []
        for i, (body, charset) in enumerate(items):
            try:
                precheck(body, self.cfg)
            except ExtractionError as e:
                out[i] = e
                continue
            todo.append(i)
        if self.cfg.isolation == "none" or self.cfg.timeout_s <= 0:
            for i in todo:
                try:
                    out[i] = extract(items[i][0], items[i][1], self.cfg.extractor, self.cfg.timeout_s)
                except ExtractionError as e:
                    out[i] = e
            return out
        start = 0
        while start < len(todo):
            end, size = start, 0
            while end < len(todo) and end - start < self.BATCH_PAGES and (end == start or size < self.BATCH_BYTES):
                size += len(items[todo[end]][0])
                end += 1
            self._run_batch(items, todo[start:end], out)
            start = end
        return out

    def _run_batch(self, items, idx: list[int], out: list) -> None:
        crashes: dict[int, int] = {}
        while idx:
            proc = self._child()
            k = 0  # results received for idx[:k]
            try:
                send_msg(proc.stdin.fileno(), (self.cfg.extractor, [items[i] for i in idx]))
                while k < len(idx):
                    status, value, cpu = recv_msg(proc.stdout.fileno(), time.monotonic() + self.cfg.timeout_s)
                    self.child_cpu_s += cpu - self._child_cpu_seen
                    self._child_cpu_seen = cpu
                    out[idx[k]] = value if status == "ok" else ExtractionError(value[0], value[1])
                    k += 1
                return
            except TimeoutError:
                self._kill()
                out[idx[k]] = ExtractionTimeout(f"extraction exceeded {self.cfg.timeout_s:g} s (process killed)")
                idx = idx[k + 1:]
            except (EOFError, BrokenPipeError, OSError):
                code = self._kill()
                i = idx[k]
                crashes[i] = crashes.get(i, 0) + 1
                if crashes[i] >= self.CRASH_TRIES:
                    out[i] = ExtractionError(f"extraction process died (exit code {code}) on {crashes[i]} tries",
                                             "extraction_crashed")
                    idx = idx[k + 1:]
                else:
                    self.retried += 1
                    idx = idx[k:]

    def _child(self) -> subprocess.Popen:
        if self._proc is None or self._proc.poll() is not None:
            env = {**os.environ, "ASSAY_EXTRACT_MEMORY_MB": str(self.cfg.memory_mb)}
            self._proc = subprocess.Popen([sys.executable, "-m", "pipeline.extract_worker"], stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)
            self.restarts += 1
            self._child_cpu_seen = 0.0
        return self._proc

    @property
    def pid(self) -> int | None:
        """The running child's process id (None before the first page and after a kill)."""
        return self._proc.pid if self._proc is not None and self._proc.poll() is None else None

    def _kill(self) -> int | None:
        proc, self._proc = self._proc, None
        if proc is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = code = os.waitstatus_to_exitcode(status)
            self.child_cpu_s += max(usage.ru_utime + usage.ru_stime - self._child_cpu_seen, 0.0)
        except ChildProcessError:  # reaped elsewhere
            code = proc.wait()
        for f in (proc.stdin, proc.stdout):
            with contextlib.suppress(OSError):
                f.close()
        return code

    def close(self) -> None:
        self._kill()

    def __del__(self):
        with contextlib.suppress(Exception):
            self.close()
