"""Run generated Python code against its own tests in a sandbox; the verdict is decided outside it.

Over 400 lines: the parent side of one protocol with one child (payload, supervision, report reading, verdicts);
the layers below are enforced together and read best in one place.

Verification (`generators/verify/judge.py`): each test (``assert f(10) == 55``) is split in the parent into
*probes*, the calls into the solution (``f(10)``), and a *skeleton* (``_ == 55``). The sandbox runs the solution and
the probes and reports what each probe returned as plain data (JSON, built by trusted code that never calls a method
of the solution's objects); the parent rebuilds fresh values and evaluates the skeleton. Comparisons, ``assert``,
truthiness and the builtins a test uses therefore never touch an object the solution made: a value that lies about
equality, truthiness, hashing or its type fails (or, for a subclass of a built-in type, is compared by its actual
contents). Each test runs in its own forked worker that ran the solution and nothing else, so tests cannot pass
state to each other, and one exercise cannot prepare the process for the next.

Layers, outermost first (each one alone stops the cases in tests/test_sandbox.py that it covers):
1. **A fresh interpreter**: the base CPython binary (not the venv) with ``-I -S -B``: no site-packages, no
   PYTHON* variables, no user site, the current directory not on ``sys.path``. The environment is minimal (PATH,
   HOME and TMPDIR pointing at the sandbox directory, a C.UTF-8 locale): nothing of the caller's (API keys, tokens)
   is passed through. The working directory is a fresh temporary directory, deleted afterwards.
2. **A network namespace**: ``unshare -n`` (root) or ``unshare -r -n`` (unprivileged user namespaces) when it works
   on the machine (probed once per process; `isolation()` says what is in use). The namespace has only a downed
   loopback device: no route anywhere, not even to services on the host's 127.0.0.1. On the project's machine (root
   in a VM) ``unshare -n`` works.
3. **Resource limits**: address space (``RLIMIT_AS``: allocations fail with MemoryError), file size
   (``RLIMIT_FSIZE``), open files, no core dumps, and the number of processes (``RLIMIT_NPROC``, only with layer 4)
   for the whole child; per test worker, CPU seconds (``RLIMIT_CPU``, the job's remaining budget) and wall seconds
   (the zygote kills the worker's process group when the job's wall budget is spent). The parent caps the output
   (stdout and stderr together; the child is killed when it prints more) and kills every process of the child's
   session at a deadline, whatever the zygote does.
4. **An unprivileged user**: when the parent runs as root (and not inside ``unshare -r``), the child drops to
   ``nobody`` after setting limits, so ``RLIMIT_NPROC`` is enforced (the kernel exempts root from it; the limit
   counts every process of ``nobody`` on the machine, so keep ``max_processes`` above the number of sandboxes run
   at once) and ordinary file permissions protect the project's and user's files. The sandbox directory is handed
   to ``nobody``. Without root the child keeps the caller's user and the audit hook alone stops process creation.
5. **A Python audit hook** installed in each worker before the solution runs (`sys.addaudithook`; it cannot be
   removed from Python code). It refuses, by ending the worker at once with status ``forbidden``: opening files
   outside the sandbox directory (reads of the interpreter's own standard library are allowed, writes never; paths
   resolved with primitives bound before the solution ran, path objects other than ``str``/``bytes`` refused),
   listing or changing files outside it, every ``socket.*`` event, process creation (``os.fork``, ``os.exec*``,
   ``os.posix_spawn``, ``os.system``, ``subprocess.Popen``, ``pty``), signals to other processes, ``ctypes`` (which
   could switch the hook off by writing memory), ``resource.setrlimit``, building code objects by hand, reaching
   frames (``sys._getframe``, ``tb_frame``, ``gi_frame``, ``gc.get_*``), and importing the modules that only serve
   those ends (socket, ssl, subprocess, multiprocessing, asyncio, ctypes, urllib.request, http.client, ...).
6. **An authenticated report channel**: every line the child writes to its private pipe starts with a per-run
   nonce only the trusted harness holds (layer 5 refuses the ways to reach it). A line without it (a solution
   writing to the pipe, or to every file descriptor) makes the test ``forbidden``; a worker that ends without its
   trusted end-of-test line is ``crashed``. Forging a passing report would need the nonce.
When the child drops to ``nobody`` it can import only the standard-library modules loaded before the drop
(`PRELOAD_FULL`: json, re, math, collections, itertools, functools, fractions, decimal, random, statistics, typing,
heapq, bisect, datetime, ...) if the interpreter lives where ``nobody`` cannot read (on the project's machines it is
under /root); anything else fails with ModuleNotFoundError (status ``crashed``).

Statuses: ``passed`` (every test holds), ``failed`` (a test is false, raised, used a value that is not plain data,
or cannot be checked: see judge.py for what a test may contain), ``timeout`` (CPU or wall time), ``memory``
(MemoryError), ``forbidden`` (the audit hook, the process limit, or a forged report line), ``crashed`` (the
solution itself raised, or a worker died without its report), ``output_limit``.

Cost on the project's machine: ~0.1 s per child (interpreter start with the preloads ~60 ms, the namespace ~30 ms)
plus ~4 ms per test (fork, run the solution, the probes); `run_batch` runs the exercises of one response in one
child.
"""
from __future__ import annotations

