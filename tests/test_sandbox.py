"""The code sandbox (generators/verify/sandbox.py) runs real child processes: each hostile program is stopped and
classified, correct code passes, wrong code fails, and no checker-gaming exercise of tests/gaming_battery.py is
verified while its honest twin is. Limits are small (1-3 s) so the file stays fast.

The second half checks the OS layers on their own (audit hook switched off): the network namespace, the
unprivileged user and the process limit each stop their case without the hook's help. Those tests need root and a
working `unshare -n` and are skipped otherwise.
"""
from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

import pytest

from generators.verify import judge as J
from generators.verify.sandbox import SandboxLimits, isolation, run_batch, run_tests

sys.path.insert(0, str(Path(__file__).parent))
from gaming_battery import BATTERY  # noqa: E402

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


# ------------------------------------------------------------------------------------- verdicts that mean correct
def test_no_gaming_exercise_is_verified_and_every_honest_twin_is():
    """The battery: 34 patterns (lying __eq__/__ne__/__bool__/__hash__/__class__, subclasses of str/int/float/
    list/dict, patched builtins and runner machinery, forged reports, exits, state across tests, tests that
    rebind or patch, recursion and output bombs); each against its honest twin on the same tests."""
    got = run_batch([(code, tests) for _, code, tests, _ in BATTERY], FAST)
    verdicts = {name: r for (name, *_), r in zip(BATTERY, got)}
    assert len(BATTERY) >= 20 and not [n for n, r in verdicts.items() if r.status == "passed"]
    assert verdicts["always-equal str subclass"].detail.endswith("(false (fib(10) is 'nothing'))")
    assert "not plain data" in verdicts["always-equal object"].detail
    assert verdicts["forged report (guessed nonce) during a test, then exit"].status == "forbidden"
    assert verdicts["output bomb (50 MB printed)"].status == "output_limit"
    assert "cannot be checked" in verdicts["a test rewrites the code's globals (globals().update)"].detail
    assert verdicts["outputs hard-coded in call order (state across tests)"].passed == 1  # each test: a fresh run
    honest = [(name, h, tests) for name, _, tests, h in BATTERY if h]
    twins = run_batch([(h, tests) for _, h, tests in honest], FAST)
    assert [(n, r.status) for (n, *_), r in zip(honest, twins) if r.status != "passed"] == []


def test_plain_data_is_compared_by_contents():
    code = ("import collections, enum, sys\nPoint = collections.namedtuple('Point', 'x y')\n"
            "class Color(enum.IntEnum):\n    RED = 1\n"
            "def counts(s):\n    return collections.Counter(s)\n"
            "def groups(xs):\n    d = collections.defaultdict(list)\n    for x in xs:\n        d[x % 2].append(x)\n"
            "    return d\n"
            "def point():\n    return Point(1, 2)\n"
            "def red():\n    return Color.RED\n"
            "def squares(n):\n    return (i * i for i in range(n))\n"
            "def keys():\n    return {'a': 1, 'b': 2}.keys()\n"
            "def kind(x):\n    return type(x)\n"
            "def odd():\n    return float('nan'), float('inf'), 1 + 2j, b'ab', frozenset({1}), range(3)\n"
            "def size(t):\n    return sys.getsizeof(t)\n")
    tests = ["assert counts('aab') == {'a': 2, 'b': 1}", "assert groups([1, 2, 3]) == {1: [1, 3], 0: [2]}",
             "assert point() == (1, 2) and point()[1] == 2", "assert red() == 1", "assert list(squares(4)) == [0, 1, 4, 9]",
             "assert keys() == {'a', 'b'}", "assert kind(3) == int and kind('') is str",
             "assert odd()[0] != odd()[0] and odd()[1] > 10 ** 300 and odd()[2].imag == 2 and odd()[3] == b'ab'",
             "assert odd()[4] == {1} and list(odd()[5]) == [0, 1, 2]", "assert size((1, 2)) == size((3, 4))",
             "assert math.isclose(sum(squares(3)) / 3, 5 / 3)", "assert not red() - 1 and abs(-red()) == 1"]
    code = "import math\n" + code
    r = run_tests(code, tests, FAST)
    assert (r.status, r.passed) == ("passed", len(tests)), r


