"""The sandbox child's program (trusted). `generators.verify.sandbox` runs it as ``python -I -S -B -c <this source>``;
it is never imported. Order matters: read the payload from stdin, preload modules, set resource limits, drop
privileges, install the audit hook, and only then run the untrusted solutions and their tests, reporting JSON lines
on a private pipe (one per finished job, then ``done``; or ``forbidden`` / ``stopped`` and exit at once).

The hook and the reporting use only `main`'s local names, bound before any untrusted code runs (tables, and the
functions they call: ``os._exit``, ``os.write``, ``json.dumps``, ``os.path.realpath``...), so rebinding module
attributes (``os._exit = ...``, ``__main__.DENY_IMPORTS = ...``) changes nothing; and the hook refuses the usual
ways to reach frames and closures (``sys._getframe``, traceback/generator frame attributes, ``gc`` object
enumeration). Symlinks and hard links are checked at creation (both ends inside the sandbox), so a link cannot
point outside it.
"""
import builtins
import json
import os
import resource
import signal
import sys

DENY_PREFIX = (
    "socket.", "subprocess.", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "os.forkpty", "os.system",
    "os.kill", "os.killpg", "os.startfile", "os.setuid", "os.setgid", "pty.", "ctypes.", "signal.pthread_kill",
    "resource.setrlimit", "resource.prlimit", "code.__new__", "urllib.", "webbrowser.", "ftplib.", "smtplib.",
    "poplib.", "imaplib.", "nntplib.", "telnetlib.", "http.client.", "sys.addaudithook", "cpython.", "marshal.load",
    "object.__getattr__", "sys._getframe", "sys._current_frames", "sys._current_exceptions", "gc.get_",
    "sys.settrace", "sys.setprofile")
PATH_EVENTS = frozenset({
    "os.listdir", "os.scandir", "os.chdir", "os.mkdir", "os.rmdir", "os.remove", "os.rename", "os.chmod", "os.chown",
    "os.symlink", "os.link", "os.truncate", "os.utime", "os.chflags", "os.lchflags", "os.mkfifo", "os.mknod",
    "os.setxattr", "os.removexattr", "os.getxattr", "os.listxattr", "shutil.rmtree", "shutil.copyfile",
    "shutil.copymode", "shutil.copystat", "shutil.copytree", "shutil.move", "shutil.chown", "shutil.make_archive",
    "shutil.unpack_archive"})
