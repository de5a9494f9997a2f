"""The sandbox child's program (trusted). `generators.verify.sandbox` runs it as ``python -I -S -B -c <this source>``;
it is never imported.

Over 400 lines: it runs as one source string in an isolated interpreter (`-I -S`), so it cannot import parts of
itself.

The process is a **zygote**: it reads the payload from stdin, preloads modules, sets resource limits, drops
privileges, and then never runs untrusted code itself. For every test of every job it forks a **worker** (~4 ms):
the worker puts itself in its own process group, limits its CPU time, installs the audit hook, runs the solution in
a fresh namespace, evaluates the test's probes (`generators/verify/judge.py` made them) and reports each result as
plain data, then exits. The zygote waits for it with the job's remaining wall time, kills its process group, and
reports how it ended. So each test sees the solution as freshly run code: nothing a test or an earlier job did
(state, patched builtins, monkey-patched modules) reaches it.

Reports are JSON lines on a private pipe, each starting with a per-run nonce that only trusted code holds (a local
of `main`, reachable from the solution only through frames, closures of registered handlers or raw memory, all of
which the hook refuses; no Python-level signal handler is installed). A line the parent cannot authenticate is
tampering, never a result. Results are built without calling any method of the solution's objects: exact type
checks with locally bound builtins, base-type C accessors for subclasses of built-in types (``str.__str__``,
``dict.items``, ...), and a hand-written encoder over the exact types it produced (the ``json`` module's Python
parts can be monkey-patched, so only its C string escaper, bound at start, is used after untrusted code ran).

The hook and the reporting use only `main`'s local names, bound before any untrusted code runs, so rebinding module
attributes (``os._exit = ...``, ``__main__.DENY_IMPORTS = ...``) changes nothing; and the hook refuses the usual
ways to reach frames and closures (``sys._getframe``, traceback/generator frame attributes, ``gc`` object
enumeration). Paths are checked as the exact strings the kernel will see (a ``str`` subclass is read as its
contents; any other path object is refused, since its ``__fspath__`` could answer differently to the check and to
the open). Symlinks and hard links are checked at creation (both ends inside the sandbox).
"""
import builtins
import json
import math
import os
import resource
import select
import signal
import sys
import time

DENY_PREFIX = (
    "socket.", "subprocess.", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "os.forkpty", "os.system",
    "os.kill", "os.killpg", "os.startfile", "os.setuid", "os.setgid", "pty.", "ctypes.", "signal.pthread_kill",
    "resource.setrlimit", "resource.prlimit", "code.__new__", "urllib.", "webbrowser.", "ftplib.", "smtplib.",
    "poplib.", "imaplib.", "nntplib.", "telnetlib.", "http.client.", "sys.addaudithook", "cpython.", "marshal.load",
    "sys._current_frames", "sys._current_exceptions", "gc.get_", "sys.settrace", "sys.setprofile")
# Reaching a frame (whose locals hold the harness's secrets): refused with an exception the caller may handle, as
# the standard library does where it asks for its caller's module name (namedtuple, enum, typing); unhandled, the
# test's verdict is ``forbidden``.
FRAME_EVENTS = ("object.__getattr__", "sys._getframe")
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
EXEC_FAILED = 3  # a worker's exit code when the solution itself did not run (a hint for the zygote only)