import functools
import json
import os
import pwd
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal, Sequence

from pydantic import BaseModel, ConfigDict, Field

from generators.verify import judge as J

Status = Literal["passed", "failed", "timeout", "memory", "forbidden", "crashed", "output_limit"]
FORBIDDEN_EXIT = 86
_REPORT_CAP = 64 * 2**20  # bytes of report lines read from one child (probe values are capped in the child)


class SandboxLimits(BaseModel):
    """Limits of one sandboxed run (defaults fit short exercise functions)."""

    model_config = ConfigDict(extra="forbid")
    cpu_seconds: int = Field(2, ge=1, le=600, description="CPU seconds per job, all its tests together "
                             "(RLIMIT_CPU of each test's worker: what the job has left)")
    wall_seconds: float = Field(5.0, gt=0, le=3600, description="wall seconds per job, all its tests together "
                                "(the zygote kills a worker when they are spent; the parent kills the child after "
                                "n_jobs times this, whatever it does)")
    memory_mb: int = Field(512, ge=64, description="RLIMIT_AS (virtual address space)")
    output_bytes: int = Field(1_000_000, ge=1024, description="stdout+stderr cap; beyond it: output_limit")
    file_bytes: int = Field(10_000_000, ge=0, description="RLIMIT_FSIZE: largest file the code may write")
    max_processes: int = Field(32, ge=1, description="RLIMIT_NPROC when running as a dedicated user")
    open_files: int = Field(64, ge=16, description="RLIMIT_NOFILE")
    network_namespace: bool = Field(True, description="use `unshare -n` when it works here")
    drop_privileges: bool = Field(True, description="as root: run the child as `nobody`")
    audit_hook: bool = Field(True, description="install the audit hook (turn off only to test the other layers)")


@dataclass
class SandboxResult:
    status: Status
    detail: str = ""
    passed: int = 0
    total: int = 0
    output: str = ""                       # last ~2 kB of stdout+stderr
    seconds: float = 0.0
    returncode: int | None = None
    isolation: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "passed"

    def to_dict(self) -> dict:
        return asdict(self)


