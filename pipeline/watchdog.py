"""The runner's no-progress watchdog (see `pipeline/runner.py`'s docstring): detects that no shard or task has
finished, started or set up for `seconds`, names what is stuck, and stops it: a worker pool is killed by the runner,
work in this process is interrupted (and the process ended when a native call does not return to Python).

Workers note what they work on in marker files of a temporary folder of the driver's machine (`_marked`,
`worker_start`); on another machine, without that folder, the message lists the unfinished units instead. Work
that runs long inside one unit (a training point) calls `beat()` now and then: that is progress too.
The limit comes with each call (`RunEnv.watchdog`); nothing here is run-wide state.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import UserError

DEFAULT_WATCHDOG_S = 600.0
BEAT_EVERY_S = 5.0
_unit: dict = {}  # worker side: the marker file of the unit this process works on now, and when it was last noted


class Stuck(BaseException):
    """Raised in this process's main thread by the watchdog (a BaseException: no `except Exception` swallows it)."""


class Watchdog:
    """No-progress detection for one runner call. Progress is a unit finishing (executors call `progress()`), a
    worker starting one, or a worker starting or finishing its set-up (a model load): the workers' marker files.
    `expired()` is true once there was none for `seconds`; `error()` is the one-line message. Workers note what
    they work on in `marker_dir` (`marked`), so the message says which units really run, where, for how long."""

    def __init__(self, label: str, total: int, done: int = 0, seconds: float | None = None, unit: str = "shards"):
        self.label, self.total, self.done, self.unit = label, total, done, unit
        self.seconds = DEFAULT_WATCHDOG_S if seconds is None else float(seconds)
        self.t0 = self.last = time.monotonic()
        self.last_finish: float | None = None
        sweep_marker_dirs()
        self.marker_dir = tempfile.mkdtemp(prefix=f"assay-running-{os.getpid()}-")

    @property
    def enabled(self) -> bool:
        return self.seconds > 0

    def progress(self) -> None:
        self.done += 1
        self.last = self.last_finish = time.monotonic()

    def restart(self) -> None:
        """A new attempt (dead workers replaced): the clock starts again."""
        self.last = time.monotonic()

    def poll(self) -> float | None:
        """How long to wait for the next result before checking again (None: no limit)."""
        if not self.enabled:
            return None
        return max(0.05, self.seconds - (time.monotonic() - self.last) + 0.05)

    def expired(self) -> bool:
        if not self.enabled or time.monotonic() - self.last < self.seconds:
            return False
        started = max((m.get("t", 0) for m in self.markers()), default=0)  # a unit started since counts
        if started:
            self.last = max(self.last, time.monotonic() - max(0.0, time.time() - started))
        return time.monotonic() - self.last >= self.seconds

    def markers(self) -> list[dict]:
        """What the workers noted: units running (with a key) and worker start-ups (without)."""
        out = []
        for f in Path(self.marker_dir).glob("*.json"):
            try:
                out.append(json.loads(f.read_text()))
            except (OSError, ValueError):
                pass
        return out

    def error(self, unfinished: list[tuple[str, str, str | None]], running: list[dict] | None = None) -> UserError:
        """`unfinished`: (key, name, path) of the units not done; `running`: what runs (default: the markers)."""
        now = time.time()
        keys = {k for k, _, _ in unfinished}
        live = sorted((m for m in (self.markers() if running is None else running) if m.get("key") in keys),
                      key=lambda m: m.get("t", now))
        if live:
            shown = [_describe(m, now) for m in live[:3]]
            what = "still running: " + ", ".join(shown) + (f" and {len(live) - 3} more" if len(live) > 3 else "")
        else:
            names = [n for _, n, _ in unfinished]
            what = "unfinished: " + ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        now_m = time.monotonic()
        since = f"the last one {now_m - self.last_finish:.0f} s ago" if self.last_finish is not None else \
            f"none in the {now_m - self.t0:.0f} s since the start"
        of = f" of {self.total}" if self.total else ""
        return UserError(f"{self.label}: no progress for {self.seconds:g} s ({self.done}{of} "
                         f"{self.unit} done, {since}); {what}; stopped and killed the stuck worker(s). Rerun the same "
                         f"command to resume, or raise runtime.watchdog_s (now {self.seconds:g}) if {self.unit} this "
                         "slow are expected")

    def kill_stuck(self, unfinished: list[tuple[str, str, str | None]]) -> list[int]:
        """SIGKILL the processes of this machine that the markers show working on an unfinished unit (Ray workers:
        Ray Data's forced shutdown cancels their tasks too, but a cancelled streaming task's worker was seen to
        outlive it by minutes under load). Returns the pids signalled."""
        keys, host, pids = {k for k, _, _ in unfinished}, socket.gethostname(), []
        for m in self.markers():
            pid = m.get("pid")
            if m.get("key") in keys and m.get("host") == host and isinstance(pid, int) and pid != os.getpid():
                try:
                    os.kill(pid, signal.SIGKILL)
                    pids.append(pid)
                except OSError:
                    pass
        return pids

    def close(self) -> None:
        shutil.rmtree(self.marker_dir, ignore_errors=True)


