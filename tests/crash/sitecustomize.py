"""Test-only fault injection, loaded at interpreter start-up through PYTHONPATH (never by production code).

With `ASSAY_CRASH_ONCE=module:function:marker_file` in a process's environment, `module.function` is wrapped so
that the first call (across all processes: the marker file decides) kills its process with os._exit(1); later
calls run normally. Workers unpickle stage functions by name, so they get the wrapped one.
"""
import os

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