@functools.lru_cache(maxsize=1)
def _unshare_prefix() -> tuple[tuple[str, ...], str]:
    """The working `unshare` prefix for a network namespace, probed once: (prefix, kind)."""
    exe = shutil.which("unshare")
    if not exe:
        return (), "none"
    for args, kind in (((exe, "-n", "--"), "netns"), ((exe, "-r", "-n", "--"), "userns+netns")):
        try:
            r = subprocess.run([*args, "true"], capture_output=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            continue
        if r.returncode == 0:
            return args, kind
    return (), "none"


def _nobody() -> tuple[int, int]:
    try:
        pw = pwd.getpwnam("nobody")
        return pw.pw_uid, pw.pw_gid
    except KeyError:
        return 65534, 65534


def isolation(limits: SandboxLimits | None = None) -> dict:
    """What the sandbox uses on this machine: network namespace kind, user, audit hook, interpreter."""
    limits = limits or SandboxLimits()
    kind = _unshare_prefix()[1] if limits.network_namespace else "none"
    drop = limits.drop_privileges and os.geteuid() == 0 and kind != "userns+netns"
    return {"network": kind, "user": "nobody" if drop else "caller", "audit_hook": limits.audit_hook,
            "python": os.path.realpath(sys.executable)}


# The child's program lives in its own file (readable, linted); it is passed to the interpreter with -c.
_CHILD_SOURCE = (Path(__file__).with_name("sandbox_child.py")).read_text(encoding="utf-8")

# Imported before the privilege drop. The interpreter's standard library may not be readable by `nobody` (on the
# project's machines it lives under /root), so a dropped child can only import what is loaded here: the modules
# exercise code uses. Without a drop, further standard-library imports work as usual (reads are allowed there).
PRELOAD_SMALL = ("json", "re", "math", "collections", "itertools", "functools", "string")
PRELOAD_FULL = PRELOAD_SMALL + (
    "cmath", "collections.abc", "fractions", "decimal", "random", "statistics", "typing", "heapq", "bisect",
    "operator", "datetime", "copy", "textwrap", "unicodedata", "enum", "array", "time", "struct", "numbers",
    "contextlib", "types", "io", "keyword", "hashlib")


def _child_payload(jobs: list[dict], tmp: str, limits: SandboxLimits, fd: int, drop: bool, nonce: str) -> bytes:
    uid, gid = _nobody()
    lim = {"job_cpu": limits.cpu_seconds, "job_wall": limits.wall_seconds, "as": limits.memory_mb * 2**20,
           "fsize": limits.file_bytes, "nofile": limits.open_files, "nproc": limits.max_processes,
           "audit": limits.audit_hook, "max_depth": J.MAX_DEPTH, "max_values": J.MAX_VALUES,
           "max_chars": J.MAX_CHARS, "max_bits": J.MAX_INT_BITS, "builtin_names": list(J.BUILTINS_BY_NAME)}
    return json.dumps({"jobs": jobs, "tmp": tmp, "limits": lim, "result_fd": fd, "nonce": nonce,
                       "drop": drop, "uid": uid, "gid": gid,
                       "preload": PRELOAD_FULL if drop else PRELOAD_SMALL,
                       "forbidden_exit": FORBIDDEN_EXIT}).encode()


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _kill_session(sid: int) -> None:
    """Every process of the child's session (the zygote and its workers, each in its own process group)."""
    _kill_group(sid)
    try:
        pids = [p for p in os.listdir("/proc") if p.isdigit()]
    except OSError:
        return
    for p in pids:
        try:
            with open(f"/proc/{p}/stat", "rb") as f:
                fields = f.read().rsplit(b")", 1)[1].split()
            if int(fields[3]) == sid:  # fields after the name: state ppid pgrp session ...
                os.kill(int(p), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            continue


def run_tests(code: str, tests: Sequence[str], limits: SandboxLimits | None = None) -> SandboxResult:
    """Run `code`, then check each test (assert statements), in the sandbox; never raises for anything the code
    or the tests do. With no tests, ``passed`` means the code ran to the end without raising."""
    return run_batch([(code, tests)], limits)[0]


@dataclass
class _Job:
    code: str
    tests: list[str]
    plans: list  # per test: a judge.TestPlan, or the reason it cannot be checked (str)


def _prepare(code: str, tests: Sequence[str]) -> _Job:
    names = J.solution_names(code) or set()
    plans: list = []
    for t in tests:
        try:
            plans.append(J.compile_test(t, names))
        except J.TestError as e:
            plans.append(f"cannot be checked: {t.strip()[:120]} {e}")
    return _Job(code, list(tests), plans)


def run_batch(jobs: Sequence[tuple[str, Sequence[str]]], limits: SandboxLimits | None = None) -> list[SandboxResult]:
    """Several (code, tests) jobs in ONE child (one interpreter start; each test of each job in its own forked
    worker), each with its own verdict. Meant for the exercises of one response, which share an author. A job the
    child could not finish (the parent stopped it for its output or at the deadline, or the child died) gets that
    verdict, and the jobs after it run again in a new child."""
    limits = limits or SandboxLimits()
    return _run_jobs([_prepare(str(c), [str(t) for t in ts]) for c, ts in jobs], limits)


def _run_jobs(jobs: list[_Job], limits: SandboxLimits) -> list[SandboxResult]:
    if not jobs:
        return []
    whole, done = _run_child(jobs, limits)
    k = len(done)
    if k == len(jobs):
        return done
    whole.total = len(jobs[k].tests)
    return done + [whole] + _run_jobs(jobs[k + 1:], limits)


def _run_child(jobs: list[_Job], limits: SandboxLimits) -> tuple[SandboxResult, list[SandboxResult]]:
    """(how the child ended, the verdicts of the jobs it finished, in order)."""
    iso = isolation(limits)
    prefix = _unshare_prefix()[0] if iso["network"] != "none" else ()
    drop = iso["user"] == "nobody"
    tmp = tempfile.mkdtemp(prefix="assay-sandbox-")
    r_fd, w_fd = os.pipe()
    t0 = time.monotonic()
    nonce = secrets.token_hex(16)
    try:
        if drop:
            os.chown(tmp, *_nobody())
        os.chmod(tmp, 0o700)
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        cmd = [*prefix, iso["python"], "-I", "-S", "-B", "-c", _CHILD_SOURCE]
        payload = _child_payload([{"code": j.code, "tests": [p.payload() if isinstance(p, J.TestPlan) else []
                                                                for p in j.plans]} for j in jobs],
                                 tmp, limits, w_fd, drop, nonce)
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                pass_fds=(w_fd,), env=env, cwd=tmp, start_new_session=True)  # same fd number
        os.close(w_fd)
        w_fd = -1
        try:
            proc.stdin.write(payload)
            proc.stdin.close()
        except OSError:  # the child died before reading its input
            pass
        return _supervise(proc, r_fd, limits, iso, t0, jobs, nonce)
    finally:
        for fd in (r_fd, w_fd):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(tmp, ignore_errors=True)


class _Report:
    """The child's authenticated report lines, sorted by job and test, and whether anything forged one."""

    def __init__(self, nonce: str):
        self.nonce = nonce
        self.events: dict[tuple[int, int], dict] = {}
        self.finished: set[int] = set()
        self.tampered: dict[int, str] = {}
        self.current: tuple[int, int] | None = None  # the test whose worker runs now
        self.done = False

    def test(self, j: int, t: int) -> dict:
        return self.events.setdefault((j, t), {"probes": {}})

    def line(self, raw: bytes) -> None:
        try:
            msg = json.loads(raw)
            ok = type(msg) is list and len(msg) >= 2 and msg[0] == self.nonce and type(msg[1]) is str
        except (ValueError, RecursionError, MemoryError):
            ok = False
        if not ok:
            j = self.current[0] if self.current else max([-1, *self.finished]) + 1
            self.tampered.setdefault(j, "a line on the verifier's report channel did not come from the verifier")
            return
        kind, args = msg[1], msg[2:]
        try:
            if kind == "start":
                self.current = (int(args[0]), int(args[1]))
                self.test(*self.current)
            elif kind == "exit":
                self.test(int(args[0]), int(args[1]))["exit"] = (str(args[2]), int(args[3]), int(args[4]))
                self.current = None
            elif kind == "job":
                self.finished.add(int(args[0]))
            elif kind == "done":
                self.done = True
            elif kind == "probe":
                self.test(int(args[0]), int(args[1]))["probes"][int(args[2])] = args[3]
            elif kind in ("exec", "forbidden", "end"):
                ev = self.test(int(args[0]), int(args[1]))
                ev[kind] = args[2:] if kind != "end" else True
        except (IndexError, ValueError, TypeError):
            j = self.current[0] if self.current else 0
            self.tampered.setdefault(j, "a malformed report line")


def _supervise(proc: subprocess.Popen, r_fd: int, limits: SandboxLimits, iso: dict, t0: float,
               jobs: list[_Job], nonce: str) -> tuple[SandboxResult, list[SandboxResult]]:
    """Read output and the report until the child ends, enforcing the deadline and the output limit."""
    out_fd = proc.stdout.fileno()
    open_fds = {out_fd, r_fd}
    head, tail, n_out, pending, n_report = bytearray(), bytearray(), 0, bytearray(), 0
    report = _Report(nonce)
    killed: str | None = None
    n_tests = sum(max(1, len(j.tests)) for j in jobs)
    deadline = t0 + limits.wall_seconds * len(jobs) + 0.05 * n_tests + 2.0  # the zygote's own limits fire first
    status = rusage = None
    drain_until = 0.0
    while True:
        if status is None:
            # WNOWAIT: the exited child stays a zombie, so its process group id cannot be reused before the kill
            info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            if info is not None:
                _kill_group(proc.pid)  # leftovers (if anything forked) go with the main process
                _, status, rusage = os.wait4(proc.pid, 0)
                drain_until = time.monotonic() + 0.5
        now = time.monotonic()
        if status is None and now >= deadline:
            killed = killed or "timeout"
            _kill_session(proc.pid)
            continue
        if status is not None and (not open_fds or now >= drain_until):
            break
        ready, _, _ = select.select(list(open_fds), [], [], 0.02)
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                open_fds.discard(fd)
            elif fd == r_fd:
                n_report += len(chunk)
                if n_report > _REPORT_CAP:
                    killed = killed or "report_limit"
                    _kill_session(proc.pid)
                    continue
                pending += chunk
                *lines, rest = pending.split(b"\n")
                pending = bytearray(rest)
                for line in lines:
                    report.line(bytes(line))
            else:
                n_out += len(chunk)
                if len(head) < 1024:
                    head += chunk[: 1024 - len(head)]
                tail = (tail + chunk)[-1024:]
                if n_out > limits.output_bytes and killed is None:
                    killed = "output_limit"
                    _kill_session(proc.pid)
    if pending:
        report.line(bytes(pending))
    if killed or not report.done:
        _kill_session(proc.pid)
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stdout.close()
    if n_out <= len(head):
        out = bytes(head)
    elif n_out <= 2048:
        out = bytes(head + tail[-(n_out - len(head)):])
    else:
        out = bytes(head + b"\n...\n" + tail)
    base = dict(output=out.decode("utf-8", "replace"), seconds=round(time.monotonic() - t0, 3),
                returncode=proc.returncode, isolation=iso)
    done = []
    for j, job in enumerate(jobs):
        if j not in report.finished:
            break
        done.append(_verdict(job, j, report, limits, base))
    result = SandboxResult("crashed", **base)
    if killed == "timeout":
        result.status, result.detail = "timeout", f"wall time over {limits.wall_seconds * len(jobs):g} s"
    elif killed == "output_limit":
        result.status, result.detail = "output_limit", f"output over {limits.output_bytes} bytes"
    elif killed == "report_limit":
        result.detail = "the report was larger than the verifier reads"
    elif len(done) < len(jobs) and len(done) in report.tampered:
        result.status, result.detail = "forbidden", report.tampered[len(done)]
    else:
        result.detail = f"the verifier ended with code {proc.returncode} before the job's end"
    return result, done


def _verdict(job: _Job, j: int, report: _Report, limits: SandboxLimits, base: dict) -> SandboxResult:
    """One finished job's verdict from its workers' reports and how each worker ended."""
    total = len(job.tests)

    def result(status: Status, detail: str = "", passed: int = 0) -> SandboxResult:
        return SandboxResult(status, detail[:500], passed, total, **base)

    if j in report.tampered:
        return result("forbidden", report.tampered[j])
    passed, first_failure = 0, ""
    for t in range(max(1, total)):
        ev = report.events.get((j, t))
        where = f"test {t}" if total else "the code"
        if ev is None or "exit" not in ev:
            if ev is None and t > 0:
                return result("timeout", f"the job's time ran out before test {t}", passed)
            exec_ = (ev or {}).get("exec")
            if exec_ and exec_[0] != "ok":  # the code itself did not run (e.g. a syntax error)
                return result("crashed" if exec_[0] not in ("memory", "forbidden") else exec_[0], str(exec_[1]))
            return result("crashed", f"{where}: the verifier did not report how the worker ended", passed)
        how, code, cpu_ms = ev["exit"]
        if "forbidden" in ev:
            return result("forbidden", str(ev["forbidden"][0]), passed)
        exec_ = ev.get("exec")
        if exec_ and exec_[0] != "ok":
            status = exec_[0] if exec_[0] in ("memory", "forbidden") else "crashed"
            return result(status, (str(exec_[1]) or "MemoryError while running the solution")
                          if status != "memory" else "MemoryError while running the solution", passed)
        if how == "wall":
            return result("timeout", f"wall time over {limits.wall_seconds:g} s", passed)
        if how == "signal":
            if code in (signal.SIGXCPU, signal.SIGKILL) and cpu_ms >= 900:
                return result("timeout", f"CPU time over {limits.cpu_seconds} s", passed)
            if code == signal.SIGXFSZ:
                return result("output_limit", f"file larger than {limits.file_bytes} bytes", passed)
            try:
                name = signal.Signals(code).name
            except ValueError:
                name = f"signal {code}"
            return result("crashed", f"{where}: killed by {name}", passed)
        if code == FORBIDDEN_EXIT:
            return result("forbidden", "refused by the audit hook", passed)
        if code != 0 or not ev.get("end") or exec_ is None:
            return result("crashed", f"{where}: exited with code {code} without a report", passed)
        if not total:
            continue
        plan = job.plans[t]
        if isinstance(plan, str):
            first_failure = first_failure or f"test {t} {plan}"
            continue
        results = [ev["probes"].get(i) for i in range(len(plan.probes))]
        for r in results:
            if isinstance(r, list) and r and r[0] == "memory":
                return result("memory", f"MemoryError in test {t}", passed)
            if isinstance(r, list) and r and r[0] == "forbidden":
                return result("forbidden", str(r[1]) if len(r) > 1 else "process limit", passed)
        ok, why = J.judge(plan, results)
        if ok:
            passed += 1
        else:
            first_failure = first_failure or f"test {t} failed: {plan.source.strip()[:200]} ({why})"
    if total and passed == total:
        return result("passed", "", passed)
    if not total:
        return result("passed")
    return result("failed", first_failure, passed)
