"""Run generated Python code against its own tests in a sandboxed child process.

Layers, outermost first (each one alone stops the cases in tests/test_sandbox.py that it covers):
1. **A fresh interpreter**: the base CPython binary (not the venv) with ``-I -S -B``: no site-packages, no
   PYTHON* variables, no user site, the current directory not on ``sys.path``. The environment is minimal (PATH,
   HOME and TMPDIR pointing at the sandbox directory, a C.UTF-8 locale): nothing of the caller's (API keys, tokens)
   is passed through. The working directory is a fresh temporary directory, deleted afterwards.
2. **A network namespace**: ``unshare -n`` (root) or ``unshare -r -n`` (unprivileged user namespaces) when it works
   on the machine (probed once per process; `isolation()` says what is in use). The namespace has only a downed
   loopback device: no route anywhere, not even to services on the host's 127.0.0.1. On the project's machine (root
   in a VM) ``unshare -n`` works.
3. **Resource limits** (in the child before any user code): CPU seconds (an ``ITIMER_PROF`` timer per job,
   ``RLIMIT_CPU`` as a backstop), wall seconds (an ``ITIMER_REAL`` timer per job; the parent's deadline and kill
   of the whole process group as a backstop), address space (``RLIMIT_AS``: allocations fail with MemoryError),
   file size (``RLIMIT_FSIZE``), open files, no core dumps, and the number of processes (``RLIMIT_NPROC``, only
   with layer 4). The parent caps the output (stdout and stderr together; the child is killed when it prints more).
4. **An unprivileged user**: when the parent runs as root (and not inside ``unshare -r``), the child drops to
   ``nobody`` after setting limits, so ``RLIMIT_NPROC`` is enforced (the kernel exempts root from it; the limit
   counts every process of ``nobody`` on the machine, so keep ``max_processes`` above the number of sandboxes run
   at once) and ordinary file permissions protect the project's and user's files. The sandbox directory is handed
   to ``nobody``. Without root the child keeps the caller's user and the audit hook alone stops process creation.
5. **A Python audit hook** installed before the user code runs (`sys.addaudithook`; it cannot be removed from
   Python code). It refuses, by ending the process at once with status ``forbidden``: opening files outside the
   sandbox directory (reads of the interpreter's own standard library are allowed, writes never), listing or
   changing files outside it, every ``socket.*`` event, process creation (``os.fork``, ``os.exec*``,
   ``os.posix_spawn``, ``os.system``, ``subprocess.Popen``, ``pty``), signals to other processes, ``ctypes`` (which
   could switch the hook off by writing memory), ``resource.setrlimit``, building code objects by hand, and
   importing the modules that only serve those ends (socket, ssl, subprocess, multiprocessing, asyncio, ctypes,
   urllib.request, http.client, ...).
When the child drops to ``nobody`` it can import only the standard-library modules loaded before the drop
(`PRELOAD_FULL`: json, re, math, collections, itertools, functools, fractions, decimal, random, statistics, typing,
heapq, bisect, datetime, ...) if the interpreter lives where ``nobody`` cannot read (on the project's machines it is
under /root); anything else fails with ModuleNotFoundError (status ``crashed``).

Cost on the project's machine: ~0.1 s per child (interpreter start with the preloads ~60 ms, the namespace ~30 ms);
`run_batch` runs the exercises of one response in one child.

The child runs the solution (`exec` in a fresh namespace), then each test statement (usually ``assert f(x) == y``)
and reports through a private pipe. Statuses: ``passed`` (every test passed), ``failed`` (a test raised or an
assertion failed), ``timeout`` (CPU or wall time), ``memory`` (MemoryError), ``forbidden`` (the audit hook, or the
process limit), ``crashed`` (the solution itself raised, or the process died without reporting), ``output_limit``.
A program running inside the child can in principle forge its own report (it shares the process with the test
runner): the sandbox protects the machine from generated code; the verdict is trustworthy for code that is not
written to attack the checker.
"""
from __future__ import annotations

import functools
import json
import os
import pwd
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

Status = Literal["passed", "failed", "timeout", "memory", "forbidden", "crashed", "output_limit"]
FORBIDDEN_EXIT = 86
_RESULT_CAP = 64 * 1024


