"""A throttled progress line on stderr for long loops (bootstrap replicates, leave-one-out refits)."""

from __future__ import annotations

import time


class Ticker:
    """A progress line on stderr every `every_s` seconds (and at the end) for a loop of `total` steps."""

    def __init__(self, label: str, total: int, every_s: float = 3.0, stage: str = "fit"):
        from pipeline.progress import log

        self.log, self.label, self.total, self.every_s, self.stage = log, label, total, every_s, stage
        self.t0 = self.last = time.perf_counter()

    def tick(self, done: int) -> None:
        now = time.perf_counter()
        if now - self.last >= self.every_s or done == self.total:
            self.last = now
            el = now - self.t0
            eta = el / done * (self.total - done) if done else float("nan")
            tail = f", ~{eta:.0f} s left" if done < self.total else ""
            self.log(f"{self.label}: {done}/{self.total} ({el:.0f} s{tail})", stage=self.stage)