def main():
    payload = json.loads(sys.stdin.read())
    sys.stdin.close()
    for name in payload["preload"]:
        __import__(name)
    res_fd, lim, forbidden_exit, nonce = (payload["result_fd"], payload["limits"], payload["forbidden_exit"],
                                          payload["nonce"])
    jobs = payload["jobs"]
    drop, uid, gid, tmp = payload["drop"], payload["uid"], payload["gid"], payload["tmp"]
    del payload

    class Stop(Exception):
        """A value cannot be reported (not plain data, too large); the message says why."""

    class Refused(AttributeError, ValueError):
        """A frame was asked for (see FRAME_EVENTS)."""

    # ---- local bindings: nothing the untrusted code rebinds later reaches the hook, the encoder or the reports
    _exit, write, realpath, close = os._exit, os.write, os.path.realpath, os.close
    fsdecode, lstat, readlink = os.fsdecode, os.lstat, os.readlink
    str_split, list_pop = str.split, list.pop
    startswith, _any, _isinstance, _issubclass, _type, _len, _str, _bytes, _tuple, _dict, _int, _bool = (
        str.startswith, any, isinstance, issubclass, type, len, str, bytes, tuple, dict, int, bool)
    _list, _float, _complex, _set, _frozenset, _range, _bytearray = list, float, complex, set, frozenset, range, bytearray
    _compile, _exec, _eval, _BaseException, _MemoryError, _BlockingIOError = (compile, exec, eval, BaseException,
                                                                              MemoryError, BlockingIOError)
    _RecursionError = RecursionError
    str_join, str_encode, str_copy, bytes_copy, bytes_hex, bytes_fromhex = (
        str.join, str.encode, str.__str__, bytes.__bytes__, bytes.hex, bytes.fromhex)
    int_copy, int_repr, bit_length, float_copy, float_hex, float_fromhex = (
        int.__int__, int.__repr__, int.bit_length, float.__float__, float.hex, float.fromhex)
    complex_copy, list_copy, list_append = complex.__complex__, list.copy, list.append
    tuple_iter, set_iter, frozenset_iter, dict_items = tuple.__iter__, set.__iter__, frozenset.__iter__, dict.items
    bytearray_hex, bytearray_fromhex = bytearray.hex, bytearray.fromhex
    type_name = type.__dict__["__name__"].__get__
    exc_args = BaseException.__dict__["args"].__get__
    range_start, range_stop, range_step = (range.__dict__[k].__get__ for k in ("start", "stop", "step"))
    enc_str = json.encoder.encode_basestring_ascii  # the C escaper, bound now
    monotonic, sleep = time.monotonic, time.sleep
    fork, waitpid, wait4, kill, killpg, setpgid = os.fork, os.waitpid, os.wait4, os.kill, os.killpg, os.setpgid
    pidfd_open = getattr(os, "pidfd_open", None)
    _select, setrlimit, RLIMIT_CPU = select.select, resource.setrlimit, resource.RLIMIT_CPU
    WIFEXITED, WEXITSTATUS, WIFSIGNALED, WTERMSIG = os.WIFEXITED, os.WEXITSTATUS, os.WIFSIGNALED, os.WTERMSIG
    SIGKILL = signal.SIGKILL
    deny_prefix, path_events, read_events, deny_imports, write_flags, frame_events = (
        DENY_PREFIX, PATH_EVENTS, READ_EVENTS, DENY_IMPORTS, WRITE_FLAGS, FRAME_EVENTS)
    # built-ins a value may be (``int`` returned or passed), by the names judge.BUILTINS_BY_NAME gives them
    builtin_by_name = {n: getattr(math, n[5:]) if n.startswith("math.") else getattr(builtins, n)
                       for n in lim["builtin_names"]}
    builtin_ids = {id(v): k for k, v in builtin_by_name.items()}
    real_builtins = builtins
    stdout, stderr = sys.stdout, sys.stderr
    flush = type(stdout).flush
    iter_types = tuple({type(x) for x in (
        iter([]), iter(()), iter(""), iter(b""), iter(range(0)), iter({}), iter({}.values()), iter({}.items()),
        iter(set()), reversed([]), reversed(range(0)), map(abs, ()), filter(None, ()), zip(), enumerate(()),
        (lambda: (yield))())})
    views = {type({}.keys()): "K", type({}.values()): "V", type({}.items()): "T"}
    max_depth, max_values, max_chars, max_bits = lim["max_depth"], lim["max_values"], lim["max_chars"], lim["max_bits"]
    prefix = '["' + nonce + '",'

    # ---- reports: a hand-written JSON encoder over the exact types it is given (lists, str, int, bool, None)
    def dump(x, out):
        t = _type(x)
        if t is _str:
            list_append(out, enc_str(x))
        elif t is _bool:
            list_append(out, "true" if x else "false")
        elif t is _int:
            list_append(out, int_repr(x))
        elif x is None:
            list_append(out, "null")
        else:  # a list built by this program
            list_append(out, "[")
            first = True
            for v in x:
                if not first:
                    list_append(out, ",")
                first = False
                dump(v, out)
            list_append(out, "]")

    def send(fields):
        out = [prefix]
        dump(fields, out)
        out[1] = out[1][1:]  # the fields' own "[" (the prefix opened the list)
        data = str_encode(str_join("", out) + "\n")
        while data:
            n = write(res_fd, data)
            data = data[n:]

    # ---- plain values: materialise what a probe returned without calling its methods
    def wire(x, depth, budget):
        if depth > max_depth:
            raise Stop(f"nested deeper than {max_depth}")
        budget[0] -= 1
        if budget[0] < 0:
            raise Stop(f"more than {max_values} values")
        t = _type(x)
        if x is None:
            return ["n"]
        if t is _bool:
            return ["b", True if x is True else False]
        if t is _int or _issubclass(t, _int):
            v = x if t is _int else int_copy(x)
            if bit_length(v) > max_bits:
                raise Stop("an integer with more than ~4,000 digits")
            return ["i", v]
        if t is _float or _issubclass(t, _float):
            return ["f", float_hex(x if t is _float else float_copy(x))]
        if t is _complex or _issubclass(t, _complex):
            v = x if t is _complex else complex_copy(x)
            return ["c", float_hex(v.real), float_hex(v.imag)]
        if t is _str or _issubclass(t, _str):
            v = x if t is _str else str_copy(x)
            budget[1] -= _len(v)
            if budget[1] < 0:
                raise Stop(f"more than {max_chars} characters")
            return ["s", v]
        if t is _bytes or _issubclass(t, _bytes) or t is _bytearray:
            v = x if t is _bytes else (x if t is _bytearray else bytes_copy(x))
            budget[1] -= _len(v)
            if budget[1] < 0:
                raise Stop(f"more than {max_chars} bytes")
            return ["Y", bytearray_hex(v)] if t is _bytearray else ["y", bytes_hex(v)]
        if t is _list or _issubclass(t, _list):
            return ["l", [wire(v, depth + 1, budget) for v in list_copy(x)]]
        if t is _tuple or _issubclass(t, _tuple):
            return ["t", [wire(v, depth + 1, budget) for v in tuple_iter(x)]]
        if t is _dict or _issubclass(t, _dict):
            return ["d", [[wire(k, depth + 1, budget), wire(v, depth + 1, budget)] for k, v in dict_items(x)]]
        if t is _set or _issubclass(t, _set):
            return ["S", [wire(v, depth + 1, budget) for v in set_iter(x)]]
        if t is _frozenset or _issubclass(t, _frozenset):
            return ["F", [wire(v, depth + 1, budget) for v in frozenset_iter(x)]]
        if t is _range:
            return ["r", range_start(x), range_stop(x), range_step(x)]
        if t in views:  # exact view types: iterating them is the dict's own C iteration
            if views[t] == "T":
                return ["T", [[wire(k, depth + 1, budget), wire(v, depth + 1, budget)] for k, v in x]]
            return [views[t], [wire(v, depth + 1, budget) for v in x]]
        if t in iter_types:
            items = []
            for v in x:  # a generator or map() runs the solution's code here: its items are its results
                if _len(items) >= max_values:
                    raise Stop(f"an iterator with more than {max_values} items")
                list_append(items, wire(v, depth + 1, budget))
            return ["I", items]
        name = builtin_ids.get(id(x))
        if name is not None and builtin_by_name[name] is x:
            return ["B", name]
        raise Stop(type_name(t))

    def unwire(w):
        """The parent's argument values -> fresh objects (the parent built them from plain data)."""
        tag = w[0]
        if tag == "n":
            return None
        if tag in ("b", "i", "s"):
            return w[1]
        if tag == "f":
            return float_fromhex(w[1])
        if tag == "c":
            return _complex(float_fromhex(w[1]), float_fromhex(w[2]))
        if tag == "y":
            return bytes_fromhex(w[1])
        if tag == "Y":
            return bytearray_fromhex(w[1])
        if tag == "r":
            return _range(w[1], w[2], w[3])
        if tag == "B":
            return builtin_by_name[w[1]]
        if tag == "d":
            return {unwire(k): unwire(v) for k, v in w[1]}
        items = [unwire(v) for v in w[1]]
        if tag == "l":
            return items
        if tag == "t":
            return _tuple(items)
        return _set(items) if tag == "S" else _frozenset(items)

    def describe(e):
        """(type name, message) of an exception, without calling its methods."""
        args = exc_args(e)
        msg = args[0] if _type(args) is _tuple and _len(args) == 1 and _type(args[0]) is _str else ""
        return type_name(_type(e)), msg[:200]

    def outcome(e):
        if _issubclass(_type(e), _MemoryError):
            return ["memory"]
        if _issubclass(_type(e), _BlockingIOError):
            return ["forbidden", "process limit: " + describe(e)[1]]
        if _type(e) is Refused:
            return ["forbidden", describe(e)[1]]
        name, msg = describe(e)
        return ["raised", name, msg]

    def run_probe(probe, ns):
        budget = [max_values, max_chars]
        try:
            if "expr" in probe:
                value = _eval(_compile(probe["expr"], "test", "eval"), ns)
            else:
                fn = _eval(_compile(probe["call"], "test", "eval"), ns)
                args = [unwire(a[1]) if a[0] == "v" else _eval(_compile(a[1], "test", "eval"), ns)
                        for a in probe["args"]]
                kwargs = {k: unwire(a[1]) if a[0] == "v" else _eval(_compile(a[1], "test", "eval"), ns)
                          for k, a in probe["kwargs"]}
                value = fn(*args, **kwargs)
        except _BaseException as e:
            return outcome(e)
        try:
            return ["ok", wire(value, 0, budget)]
        except Stop as e:
            why = exc_args(e)[0]
            return ["toolarge", why] if startswith(why, ("more than", "nested", "an ")) else ["notplain", why]
        except _RecursionError:
            return ["toolarge", "nested too deeply"]
        except _BaseException as e:
            return outcome(e)

    def flush_output():
        for s in (stdout, stderr):
            try:
                flush(s)
            except _BaseException:
                pass

    # ---- the worker: one test of one job
    def worker(j, t, code_obj, probes, cpu):
        setpgid(0, 0)
        setrlimit(RLIMIT_CPU, (cpu, cpu + 1))

        def report(status, detail=""):
            send([status, j, t, _str(detail)[:500]])
            flush_output()
            _exit(forbidden_exit if status == "forbidden" else 0)

        def check_path(event, p, writing):
            if p is None or _type(p) is _int:
                return
            if event == "sqlite3.connect" and _type(p) is _str and p in (":memory:", ""):
                return
            t_ = _type(p)
            if t_ is not _str and t_ is not _bytes:
                if _issubclass(t_, _str):
                    p = str_copy(p)
                elif _issubclass(t_, _bytes):
                    p = bytes_copy(p)
                else:
                    report("forbidden", f"{event} with a path object of type {type_name(t_)}")
            path = resolve(fsdecode(p) if _type(p) is _bytes else p)
            if path is not None and (inside(path, (tmp,)) or (not writing and inside(path, read_roots))):
                return
            report("forbidden", f"{event} {'write' if writing else 'read'} outside the sandbox: {path}")

        def hook(event, args):
            if event == "open":
                path, mode, flags = (_tuple(args) + (None, None, None))[:3]
                writing = ((_type(flags) is _int and _bool(flags & write_flags))
                           or (_type(mode) is _str and _any(c in mode for c in "wax+")))
                check_path(event, path, writing)
            elif event in path_events:
                for p in args[:2]:
                    if p is not None and _type(p) is not _int:
                        check_path(event, p, event not in read_events)
            elif event == "sqlite3.connect":
                check_path(event, args[0] if args else None, True)
            elif event == "import":
                name = args[0] if args and _type(args[0]) is _str else ""
                if name in deny_imports or name.split(".")[0] in deny_imports:
                    report("forbidden", f"import {name}")
            elif startswith(event, frame_events):
                what = args[1] if event == "object.__getattr__" and _len(args) > 1 and _type(args[1]) is _str else ""
                raise Refused(f"{event} {what}".strip() + " is not available in the sandbox")
            elif startswith(event, deny_prefix):
                shown = [a for a in args if _type(a) in (_str, _int, _bytes)] if _type(args) is _tuple else []
                report("forbidden", f"{event} {_str(shown)[:200]}")

        if lim["audit"]:
            sys.addaudithook(hook)
        try:
            ns = {"__name__": "__solution__", "__builtins__": real_builtins}
            _exec(code_obj, ns)
        except _BaseException as e:
            res = outcome(e)
            status = res[0] if res[0] in ("memory", "forbidden") else "crashed"
            detail = res[1] if status == "forbidden" else (f"{res[1]}: {res[2]}" if status == "crashed" else "")
            send(["exec", j, t, status, detail[:300]])
            flush_output()
            _exit(EXEC_FAILED)
        send(["exec", j, t, "ok", ""])
        for i, probe in enumerate(probes):
            send(["probe", j, t, i, run_probe(probe, ns)])
        flush_output()
        send(["end", j, t])
        _exit(0)

    # ---- limits and identity of the zygote (inherited by every worker)
    read_roots = _tuple(realpath(p) for p in sys.path if p and os.path.exists(p)) + ("/dev/null", "/dev/urandom")
    for which, value in ((resource.RLIMIT_AS, (lim["as"],) * 2), (resource.RLIMIT_FSIZE, (lim["fsize"],) * 2),
                         (resource.RLIMIT_NOFILE, (lim["nofile"],) * 2), (resource.RLIMIT_CORE, (0, 0))):
        setrlimit(which, value)
    if drop:
        setrlimit(resource.RLIMIT_NPROC, (lim["nproc"],) * 2)
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    tmp = realpath(tmp)
    os.chdir(tmp)

    def inside(path, roots):
        return _any(path == r or startswith(path, r.rstrip("/") + "/") for r in roots)

    def resolve(path):
        """The real absolute path (symlinks followed), with primitives bound here: `os.path.realpath` looks up
        `os.lstat` and friends at call time, so monkey-patching them could make it lie. None: a symlink loop."""
        if _type(path) is not _str:
            return None
        if not startswith(path, "/"):
            path = tmp + "/" + path
        pending, parts, links = str_split(path, "/")[::-1], [], 0
        while pending:
            c = list_pop(pending)
            if c in ("", "."):
                continue
            if c == "..":
                if parts:
                    list_pop(parts)
                continue
            here = "/" + str_join("/", parts + [c])
            try:
                mode = lstat(here).st_mode
            except (OSError, ValueError):
                list_append(parts, c)  # does not exist (yet) or not ours to see: judged by its name
                continue
            if mode & 0o170000 == 0o120000:
                links += 1
                if links > 40:
                    return None
                target = readlink(here)
                if startswith(target, "/"):
                    parts = []
                pending += str_split(target, "/")[::-1]
            else:
                list_append(parts, c)
        return "/" + str_join("/", parts)

    def wait_worker(pid, seconds):
        """(wait status, rusage, killed for wall time) of a worker, killing it after `seconds`."""
        deadline = monotonic() + seconds
        fd = -1
        if pidfd_open is not None:
            try:
                fd = pidfd_open(pid)
            except OSError:
                fd = -1
        killed = False
        try:
            while True:
                got, status, usage = wait4(pid, os.WNOHANG)
                if got == pid:
                    return status, usage, killed
                left = deadline - monotonic()
                if left <= 0 and not killed:
                    killed = True
                    try:
                        killpg(pid, SIGKILL)
                    except OSError:
                        kill(pid, SIGKILL)
                    continue
                if fd >= 0:
                    _select([fd], [], [], max(0.0, min(left, 1.0)) if not killed else 0.05)
                else:
                    sleep(0.002)
        finally:
            if fd >= 0:
                close(fd)
            try:
                killpg(pid, SIGKILL)  # anything the worker left behind in its group
            except OSError:
                pass

    for j, job in enumerate(jobs):
        try:
            code_obj = _compile(job["code"], "solution.py", "exec")
        except _BaseException as e:
            name, msg = describe(e)
            send(["exec", j, 0, "crashed", f"{name}: {msg}"[:300]])
            send(["job", j])
            continue
        cpu_left, wall_left = float(lim["job_cpu"]), float(lim["job_wall"])
        for t, probes in enumerate(job["tests"] or [[]]):
            cpu = max(1, int(cpu_left + 0.999))
            t0 = monotonic()
            send(["start", j, t])  # before the fork: a worker's lines never interleave with the zygote's
            pid = fork()
            if pid == 0:
                try:
                    worker(j, t, code_obj, probes, cpu)
                finally:
                    _exit(70)
            try:
                setpgid(pid, pid)
            except OSError:
                pass
            status, usage, walled = wait_worker(pid, wall_left)
            used = usage.ru_utime + usage.ru_stime
            cpu_left -= used
            wall_left -= monotonic() - t0
            if walled:
                how = ["wall", 0]
            elif WIFSIGNALED(status):
                how = ["signal", WTERMSIG(status)]
            else:
                how = ["exit", WEXITSTATUS(status) if WIFEXITED(status) else -1]
            send(["exit", j, t, how[0], how[1], int(used * 1000)])
            if how != ["exit", 0] or cpu_left <= 0 or wall_left <= 0:
                break  # the job has its verdict (or is out of time): its remaining tests are not run
        send(["job", j])
    send(["done"])
    _exit(0)


if __name__ == "__main__":
    main()