class SandboxLimits(BaseModel):
    """Limits of one sandboxed run (defaults fit short exercise functions)."""

    model_config = ConfigDict(extra="forbid")
    cpu_seconds: int = Field(2, ge=1, le=600, description="CPU seconds per job (timer; RLIMIT_CPU backstop)")
    wall_seconds: float = Field(5.0, gt=0, le=3600, description="wall seconds per job (timer; the parent kills "
                                "the child after n_jobs times this, whatever it does)")
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
    "contextlib", "types", "io", "keyword")


def _child_payload(jobs: list[dict], tmp: str, limits: SandboxLimits, fd: int, drop: bool) -> bytes:
    uid, gid = _nobody()
    lim = {"cpu": limits.cpu_seconds * len(jobs) + 1, "job_cpu": limits.cpu_seconds, "job_wall": limits.wall_seconds,
           "as": limits.memory_mb * 2**20, "fsize": limits.file_bytes,
           "nofile": limits.open_files, "nproc": limits.max_processes, "audit": limits.audit_hook}
    return json.dumps({"jobs": jobs, "tmp": tmp, "limits": lim, "result_fd": fd,
                       "drop": drop, "uid": uid, "gid": gid,
                       "preload": PRELOAD_FULL if drop else PRELOAD_SMALL,
                       "forbidden_exit": FORBIDDEN_EXIT}).encode()


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def run_tests(code: str, tests: Sequence[str], limits: SandboxLimits | None = None) -> SandboxResult:
    """Run `code`, then each test statement, in a sandboxed child; never raises for anything the code does.

    With no tests, ``passed`` means the code ran to the end without raising."""
    return run_batch([(code, tests)], limits)[0]


def run_batch(jobs: Sequence[tuple[str, Sequence[str]]], limits: SandboxLimits | None = None) -> list[SandboxResult]:
    """Several (code, tests) jobs in ONE child, each in a fresh namespace: one interpreter start instead of many
    (meant for the exercises of one response, which share an author). The child reports each job as it finishes.
    CPU and wall time are limited per job by interval timers in the child (a job over its time is reported as
    ``timeout`` and the jobs after it run in a new child); the process-level limits (RLIMIT_CPU, the parent's
    deadline) are the number of jobs times the per-job limits, a backstop for code that blocks the timers. When the
    child as a whole is stopped, the job it was running gets that verdict (after a rerun alone for timeouts and
    output limits, so that it has its own budget) and the jobs after it run again in a new child."""
    limits = limits or SandboxLimits()
    jobs = [(str(c), [str(t) for t in ts]) for c, ts in jobs]
    if not jobs:
        return []
    whole, done = _run_child(jobs, limits)
    k = len(done)
    if k == len(jobs):
        return done
    if k and done[-1].status == "timeout" and whole.detail == "a job ran out of time":
        return done + run_batch(jobs[k:], limits)  # the child timed the job out itself and said so
    if whole.status in ("timeout", "output_limit") and len(jobs) > 1:
        culprit = run_batch([jobs[k]], limits)[0]  # stopped from outside: rerun alone, with its own budget
    else:
        culprit = whole
        culprit.total = len(jobs[k][1])
    return done + [culprit] + run_batch(jobs[k + 1:], limits)


def _run_child(jobs: list[tuple[str, list[str]]], limits: SandboxLimits
               ) -> tuple[SandboxResult, list[SandboxResult]]:
    """(how the child ended, the results of the jobs it finished, in order)."""
    iso = isolation(limits)
    prefix = _unshare_prefix()[0] if iso["network"] != "none" else ()
    drop = iso["user"] == "nobody"
    tmp = tempfile.mkdtemp(prefix="assay-sandbox-")
    r_fd, w_fd = os.pipe()
    t0 = time.monotonic()
    try:
        if drop:
            os.chown(tmp, *_nobody())
        os.chmod(tmp, 0o700)
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
        cmd = [*prefix, iso["python"], "-I", "-S", "-B", "-c", _CHILD_SOURCE]
        payload = _child_payload([{"code": c, "tests": t} for c, t in jobs], tmp, limits, w_fd, drop)
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                pass_fds=(w_fd,), env=env, cwd=tmp, start_new_session=True)  # same fd number
        os.close(w_fd)
        w_fd = -1
        try:
            proc.stdin.write(payload)
            proc.stdin.close()
        except OSError:  # the child died before reading its input
            pass
        return _supervise(proc, r_fd, limits, iso, t0, jobs)
    finally:
        for fd in (r_fd, w_fd):
            if fd >= 0:
                os.close(fd)
        shutil.rmtree(tmp, ignore_errors=True)


