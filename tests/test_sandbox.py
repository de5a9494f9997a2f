"""The code sandbox (generators/verify/sandbox.py) runs real child processes: each hostile program is stopped and
classified, correct code passes, wrong code fails. Limits are small (1-3 s) so the file stays fast.

The second half checks the OS layers on their own (audit hook switched off): the network namespace, the
unprivileged user and the process limit each stop their case without the hook's help. Those tests need root and a
working `unshare -n` and are skipped otherwise.
"""
from __future__ import annotations

import os
import socket
import time

import pytest

from generators.verify.sandbox import SandboxLimits, isolation, run_batch, run_tests

FAST = SandboxLimits(cpu_seconds=1, wall_seconds=3, memory_mb=256, output_bytes=200_000)
ADD = "def add(a, b):\n    return a + b\n"


def test_correct_function_passes_and_wrong_one_fails():
    ok = run_tests(ADD, ["assert add(1, 2) == 3", "assert add(-1, 1) == 0"], FAST)
    assert (ok.status, ok.passed, ok.total) == ("passed", 2, 2)
    bad = run_tests("def add(a, b):\n    return a - b\n", ["assert add(2, 2) == 0", "assert add(1, 2) == 3"], FAST)
    assert (bad.status, bad.passed, bad.total) == ("failed", 1, 2)
    assert "test 1 failed" in bad.detail
    raised = run_tests(ADD, ["assert add(1) == 1"], FAST)
    assert raised.status == "failed" and "TypeError" in raised.detail


def test_solution_that_does_not_even_run_is_crashed():
    r = run_tests("def add(a, b:\n    return a\n", ["assert add(1, 2) == 3"], FAST)
    assert r.status == "crashed" and "SyntaxError" in r.detail
    r = run_tests("import os\nos._exit(0)\n", ["assert True"], FAST)
    assert r.status == "crashed" and "without a report" in r.detail


def test_socket_is_forbidden():
    code = "import socket\ns = socket.socket()\ns.connect(('1.1.1.1', 80))\n"
    r = run_tests(code, [], FAST)
    assert r.status == "forbidden" and "socket" in r.detail
    # also when the module is reached another way (already imported by the stdlib code the solution uses)
    r = run_tests("import _socket\n", [], FAST)
    assert r.status == "forbidden"