def sweep_marker_dirs() -> None:
    """Remove the marker folders of drivers that died without cleaning up (killed, or ended by the watchdog)."""
    for d in Path(tempfile.gettempdir()).glob("assay-running-*-*"):
        try:
            pid = int(d.name.split("-")[2])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(d, ignore_errors=True)
        except (ValueError, IndexError, OSError):
            pass


def _describe(m: dict, now: float) -> str:
    where = f"running {now - m.get('t', now):.0f} s in pid {m.get('pid')} on {m.get('host')}"
    path = m.get("path")
    return f"{m.get('name')} ({path}, {where})" if path and path != m.get("name") else f"{m.get('name')} ({where})"


@contextmanager
def marked(marker_dir: str | None, key: str, name: str, path: str | None):
    """Worker side: a marker file naming the unit this process works on, removed when it finishes. On a machine
    without the driver's marker folder nothing is written."""
    f = os.path.join(marker_dir, f"{key}.json") if marker_dir else None
    note = {"key": key, "name": name, "path": path, "pid": os.getpid(), "host": socket.gethostname(), "t": time.time()}
    if f and not _write_note(f, note):
        f = None
    outer = dict(_unit)
    _unit.update(file=f, note=note, last=time.monotonic())
    try:
        yield
    finally:
        _unit.clear()
        _unit.update(outer)
        if f:
            try:
                os.unlink(f)
            except OSError:
                pass


def beat() -> None:
    """Worker side, inside a long unit (a training loop): note that the unit is still moving (at most every
    BEAT_EVERY_S seconds), so the watchdog counts it as progress."""
    f = _unit.get("file")
    if f and time.monotonic() - _unit.get("last", 0) >= BEAT_EVERY_S:
        _unit["last"] = time.monotonic()
        _write_note(f, {**_unit["note"], "t": time.time()})


def _write_note(f: str, note: dict) -> bool:
    try:
        with open(f + ".tmp", "w") as fh:
            json.dump(note, fh)
        os.replace(f + ".tmp", f)
        return True
    except OSError:
        return False


class InProcessGuard:
    """The watchdog for work done in this process. A thread waits for the watchdog to expire, then interrupts the
    main thread (SIGUSR2 -> `_Stuck` raised in the stuck call, turned into the UserError); if the call does not
    return to Python within a grace time (a stuck native call), it prints the message and ends the process (exit
    2): a stuck call is killed, never waited on."""

    def __init__(self, wd: Watchdog):
        self.wd = wd
        self.current: dict | None = None
        self.fired: UserError | None = None
        self.active = False

    def working_on(self, key: str, name: str, path: str | None) -> None:
        self.current = {"key": key, "name": name, "path": path, "pid": os.getpid(), "host": socket.gethostname(),
                        "t": time.time()}

    def __enter__(self) -> "InProcessGuard":
        if not self.wd.enabled:
            return self
        self.main = threading.current_thread() is threading.main_thread()
        self.ident = threading.get_ident()
        self.stop = threading.Event()
        self.old = signal.signal(signal.SIGUSR2, self._interrupt) if self.main else None
        self.active = True
        self.thread = threading.Thread(target=self._watch, daemon=True, name="assay-watchdog")
        self.thread.start()
        return self

    def _interrupt(self, signum, frame):
        if self.active and self.fired is not None:
            raise Stuck()

    def _watch(self) -> None:
        while not self.stop.wait(self.wd.poll()):
            if not self.wd.expired():
                continue
            cur = [self.current] if self.current else []
            self.fired = self.wd.error([(c["key"], c["name"], c["path"]) for c in cur], cur)
            if self.main:
                signal.pthread_kill(self.ident, signal.SIGUSR2)
            if self.stop.wait(min(10.0, self.wd.seconds)):
                return
            from pipeline.errors import one_line

            sys.stderr.write(f"error: {one_line(self.fired)} (a native call did not return: process ended)\n")
            sys.stderr.flush()
            os._exit(2)

    def __exit__(self, typ, exc, tb) -> bool:
        if not self.active:
            return False
        self.active = False
        self.stop.set()
        self.thread.join()
        if self.main:
            signal.signal(signal.SIGUSR2, self.old if self.old is not None else signal.SIG_DFL)
        if typ is Stuck and self.fired is not None:
            raise self.fired from None
        return False


@contextmanager
def worker_start(marker_dir: str | None):
    """Worker side: building a worker (loading its model) is progress too: noted when it starts and ends."""
    f = os.path.join(marker_dir, f".worker-{socket.gethostname()}-{os.getpid()}.json") if marker_dir else None

    def note() -> None:
        try:
            with open(f, "w") as fh:
                json.dump({"t": time.time()}, fh)
        except OSError:
            pass

    if f:
        note()
    yield
    if f:
        note()
