"""The local executor: this machine, no Ray. One worker runs in this process; more run as a pool of spawned
processes, each with its own pipe and one call at a time, so the driver knows which shard (or task) a dead worker
was running: only that worker is replaced and only that call re-run (`Runtime.retries` times per call); a call that
kills its worker retries + 1 times is a poison call, handed back to the caller (a shard is quarantined, a task
fails the run after the others finish). A worker that dies while it sets up (loads its model) has run nothing: its
call is not charged; many such deaths in a row fail the run with one line. `concurrent.futures` and loky break the
whole pool on one death and cannot say whose it was. On a watchdog expiry or a failing call the pool's processes
are SIGKILLed, not waited on."""
from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import traceback
from collections import Counter, deque
from collections.abc import Callable
from multiprocessing.connection import wait
from typing import Any

from pipeline.errors import UserError
from pipeline.progress import log
from pipeline.watchdog import InProcessGuard, Watchdog, marked, worker_start

# (key, name, path, fn, args): a call and what the watchdog and the messages name it by
Call = tuple[str, str, str | None, Callable, tuple]


class RemoteTraceback(Exception):
    """The traceback of an error raised in a pool worker (the cause of the error re-raised here)."""


def _picklable(e: BaseException) -> BaseException:
    tb = "".join(traceback.format_exception(e))
    try:
        pickle.loads(pickle.dumps(e))
    except Exception:
        e = RuntimeError(f"{type(e).__name__}: {e}")
    e.__cause__ = RemoteTraceback(tb)
    return e


def _worker_main(conn, marker_dir: str | None, initializer: Callable | None, initargs: tuple) -> None:
    """A pool process: set up (a stage's worker: its model loaded once), then run calls one at a time."""
    from pipeline.progress import configure_logging

    configure_logging()  # this process's entry point: its logging goes where the driver's does (stderr)
    try:
        with worker_start(marker_dir):
            if initializer is not None:
                initializer(*initargs)
    except BaseException as e:  # set-up failed: the driver raises it
        conn.send(("error", _picklable(e)))
        return
    conn.send(("ready", None))  # from here on a death is charged to the call this worker runs
    while True:
        try:
            msg = conn.recv()
        except (EOFError, OSError):
            return
        if msg is None:
            return
        fn, args = msg
        try:
            out = ("ok", fn(*args))
        except BaseException as e:
            out = ("error", _picklable(e))
        conn.send(out)


class _Worker:
    def __init__(self, ctx, marker_dir: str | None, initializer: Callable | None, initargs: tuple):
        self.conn, child = ctx.Pipe()
        self.proc = ctx.Process(target=_worker_main, args=(child, marker_dir, initializer, initargs),
                                name="assay-worker")
        self.proc.start()
        child.close()
        self.call: Call | None = None
        self.ready = False  # set up (its model loaded): a death from now on is the call's

    def assign(self, call: Call) -> None:
        self.call = call
        self.conn.send((call[3], call[4]))

    def stop(self, kill: bool) -> None:
        if not kill:
            try:
                self.conn.send(None)
                self.proc.join(timeout=10)
            except OSError:
                pass
        if self.proc.is_alive():
            self.proc.kill()  # SIGKILL: also a call stuck in native code
        self.proc.join(timeout=10)
        self.conn.close()

    def how_it_died(self) -> str:
        self.proc.join(timeout=5)  # its sentinel fired: reap it, so the exit code is known
        code = self.proc.exitcode
        if code is not None and code < 0:
            try:
                return f"killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"killed by signal {-code}"
        return f"exit code {code}"


def pool_run(calls: list[Call], n: int, wd: Watchdog, done: Callable[[str, Any], None], retries: int,
             initializer: Callable | None = None, initargs: tuple = ()) -> list[tuple[Call, int, str]]:
    """Run `calls` on up to `n` spawned processes; `done(key, result)` as each finishes. Returns the poison calls:
    (call, deaths, how the last one died). A worker that dies while it sets up (before it ran anything) is not the
    call's fault: the call goes back to the front of the queue; 4 x (retries + 1) such deaths per worker slot in a
    row (no worker getting ready in between) fail the run with one line, instead of quarantining every shard as a
    poison one."""
    ctx = multiprocessing.get_context("spawn")
    pending, deaths, poison = deque(calls), Counter(), []
    workers: list[_Worker] = []
    setup_deaths = 0
    clean = False
    try:
        while pending or any(w.call for w in workers):
            for w in [w for w in workers if w.call is None and not w.proc.is_alive()]:  # died idle: replace
                workers.remove(w)
                w.stop(kill=True)
            for w in workers:
                if w.call is None and pending:
                    w.assign(pending.popleft())
            while pending and len(workers) < n:
                w = _Worker(ctx, wd.marker_dir, initializer, initargs)
                workers.append(w)
                w.assign(pending.popleft())
            busy = [w for w in workers if w.call is not None]
            ready = set(wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=wd.poll()))
            for w in busy:
                msg = None
                if w.conn in ready or w.proc.sentinel in ready:
                    try:
                        if w.conn.poll():
                            msg = w.conn.recv()
                    except (EOFError, OSError):
                        msg = None
                if msg is not None and msg[0] == "ready":
                    w.ready, setup_deaths = True, 0
                elif msg is not None:
                    call, w.call = w.call, None
                    kind, value = msg
                    if kind == "error":
                        raise value
                    done(call[0], value)
                    wd.progress()
                elif w.proc.sentinel in ready:  # died with this call
                    call, how = w.call, w.how_it_died()
                    w.call = None
                    workers.remove(w)
                    w.stop(kill=True)
                    if not w.ready:  # while setting up: not the call's doing
                        pending.appendleft(call)
                        setup_deaths += 1
                        if setup_deaths >= 4 * (retries + 1) * n:
                            raise UserError(f"{wd.label}: {setup_deaths} worker processes in a row died while "
                                            f"setting up, before running anything ({how}); out of memory? (each "
                                            "worker loads its model once: try fewer, resources.workers)")
                        log(f"a worker process died while setting up ({how}); starting another",
                            stage=wd.label)
                    else:
                        deaths[call[0]] += 1
                        if deaths[call[0]] > retries:
                            poison.append((call, deaths[call[0]], how))
                            log(f"{call[1]} killed its worker process {deaths[call[0]]} times ({how}); given up "
                                f"(poison)", stage=wd.label)
                        else:
                            pending.append(call)
                            log(f"a worker process died ({how}) while on {call[1]}; re-running it "
                                f"(re-run {deaths[call[0]]} of {retries})", stage=wd.label)
                    wd.restart()
            if not ready and wd.expired():
                raise wd.error([w.call[:3] for w in busy])
        clean = True
    finally:
        for w in workers:
            w.stop(kill=not clean)
    return poison


def in_process(calls: list[Call], wd: Watchdog, done: Callable[[str, Any], None]) -> None:
    """Run `calls` one after another in this process, under the watchdog (a stuck call is interrupted)."""
    with InProcessGuard(wd) as guard:
        for key, name, path, fn, args in calls:
            guard.working_on(key, name, path)
            with marked(wd.marker_dir, key, name, path):
                done(key, fn(*args))
            wd.progress()


def local_workers(cpus: float, workers: int, n_todo: int) -> int:
    n = workers or max(1, int((os.cpu_count() or 1) // cpus))
    return max(1, min(n, n_todo))


