"""The one progress and logging mechanism: `log()` for messages, `StageProgress` for work that advances.

On a terminal progress is a rich bar with running counts; elsewhere (CI, Ray job logs) it is one line per
advance, throttled. Everything goes to stderr, so stdout stays for results. Modules that use stdlib `logging`
(`logging.getLogger(__name__)`) are routed here by `configure_logging`, called once by each entry point (the CLI,
`jobs/`, a local pool worker): their INFO lines appear as `[module] message` and `--no-progress` quiets them too.
"""
from __future__ import annotations

import logging
import sys
import time

_QUIET = False


def set_quiet(quiet: bool) -> None:
    global _QUIET
    _QUIET = quiet


def log(msg: str, *, stage: str = "assay") -> None:
    """One line to stderr, prefixed with the stage name."""
    if not _QUIET:
        print(f"[{stage}] {msg}", file=sys.stderr, flush=True)


class _ToLog(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            log(record.getMessage(), stage=record.name.rsplit(".", 1)[-1])
        except Exception:  # pragma: no cover - logging must never fail the work
            self.handleError(record)


def configure_logging(level: int = logging.INFO) -> None:
    """Route the stdlib loggers of assay's packages through `log` (idempotent)."""
    for name in ("pipeline", "filters", "generators", "jobs"):
        logger = logging.getLogger(name)
        if not any(isinstance(h, _ToLog) for h in logger.handlers):
            logger.addHandler(_ToLog())
        logger.setLevel(level)
        logger.propagate = False


class StageProgress:
    """Progress over `total` units (shards, points, batches) with running document counts.

    `advance(docs=..., kept=..., note=...)` after each unit. A rich bar on a terminal; otherwise a line per unit at
    most every `every_s` seconds (and always for the last one).
    """

    def __init__(self, label: str, total: int, done: int = 0, enabled: bool = True, unit: str = "shards",
                 every_s: float = 2.0):
        self.enabled = enabled and not _QUIET
        self.rich = self.enabled and sys.stderr.isatty()
        self.label, self.total, self.done, self.unit, self.every_s = label, total, done, unit, every_s
        self.docs = self.kept = 0
        self._progress = None
        self._last = 0.0
        self._t0 = time.perf_counter()

    def __enter__(self) -> "StageProgress":
        if self.rich:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TextColumn(f"{self.unit}  {{task.fields[docs]}} docs, {{task.fields[kept]}} "
                                                 "kept"), TimeElapsedColumn(), transient=False)
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.total, completed=self.done, docs=0, kept=0)
        elif self.enabled:
            log(f"{self.total - self.done} {self.unit} to process ({self.done} already done)", stage=self.label)
        return self

    def advance(self, docs: int = 0, kept: int = 0, note: str = "") -> None:
        self.done += 1
        self.docs += docs
        self.kept += kept
        if self._progress:
            self._progress.update(self._task, advance=1, docs=self.docs, kept=self.kept)
        elif self.enabled:
            now = time.perf_counter()
            if now - self._last >= self.every_s or self.done >= self.total:
                self._last = now
                log(f"{self.done}/{self.total} {self.unit} ({self.docs} docs, {self.kept} kept, "
                    f"{now - self._t0:.0f} s){' ' + note if note else ''}", stage=self.label)

    def __exit__(self, *exc) -> bool:
        if self._progress:
            self._progress.stop()
        return False