def test_reading_files_outside_the_sandbox_is_forbidden(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read")
    for path in ("/etc/hostname", str(secret), str(secret.parent)):
        code = f"print(open({path!r}).read())" if path != str(secret.parent) else f"import os\nos.listdir({path!r})"
        r = run_tests(code, [], FAST)
        assert r.status == "forbidden" and path in r.detail, (path, r)
        assert "do not read" not in r.output
    # relative escapes and symlinks are resolved before the check
    r = run_tests(f"import os\nos.symlink({str(secret)!r}, 'link')\nprint(open('link').read())", [], FAST)
    assert r.status == "forbidden"
    r = run_tests("print(open('../../../../etc/hostname').read())", [], FAST)
    assert r.status == "forbidden"


@pytest.mark.parametrize("code", [
    "import os\nos._exit = lambda code: None\nprint(open('/etc/hostname').read())",
    "import builtins\nbuiltins.any = lambda it: True\nbuiltins.isinstance = lambda a, b: False\n"
    "print(open('/etc/hostname').read())",
    "import sys\nsys.modules['__main__'].DENY_IMPORTS = frozenset()\nimport socket",
    "import os.path\nos.path.realpath = lambda p: p\nos.symlink('/etc/hostname', 'x')",
    "try:\n    1 / 0\nexcept ZeroDivisionError as e:\n    frame = e.__traceback__.tb_frame",
    "import sys\nsys._getframe(1)",
    "import gc\ngc.get_objects()",
])
def test_attempts_to_switch_the_hook_off_are_forbidden(code):
    r = run_tests(code, [], FAST)
    assert r.status == "forbidden", r
    assert "localhost" not in r.output and not r.output.strip(), r.output


def test_the_sandbox_directory_is_private_and_writable():
    code = ("import os\nopen('notes.txt', 'w').write('hi')\nassert open('notes.txt').read() == 'hi'\n"
            "assert os.getcwd() == os.environ['HOME'] == os.environ['TMPDIR']\n"
            "assert not any(k.endswith(('KEY', 'TOKEN', 'SECRET')) for k in os.environ), sorted(os.environ)\n"
            "def listing():\n    return os.listdir('.')\n")
    os.environ["ASSAY_TEST_SECRET"] = "s3cret"  # must not reach the child
    try:
        r = run_tests(code, ["assert listing() == ['notes.txt']"], FAST)
    finally:
        del os.environ["ASSAY_TEST_SECRET"]
    assert r.status == "passed", r
    r = run_tests("open('/tmp/assay-sandbox-escape.txt', 'w').write('x')", [], FAST)
    assert r.status == "forbidden" and not os.path.exists("/tmp/assay-sandbox-escape.txt")


def test_fork_bomb_and_subprocess_are_forbidden():
    r = run_tests("import os\nwhile True:\n    os.fork()\n", [], FAST)
    assert r.status == "forbidden" and "fork" in r.detail
    r = run_tests("import subprocess\nsubprocess.run(['ls', '/'])\n", [], FAST)
    assert r.status == "forbidden"
    r = run_tests("import os\nos.system('ls /')\n", [], FAST)
    assert r.status == "forbidden"


def test_allocating_10_gb_is_stopped_as_memory():
    r = run_tests("x = bytearray(10 * 1024 ** 3)\n", [], FAST)
    assert r.status == "memory"
    r = run_tests("def f():\n    return [0] * (10 ** 10)\n", ["assert f()"], FAST)
    assert r.status == "memory" and "test 0" in r.detail


def test_infinite_loop_and_sleep_are_timeouts():
    t = time.monotonic()
    r = run_tests("while True:\n    pass\n", [], FAST)
    assert r.status == "timeout" and time.monotonic() - t < 10
    r = run_tests("import time\ntime.sleep(60)\n", [], SandboxLimits(wall_seconds=1))
    assert r.status == "timeout" and "wall" in r.detail and r.seconds < 5


def test_printing_100_mb_is_stopped_at_the_output_limit():
    t = time.monotonic()
    r = run_tests("import sys\nfor _ in range(100):\n    sys.stdout.write('x' * 1_000_000)\n", [], FAST)
    assert r.status == "output_limit" and time.monotonic() - t < 10
    assert len(r.output) < 3000  # only the head and tail are kept


def test_without_namespace_or_user_switch_the_hook_still_classifies_everything():
    """The fallback on machines without root or `unshare`: the same verdicts from the audit hook and rlimits."""
    lim = FAST.model_copy(update={"network_namespace": False, "drop_privileges": False})
    jobs = [(ADD, ["assert add(1, 1) == 2"]), ("import socket\nsocket.socket().connect(('1.1.1.1', 80))", []),
            ("open('/etc/hostname').read()", []), ("import os\nos.fork()", []), ("x = bytearray(10 ** 10)", []),
            ("print('x' * 10 ** 7)", [])]
    got = run_batch(jobs, lim)
    assert [r.status for r in got] == ["passed", "forbidden", "forbidden", "forbidden", "memory", "output_limit"]
    assert got[0].isolation["network"] == "none" and got[0].isolation["user"] == "caller"


def test_batch_gives_each_job_its_own_verdict():
    good = (ADD, ["assert add(2, 3) == 5"])
    jobs = [good, ("while True:\n    pass\n", []), (ADD, ["assert add(2, 3) == 6"]), ("import os\nos.fork()", []),
            good, ("x = bytearray(10 ** 10)", [])]
    got = [r.status for r in run_batch(jobs, FAST)]
    assert got == ["passed", "timeout", "failed", "forbidden", "passed", "memory"]
    assert run_batch([], FAST) == []


# ---------------------------------------------------------------------------------- OS layers, hook switched off
def _root_with_netns() -> bool:
    iso = isolation()
    return os.geteuid() == 0 and iso["network"] == "netns" and iso["user"] == "nobody"


needs_root = pytest.mark.skipif(not _root_with_netns(), reason="needs root and a working `unshare -n`")


@needs_root
def test_network_namespace_alone_blocks_even_localhost():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\nprint('CONNECTED')\n"
        # as root (socket importable) but in the namespace, without the hook: no route to the host's loopback
        lim = FAST.model_copy(update={"audit_hook": False, "drop_privileges": False})
        r = run_tests(code, [], lim)
        assert r.status == "crashed" and "CONNECTED" not in r.output and "OSError" in r.detail
        assert r.isolation["network"] == "netns"
        # control: the same code without the namespace does connect (the server above is real)
        r = run_tests(code, [], lim.model_copy(update={"network_namespace": False}))
        assert r.status == "passed" and "CONNECTED" in r.output


@needs_root
def test_unprivileged_user_alone_cannot_read_private_files(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("do not read")
    secret.chmod(0o600)
    r = run_tests(f"print(open({str(secret)!r}).read())", [], FAST.model_copy(update={"audit_hook": False}))
    assert r.status == "crashed" and "PermissionError" in r.detail and "do not read" not in r.output


@needs_root
def test_process_limit_alone_stops_a_fork_bomb():
    lim = FAST.model_copy(update={"audit_hook": False, "max_processes": 8})
    r = run_tests("import os\nwhile True:\n    os.fork()\n", [], lim)
    assert r.status in ("forbidden", "timeout"), r
    time.sleep(0.2)
    leftovers = [p for p in os.listdir("/proc") if p.isdigit() and _uid(p) == 65534 and _state(p) not in ("Z", "X")]
    assert not leftovers, leftovers


def _uid(pid: str) -> int | None:
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _state(pid: str) -> str:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "X"