READ_EVENTS = frozenset({"os.listdir", "os.scandir", "os.getxattr", "os.listxattr"})
DENY_IMPORTS = frozenset({
    "ctypes", "_ctypes", "cffi", "_posixsubprocess", "socket", "_socket", "subprocess", "ssl", "_ssl",
    "multiprocessing", "_multiprocessing", "asyncio", "socketserver", "urllib.request", "http.client", "ftplib",
    "smtplib", "poplib", "imaplib", "telnetlib", "nntplib", "pty", "webbrowser", "xmlrpc.client"})
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def main():
    payload = json.loads(sys.stdin.read())
    sys.stdin.close()
    for name in payload["preload"]:
        __import__(name)
    res_fd, lim, forbidden_exit = payload["result_fd"], payload["limits"], payload["forbidden_exit"]
    pid = os.getpid()
    # local bindings: nothing the untrusted code rebinds later reaches the hook or the reports
    _exit, write, dumps, realpath = os._exit, os.write, json.dumps, os.path.realpath
    fsdecode, fspath, isabs, join, path_like = os.fsdecode, os.fspath, os.path.isabs, os.path.join, os.PathLike
    startswith, _any, _isinstance, _str, _bytes, _tuple, _repr, _dict, _int, _bool = (
        str.startswith, any, isinstance, str, bytes, tuple, repr, dict, int, bool)  # builtins can be rebound too
    deny_prefix, path_events, read_events, deny_imports, write_flags = (DENY_PREFIX, PATH_EVENTS, READ_EVENTS,
                                                                        DENY_IMPORTS, WRITE_FLAGS)
    run = run_job

    def send(msg):
        write(res_fd, dumps(_dict(pid=pid, **msg)).encode() + b"\n")

    def report(status, detail=""):
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except BaseException:
            pass
        send(_dict(status=status, detail=_str(detail)[:500]))
        _exit(forbidden_exit if status == "forbidden" else 0)

    # read while still privileged: the interpreter's own stdlib may not be readable by the dropped user
    read_roots = _tuple(os.path.realpath(p) for p in sys.path if p and os.path.exists(p)) + ("/dev/null",
                                                                                             "/dev/urandom")
    for which, value in ((resource.RLIMIT_CPU, (lim["cpu"], lim["cpu"] + 1)), (resource.RLIMIT_AS, (lim["as"],) * 2),
                         (resource.RLIMIT_FSIZE, (lim["fsize"],) * 2), (resource.RLIMIT_NOFILE, (lim["nofile"],) * 2),
                         (resource.RLIMIT_CORE, (0, 0))):
        resource.setrlimit(which, value)
    if payload["drop"]:
        resource.setrlimit(resource.RLIMIT_NPROC, (lim["nproc"],) * 2)
        os.setgroups([])
        os.setgid(payload["gid"])
        os.setuid(payload["uid"])
    tmp = os.path.realpath(payload["tmp"])
    os.chdir(tmp)

    def inside(path, roots):
        return _any(path == r or startswith(path, r.rstrip("/") + "/") for r in roots)

    def check_path(event, p, writing):
        if p is None or _isinstance(p, _int):
            return
        if event == "sqlite3.connect" and p in (":memory:", ""):
            return
        try:
            p = fsdecode(fspath(p))
        except TypeError:
            return
        path = realpath(p if isabs(p) else join(tmp, p))
        if inside(path, (tmp,)) or (not writing and inside(path, read_roots)):
            return
        report("forbidden", f"{event} {'write' if writing else 'read'} outside the sandbox: {path}")

    def hook(event, args):
        if event == "open":
            path, mode, flags = (_tuple(args) + (None, None, None))[:3]
            writing = ((_isinstance(flags, _int) and _bool(flags & write_flags))
                       or (_isinstance(mode, _str) and _any(c in mode for c in "wax+")))
            check_path(event, path, writing)
        elif event in path_events:
            for p in args[:2]:
                if _isinstance(p, (_str, _bytes, path_like)):
                    check_path(event, p, event not in read_events)
        elif event == "sqlite3.connect":
            check_path(event, args[0] if args else None, True)
        elif event == "import":
            name = _str(args[0]) if args else ""
            if name in deny_imports or name.split(".")[0] in deny_imports:
                report("forbidden", f"import {name}")
        elif startswith(event, deny_prefix):
            report("forbidden", f"{event} {_repr(args)[:200]}")

    current = [0, 0]  # job index, its number of tests

    def expired(kind, seconds):
        def handler(signum, frame):
            send(dict(job=current[0], status="timeout", passed=0, total=current[1],
                      detail=f"{kind} time over {seconds:g} s"))
            report("stopped")
        return handler

    signal.signal(signal.SIGPROF, expired("CPU", lim["job_cpu"]))
    signal.signal(signal.SIGALRM, expired("wall", lim["job_wall"]))
    if lim["audit"]:
        sys.addaudithook(hook)
    for i, job in enumerate(payload["jobs"]):
        current[:] = [i, len(job["tests"])]
        signal.setitimer(signal.ITIMER_PROF, lim["job_cpu"])
        signal.setitimer(signal.ITIMER_REAL, lim["job_wall"])
        result = run(job["code"], job["tests"])
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        send(dict(job=i, **result))
    report("done")


def run_job(code, tests):
    """One solution and its tests in a fresh namespace -> dict(status, detail, passed, total)."""
    ns = {"__name__": "__solution__", "__builtins__": builtins}
    n, passed, first = len(tests), 0, None
    try:
        exec(compile(code, "solution.py", "exec"), ns)
    except MemoryError:
        return dict(status="memory", detail="MemoryError while running the solution", passed=0, total=n)
    except BlockingIOError as e:
        return dict(status="forbidden", detail=f"process limit: {e}", passed=0, total=n)
    except BaseException as e:
        return dict(status="crashed", detail=f"{type(e).__name__}: {e}"[:300], passed=0, total=n)
    for i, t in enumerate(tests):
        try:
            exec(compile(t, f"test_{i}", "exec"), ns)
            passed += 1
        except MemoryError:
            return dict(status="memory", detail=f"MemoryError in test {i}", passed=passed, total=n)
        except BlockingIOError as e:
            return dict(status="forbidden", detail=f"process limit: {e}", passed=passed, total=n)
        except AssertionError as e:
            first = first or (f"test {i} failed: {t[:200]}" + (f" ({e})" if str(e) else ""))[:300]
        except BaseException as e:
            first = first or f"test {i} raised {type(e).__name__}: {e}"[:300]
    return dict(status="passed" if passed == n else "failed", detail=first or "", passed=passed, total=n)


if __name__ == "__main__":
    main()
