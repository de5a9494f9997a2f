"""Test-only fault injection, loaded at interpreter start-up through PYTHONPATH (never by production code).

Workers unpickle stage functions by name (pool processes, Ray tasks and actors), so they get the wrapped ones.

`ASSAY_CRASH_ONCE=module:function:marker_file`: the first call of `module.function` (across all processes: the marker
file decides) ends its process with os._exit(1); later calls run normally.

`ASSAY_FAULTS=ACTION:module:attr:marker[:times[:every[:match]]][;...]`: `module.attr` (`attr` may be `Class.method`)
is wrapped so that `times` of its calls (default 1) across all processes do ACTION instead of running: the first ones,
or with `every` N, calls N, 2N, ... (so a retried call is not hit again at once; the calls are counted with files
`marker.call.<i>`); with `match`, only calls whose arguments' repr contains it count (a poison input). Marker files `marker.0`, `marker.1`, ... record the hits (each holds the pid it hit); the other
calls run normally. Actions:
- `kill`: SIGKILL this process;
- `exit`: os._exit(1);
- `hang`: sleep forever (Python-level: a signal handler still interrupts it);
- `stuck`: block the catchable signals, then sleep forever (like native code that never returns to Python).
"""
import os

_ACTIONS = ("kill", "exit", "hang", "stuck")


def _take(name: str) -> bool:
    try:
        fd = os.open(name, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return False
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    return True


_calls = {}


def _claim(marker: str, times: int, every: int = 1) -> bool:
    """True for `times` calls across all processes: the first ones, or every `every`-th."""
    if every > 1:
        i = _calls.get(marker, 0)
        while not _take(f"{marker}.call.{i}"):
            i += 1
        _calls[marker] = i + 1
        n = i + 1
        return n % every == 0 and n // every <= times and _take(f"{marker}.{n // every - 1}")
    return any(_take(f"{marker}.{i}") for i in range(times))


def _act(action: str) -> None:
    import signal
    import time

    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "exit":
        os._exit(1)
    elif action == "stuck":
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM, signal.SIGALRM, signal.SIGUSR1,
                                                  signal.SIGUSR2, signal.SIGHUP})
    while True:  # hang, stuck
        time.sleep(3600)


def _wrap(action: str, module: str, attr: str, marker: str, times: int = 1, every: int = 1, match: str = "") -> None:
    import functools
    import importlib

    owner = importlib.import_module(module)
    *path, name = attr.split(".")
    for p in path:
        owner = getattr(owner, p)
    orig = getattr(owner, name)

    @functools.wraps(orig)
    def faulty(*args, **kwargs):
        if (not match or match in repr(args)) and _claim(marker, times, every):
            _act(action)
        return orig(*args, **kwargs)

    setattr(owner, name, faulty)
    if not path:  # modules that already did `from module import name` get the wrapper too
        import sys

        for mod in list(sys.modules.values()):
            for k, v in list(getattr(mod, "__dict__", {}).items()):
                if v is orig:
                    setattr(mod, k, faulty)


_spec = os.environ.get("ASSAY_CRASH_ONCE")
if _spec:
    import importlib

    _module, _name, _marker = _spec.split(":", 2)
    _mod = importlib.import_module(_module)
    _orig = getattr(_mod, _name)

    def _crash_once(*args, **kwargs):
        try:
            fd = os.open(_marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return _orig(*args, **kwargs)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        os._exit(1)

    setattr(_mod, _name, _crash_once)

for _fault in filter(None, (os.environ.get("ASSAY_FAULTS") or "").split(";")):
    _action, _module, _attr, _marker, *_counts = _fault.split(":")
    if _action not in _ACTIONS:
        raise ValueError(f"ASSAY_FAULTS: unknown action {_action!r} (known: {', '.join(_ACTIONS)})")
    _wrap(_action, _module, _attr, _marker, *map(int, _counts[:2]), *_counts[2:3])