def test_each_test_and_each_job_starts_from_a_fresh_run_of_its_code():
    counter = "calls = []\ndef f():\n    calls.append(1)\n    return len(calls)\n"
    assert run_tests(counter, ["assert f() == 1"] * 3, FAST).status == "passed"
    # a job that patches builtins does not make the next job's wrong code right
    jobs = [("import builtins\nbuiltins.abs = lambda x: 55\n", []), ("def f(n):\n    return abs(n)\n",
                                                                      ["assert f(10) == 55"])]
    assert [r.status for r in run_batch(jobs, FAST)] == ["passed", "failed"]


def test_tests_that_cannot_be_checked_and_bounded_judging():
    names = J.solution_names("import math\ndef f(n):\n    return n\n")
    assert names == {"f"}  # `math` stays the real module; a def named like a builtin would count
    for bad, why in [("f(1) == 1", "not an assert"), ("assert [x for x in f(3)]", "ListComp"),
                     ("assert f.__globals__", "__globals__"), ("assert eval('f(1)') == 1", "`eval`"),
                     ("assert f(lambda: 0)", "Lambda"), ("assert (g := f)(1)", "NamedExpr")]:
        with pytest.raises(J.TestError, match=why):
            J.compile_test(bad, names)
    plan = J.compile_test("assert f([1, 2] * 2) == list(range(4)) and math.isclose(f(0.5), 0.5)", names)
    assert [p.payload() for p in plan.probes] == [
        {"call": "f", "args": [["v", ["l", [["i", 1], ["i", 2], ["i", 1], ["i", 2]]]]], "kwargs": []},
        {"call": "f", "args": [["v", ["f", "0x1.0000000000000p-1"]]], "kwargs": []}]
    # the parent never builds a huge value for a test, whatever the test says
    r = run_tests("def f():\n    return 'a'\n", ["assert f() * 10 ** 12 == 'a'", "assert f() == 'a' * 10 ** 12",
                                                  "assert f() in range(10 ** 12)"], FAST)
    assert r.status == "failed" and r.passed == 0 and "too large" in r.detail
    # ... nor one that shares a list many times (each reference counts), nor %-formats, nor builds classes
    plan = J.compile_test("assert str([[0] * 100000] * 100000) == f()", names)
    assert not J.judge(plan, [["ok", ["s", ""]]])[0]
    for bad in ("assert sum([[0] * 100000] * 100000, []) == f()", "assert '%0999999999d' % 1 == f()",
                "assert type('X', (int,), {}) == f()", "assert bytes(10 ** 10) == f()"):
        ok, why = J.judge(J.compile_test(bad, names), [["ok", ["s", ""]]])
        assert not ok and why, bad
    for v in (None, True, -3, 2.5, float("inf"), 1j, "x", b"y", [1, (2, {3})], {"a": frozenset({1})}, range(2, 9, 3)):
        assert J.from_wire(J.to_wire(v)) == v


def test_escapes_through_monkey_patched_path_helpers_and_path_objects():
    # os.path.realpath looks up os.lstat/os.readlink at call time: patched, it used to call /etc "inside"
    lie = ("import os, stat\nreal, real_rl = os.lstat, os.readlink\nclass St:\n    st_mode = stat.S_IFLNK | 0o777\n"
           "os.lstat = lambda p, *a, **k: St() if p == '/etc' else real(p, *a, **k)\n"
           "os.readlink = lambda p, *a, **k: os.getcwd() if p == '/etc' else real_rl(p, *a, **k)\n"
           "print('READ', open('/etc/hostname').read())\n")
    path_object = ("class P:\n    n = 0\n    def __fspath__(self):\n        P.n += 1\n"
                   "        return '/etc/hostname' if P.n == 1 else 'x'\nprint('READ', open(P()).read())\n")
    str_subclass = ("class S(str):\n    def startswith(self, *a):\n        return True\n"
                    "print('READ', open(S('/etc/hostname')).read())\n")
    got = run_batch([(lie, []), (path_object, []), (str_subclass, []),
                     ("class S(str):\n    pass\nopen(S('mine.txt'), 'w').write('ok')\n", [])], FAST)
    assert [r.status for r in got] == ["forbidden", "forbidden", "forbidden", "passed"], got
    assert not any("READ" in r.output for r in got)


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
