"""A lost node: a two-node Ray cluster on 127.0.0.1 (two `ray start` processes, each with its own temp dir, ports,
--memory and --object-store-memory; token auth as the session fixture), `curate` and `dedupe` run against it.

- One node (the session's cluster) and two nodes, no failure: identical output (the kept set does not depend on
  the number of nodes or workers).
- The second node's raylet is SIGKILLed while curate's filter runs. The run either completes with the output of
  the undisturbed run, or stops with a one-line message, and the same command run again completes it identically
  without redoing the shards that were finished.
Every process started here is stopped at the end (found by its temp dir, as the session fixture does).
"""
from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import stage_outputs

pytestmark = [pytest.mark.ray, pytest.mark.slow]
REPO = Path(__file__).resolve().parent.parent
GiB = 1024 ** 3
RAY = str(Path(sys.executable).parent / "ray")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pids_with(text: str, name: str | None = None) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                cmd = (d / "cmdline").read_bytes()
            except OSError:
                continue
            if text.encode() in cmd and (name is None or name.encode() in cmd.split(b"\0")[0]):
                pids.append(int(d.name))
    return pids


def _children(pid: int) -> list[str]:
    """Command lines of the processes whose parent is `pid` (a raylet's workers)."""
    out = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                if int((d / "stat").read_text().rsplit(") ", 1)[1].split()[1]) == pid:
                    out.append((d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")[:80])
            except (OSError, IndexError, ValueError):
                pass
    return out


def _stop(tmp: Path) -> None:
    """Stop the processes of the node whose temp dir is `tmp` (never `ray stop`: other Rays run here)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in _pids_with(str(tmp)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.time() + 15
        while _pids_with(str(tmp)) and time.time() < deadline:
            time.sleep(0.2)


def _ports() -> list[str]:
    return [f"--dashboard-agent-listen-port={free_port()}", f"--dashboard-agent-grpc-port={free_port()}",
            f"--metrics-export-port={free_port()}", f"--runtime-env-agent-port={free_port()}",
            f"--node-manager-port={free_port()}", f"--object-manager-port={free_port()}"]


def _env() -> dict:
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    # a dead node is noticed in seconds, not the default ~30 s
    env.update({"RAY_USAGE_STATS_ENABLED": "0", "RAY_health_check_period_ms": "1000",
                "RAY_health_check_failure_threshold": "3", "RAY_health_check_timeout_ms": "1000"})
    return env


def _nodes_alive(address: str) -> int:
    code = ("import ray; ray.init(address=%r, logging_level='ERROR'); "
            "print(sum(1 for n in ray.nodes() if n['Alive']))" % address)
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=_env())
    return int(res.stdout.strip().splitlines()[-1]) if res.returncode == 0 and res.stdout.strip() else -1


@pytest.fixture(scope="module")
def two_nodes():
    """Head (1 CPU, 3 GiB, 512 MiB object store) + a second node (the same), both on 127.0.0.1."""
    tag = secrets.token_hex(3)
    head, second = Path(f"/tmp/assay-n1-{tag}"), Path(f"/tmp/assay-n2-{tag}")  # short: socket path limits
    head.mkdir()
    second.mkdir()
    port = free_port()
    common = ["--num-cpus=1", f"--memory={3 * GiB}", f"--object-store-memory={512 * 1024 ** 2}",
              "--disable-usage-stats", "--node-ip-address=127.0.0.1"]
    try:
        subprocess.run([RAY, "start", "--head", f"--port={port}", "--include-dashboard=false",
                        f"--ray-client-server-port={free_port()}", f"--temp-dir={head / 'ray'}", *common, *_ports()],
                       env=_env(), check=True, capture_output=True, timeout=180)
        address = f"127.0.0.1:{port}"
        subprocess.run([RAY, "start", f"--address={address}", f"--temp-dir={second / 'ray'}", *common, *_ports()],
                       env=_env(), check=True, capture_output=True, timeout=180)
        deadline = time.time() + 60
        while _nodes_alive(address) != 2 and time.time() < deadline:
            time.sleep(1)
        assert _nodes_alive(address) == 2
        yield {"address": address, "head": head, "second": second}
    finally:
        _stop(second)
        _stop(head)
        shutil.rmtree(second, ignore_errors=True)
        shutil.rmtree(head, ignore_errors=True)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> list[str]:
    from pipeline.corpus import build_corpus

    root = tmp_path_factory.mktemp("nodes-corpus")
    build_corpus(root, docs=480, seed=5, docs_per_file=40)
    return sorted(str(p) for p in root.glob("corpus-*.warc.gz"))


def _cmd(stage: str, inputs: list[str], out: Path, address: str) -> list[str]:
    return [sys.executable, "-m", "pipeline.cli", stage, *inputs, "-o", str(out), "--address", address,
            "--no-progress", "--set", "runtime.watchdog_s=90"]


def _run(stage: str, inputs: list[str], out: Path, address: str) -> None:
    res = subprocess.run(_cmd(stage, inputs, out, address), cwd=REPO, capture_output=True, text=True, timeout=600,
                         env=_env())
    assert res.returncode == 0, res.stderr[-3000:]


@pytest.fixture(scope="module")
def one_node(ray_cluster, corpus, tmp_path_factory) -> dict:
    """curate, then dedupe of its filter's output, on the session's one-node cluster."""
    root = tmp_path_factory.mktemp("one-node")
    _run("curate", corpus, root / "curate", ray_cluster.address)
    filtered = str(root / "curate" / "work" / "filter" / "data")
    _run("dedupe", [filtered], root / "dedupe", ray_cluster.address)
    return {"curate": root / "curate", "dedupe": root / "dedupe", "filtered": filtered}


def test_one_node_and_two_nodes_give_identical_output(two_nodes, one_node, corpus, tmp_path):
    address = two_nodes["address"]
    _run("curate", corpus, tmp_path / "curate", address)
    _run("dedupe", [one_node["filtered"]], tmp_path / "dedupe", address)
    a = stage_outputs(tmp_path / "curate")
    assert a == stage_outputs(one_node["curate"]) and a["counts"]["removed"].get("exact_duplicate")
    assert stage_outputs(tmp_path / "dedupe") == stage_outputs(one_node["dedupe"])
    m = json.loads((tmp_path / "curate" / "manifest.json").read_text())
    assert m["executor"] == "ray"


def test_second_node_lost_mid_run(two_nodes, one_node, corpus, tmp_path):
    address, out = two_nodes["address"], tmp_path / "curate"
    stats = out / "stats" / "filter"
    proc = subprocess.Popen(_cmd("curate", corpus, out, address), cwd=REPO, env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.time() + 300
        while time.time() < deadline and len(list(stats.glob("*.json"))) < 2 and proc.poll() is None:
            time.sleep(0.1)
        raylets = _pids_with(str(two_nodes["second"]), "raylet")
        assert raylets, "no raylet of the second node"
        assert any("MapWorker" in w for w in _children(raylets[0])), "no filter actor on the second node"
        for pid in raylets:
            os.kill(pid, signal.SIGKILL)
        finished_at_kill = len(list(stats.glob("*.json")))
        assert 2 <= finished_at_kill < 12, "the kill should land mid-run"
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    if proc.returncode != 0:  # stopped: one clear line, then the same command finishes it
        last = err.strip().splitlines()[-1]
        assert re.match(r"^error: (?!internal error)", last), err[-3000:]
        assert "Traceback" not in err
        done = {p.name: p.stat().st_mtime_ns for p in stats.glob("*.json")}
        _run("curate", corpus, out, address)
        assert {p.name: p.stat().st_mtime_ns for p in stats.glob("*.json") if p.name in done} == done
        print(f"stopped after the node loss ({last}); the rerun finished it")
    else:
        print("completed despite the node loss")
    assert stage_outputs(out) == stage_outputs(one_node["curate"])
    assert _nodes_alive(address) == 1