def _supervise(proc: subprocess.Popen, r_fd: int, limits: SandboxLimits, iso: dict, t0: float,
               jobs: list) -> tuple[SandboxResult, list[SandboxResult]]:
    """Read output and the report until the child ends, enforcing the wall-clock and output limits."""
    out_fd = proc.stdout.fileno()
    open_fds = {out_fd, r_fd}
    head, tail, n_out, report = bytearray(), bytearray(), 0, bytearray()
    killed: str | None = None
    deadline = t0 + limits.wall_seconds * len(jobs) + 1.0  # the child's own per-job timers fire first
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
            _kill_group(proc.pid)
            continue
        if status is not None and (not open_fds or now >= drain_until):
            break
        ready, _, _ = select.select(list(open_fds), [], [], 0.02)
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                open_fds.discard(fd)
            elif fd == r_fd:
                if len(report) < _RESULT_CAP:
                    report += chunk
            else:
                n_out += len(chunk)
                if len(head) < 1024:
                    head += chunk[: 1024 - len(head)]
                tail = (tail + chunk)[-1024:]
                if n_out > limits.output_bytes and killed is None:
                    killed = "output_limit"
                    _kill_group(proc.pid)
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
    result = SandboxResult("crashed", **base)
    lines = _parse_report(report, proc.pid)
    done = []
    for i in range(len(jobs)):
        r = next((m for m in lines if m.get("job") == i), None)
        if r is None:
            break
        done.append(SandboxResult(r["status"], r.get("detail", ""), int(r.get("passed", 0)), int(r.get("total", 0)),
                                  **base))
    final = next((m for m in lines if "job" not in m), None)
    if killed == "timeout":
        result.status, result.detail = "timeout", f"wall time over {limits.wall_seconds * len(jobs):g} s"
    elif killed == "output_limit":
        result.status, result.detail = "output_limit", f"output over {limits.output_bytes} bytes"
    elif final is not None and final["status"] == "stopped":
        result.status, result.detail = "timeout", "a job ran out of time"
    elif final is not None and final["status"] != "done":
        result.status, result.detail = final["status"], final.get("detail", "")
    elif final is None:
        _classify_exit(result, proc.returncode, rusage, limits)
    elif len(done) < len(jobs):
        result.detail = "reported done without every job"
    return result, done


def _parse_report(report: bytes, pid: int) -> list[dict]:
    """The main process's report lines (forked children, if any got to run, may add their own)."""
    out = []
    for line in bytes(report).splitlines():
        try:
            msg = json.loads(line.decode())
        except (ValueError, UnicodeDecodeError):
            continue
        if isinstance(msg, dict) and msg.get("pid") == pid and msg.get("status") in _STATUSES:
            out.append(msg)
    return out


_STATUSES = {"passed", "failed", "timeout", "memory", "forbidden", "crashed", "output_limit", "done", "stopped"}


def _classify_exit(result: SandboxResult, rc: int, rusage, limits: SandboxLimits) -> None:
    """Status of a child that ended without a report, from how it ended."""
    cpu = (rusage.ru_utime + rusage.ru_stime) if rusage is not None else 0.0
    if rc == -signal.SIGXCPU or (rc == -signal.SIGKILL and cpu >= limits.cpu_seconds):
        result.status, result.detail = "timeout", f"CPU time over {limits.cpu_seconds} s"
    elif rc == -signal.SIGXFSZ:
        result.status, result.detail = "output_limit", f"file larger than {limits.file_bytes} bytes"
    elif rc == FORBIDDEN_EXIT:
        result.status, result.detail = "forbidden", "refused by the audit hook"
    elif rc < 0:
        result.status, result.detail = "crashed", f"killed by {signal.Signals(-rc).name}"
    else:
        result.status, result.detail = "crashed", f"exited with code {rc} without a report"
