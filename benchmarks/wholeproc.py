"""Wall and CPU seconds of a whole process tree, as a user's command spends them.

``RUSAGE_CHILDREN`` counts a process only once its parent has waited for it; a worker that is terminated while its
own child still runs (a pool torn down at the end, datatrove's extraction sandbox) leaves that child to be reparented,
and its CPU would be lost. This process becomes a child subreaper (Linux ``PR_SET_CHILD_SUBREAPER``), so orphans of
the run are reparented here and reaped before the CPU is read.
"""
from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import time

_PR_SET_CHILD_SUBREAPER = 36


def _subreaper() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_CHILD_SUBREAPER) failed")


def _reap(timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return  # no children left
        if pid == 0:
            if time.monotonic() > deadline:
                return
            time.sleep(0.05)


def run_timed(cmd: list[str], env: dict | None = None, reap_s: float = 30.0):
    """(wall seconds, CPU seconds of the command and every process it started, CompletedProcess)."""
    _subreaper()
    _reap(0)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - t0
    _reap(reap_s)
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime + r1.ru_stime) - (r0.ru_utime + r0.ru_stime), proc
