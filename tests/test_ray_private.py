"""`--executor ray` without `--address` starts a private Ray instance that accepts nothing from outside this
machine (every listening socket of its processes is on loopback; token auth with a fresh per-run token unless the
environment configures Ray's own), whatever other Ray runs or ran on the machine: a live `ray start --head`, then
the current-cluster file it leaves behind when it is killed."""
from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.helpers import write_jsonl

pytestmark = [pytest.mark.ray, pytest.mark.slow]
ASSAY = str(Path(sys.executable).parent / "assay")
RAY = str(Path(sys.executable).parent / "ray")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening_inodes() -> dict[str, tuple[str, int]]:
    """socket inode -> (ip, port) of every listening TCP socket on the machine (/proc/net/tcp and tcp6)."""
    out = {}
    for fam, table in ((socket.AF_INET, "/proc/net/tcp"), (socket.AF_INET6, "/proc/net/tcp6")):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] != "0A":  # TCP_LISTEN
                continue
            hexip, hexport = f[1].split(":")
            raw = bytes.fromhex(hexip)
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))  # per-32-bit-word host order
            out[f[9]] = (socket.inet_ntop(fam, raw), int(hexport, 16))
    return out


def _descendants(root: int) -> dict[int, str]:
    """pid -> command name of `root` and every process below it."""
    parent, name = {}, {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
                name[int(d.name)] = stat[stat.index("(") + 1:stat.rindex(")")]
                parent[int(d.name)] = int(stat[stat.rindex(")") + 2:].split()[1])
            except (OSError, ValueError):
                pass
    found, frontier = {root}, [root]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p and c not in found]
        found.update(kids)
        frontier += kids
    return {p: name.get(p, "?") for p in found}


def _listeners_of(pids) -> set[tuple[int, str, str, int]]:
    socks, out = _listening_inodes(), set()
    for pid, comm in pids.items():
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in socks:
                out.add((pid, comm, *socks[target[8:-1]]))
    return out


def _loopback(ip: str) -> bool:
    addr = ipaddress.ip_address(ip)
    return addr.is_loopback or (getattr(addr, "ipv4_mapped", None) is not None and addr.ipv4_mapped.is_loopback)


def _watched_run(cmd: list[str], env: dict, timeout: float = 300) -> tuple[subprocess.CompletedProcess, set, dict]:
    """Run `cmd`, sampling the listening sockets of its process tree until it ends; also each Ray server's
    environment (auth settings), read while it runs."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT)
        seen, auth, deadline = set(), {}, time.time() + timeout
        while proc.poll() is None and time.time() < deadline:
            tree = _descendants(proc.pid)
            seen |= _listeners_of(tree)
            for pid, comm in tree.items():
                if comm in ("gcs_server", "raylet") and comm not in auth:
                    try:
                        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                    except OSError:
                        continue
                    auth[comm] = dict(e.decode().split("=", 1) for e in environ if e.startswith(b"RAY_AUTH"))
            time.sleep(0.3)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        log.seek(0)
        return subprocess.CompletedProcess(cmd, proc.returncode, log.read().decode(errors="replace")), seen, auth


def _kill_tree_of(marker: str) -> None:
    """Kill the processes whose command line names `marker` (this test's own `ray start` head only)."""
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                if marker.encode() in (d / "cmdline").read_bytes():
                    os.kill(int(d.name), signal.SIGKILL)
            except (OSError, ProcessLookupError):
                pass


def test_private_instance_is_loopback_only_beside_another_ray(tmp_path):
    # Ray's temp root for this test only (RAY_TMPDIR): the other head's current-cluster file lands there, so the
    # bug is reproduced without touching /tmp/ray of anything else on the machine. Short: socket paths are limited.
    ray_tmp = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    docs = write_jsonl(tmp_path / "docs.jsonl", [{"id": str(i), "text": f"Document number {i} says a few words."}
                                                 for i in range(20)])
    env = {**os.environ, "RAY_TMPDIR": str(ray_tmp), "RAY_USAGE_STATS_ENABLED": "0"}
    env.pop("RAY_ADDRESS", None)
    head = [RAY, "start", "--head", f"--port={free_port()}", "--num-cpus=1", "--include-dashboard=false",
            "--disable-usage-stats", f"--dashboard-agent-listen-port={free_port()}",
            f"--metrics-export-port={free_port()}", f"--runtime-env-agent-port={free_port()}"]
    try:
        subprocess.run(head, env=env, check=True, capture_output=True, timeout=180)
        current = ray_tmp / "ray" / "ray_current_cluster"
        assert current.exists(), "the other head did not record itself as the current cluster"

        # 1. Another Ray is running and is the machine's "current cluster".
        res, listeners, auth = _watched_run([ASSAY, "filter", str(docs), "-o", str(tmp_path / "a"),
                                             "--executor", "ray"], env)
        assert res.returncode == 0, res.stdout[-2000:]
        assert json.loads((tmp_path / "a" / "manifest.json").read_text())["input"] == 20
        comms = {comm for _, comm, _, _ in listeners}
        assert {"gcs_server", "raylet"} <= comms, f"no private instance was started: {sorted(comms)}"
        outside = sorted(x for x in listeners if not _loopback(x[2]))
        assert not outside, f"listeners outside loopback: {outside}"
        assert len(listeners) >= 4

        # 2. The other head was killed and left its current-cluster file behind. This run also has no auth
        # settings of its own (and a home of its own): it gets a fresh per-run token, and ~/.ray stays untouched.
        _kill_tree_of(str(ray_tmp))
        time.sleep(1)
        assert current.exists()
        home = tmp_path / "home"
        home.mkdir()
        bare = {k: v for k, v in env.items() if not k.startswith("RAY_AUTH")} | {"HOME": str(home)}
        res, listeners, auth = _watched_run([ASSAY, "filter", str(docs), "-o", str(tmp_path / "b"),
                                             "--executor", "ray"], bare)
        assert res.returncode == 0, res.stdout[-2000:]
        assert "internal error" not in res.stdout
        outside = sorted(x for x in listeners if not _loopback(x[2]))
        assert not outside and {"gcs_server", "raylet"} <= {c for _, c, _, _ in listeners}, outside
        token_path = auth["gcs_server"].get("RAY_AUTH_TOKEN_PATH", "")
        assert token_path.startswith(str(ray_tmp / "assay-private-")), auth
        assert auth["raylet"].get("RAY_AUTH_TOKEN_PATH") == token_path
        assert not (home / ".ray").exists()
        # the instance's temp dir (its token included) is removed when the run ends
        assert not Path(token_path).parent.exists()
    finally:
        _kill_tree_of(str(ray_tmp))
        subprocess.run(["rm", "-rf", str(ray_tmp)], check=False)


def test_unreachable_address_is_one_line(tmp_path):
    docs = write_jsonl(tmp_path / "docs.jsonl", [{"id": "1", "text": "One document."}])
    port = free_port()  # nothing listens there
    t0 = time.time()
    res = subprocess.run([ASSAY, "filter", str(docs), "-o", str(tmp_path / "o"), "--address", f"127.0.0.1:{port}"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert res.stderr.strip().splitlines()[-1].startswith(f"error: cannot reach a Ray cluster at 127.0.0.1:{port}")
    assert time.time() - t0 < 60
