"""The `openai` backend against a real server process on 127.0.0.1 (tests/fake_openai_server.py) that injects
faults: 5xx, 429, slow answers past the timeout, malformed and truncated bodies, dropped connections, a kill and
restart mid-run. Nothing is lost, usage and retries are counted, and a resumed run sends only what is missing."""
from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from generators.backends.base import Request, SamplingParams, request_key
from generators.backends.openai import OpenAIConfig, OpenAITeacher



def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


SERVER = Path(__file__).with_name("fake_openai_server.py")
SCHEMA = {"title": "Answer", "type": "object", "properties": {"answer": {"type": "integer"},
                                                               "echo": {"type": "string"}},
          "required": ["answer", "echo"]}


class Server:
    def __init__(self, tmp: Path, *args: str):
        self.port, self.log, self.args, self.proc = free_port(), tmp / "server.jsonl", args, None

    def start(self) -> "Server":
        self.proc = subprocess.Popen([sys.executable, str(SERVER), "--port", str(self.port), "--log", str(self.log),
                                      "--guided-seen", *self.args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True)
        line = self.proc.stdout.readline()
        assert "listening" in line, line
        return self

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)

    def rows(self) -> list[dict]:
        if not self.log.exists():
            return []
        out = []
        for line in self.log.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                pass
        return out

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"


@pytest.fixture
def server_factory(tmp_path):
    servers = []

    def make(*args: str) -> Server:
        s = Server(tmp_path / f"s{len(servers)}", *args)
        s.log.parent.mkdir(exist_ok=True)
        servers.append(s)
        return s.start()

    yield make
    for s in servers:
        s.stop()


def _requests(n: int, schema_every: int = 2, tag: str = "") -> list[Request]:
    out = []
    for i in range(n):
        msgs = [{"role": "user", "content": f"question {tag}{i}: what is {i} plus {i}?"}]
        params = SamplingParams(temperature=0.0, max_tokens=32, seed=i)
        schema = SCHEMA if i % schema_every == 0 else None
        out.append(Request(key=request_key(msgs, "fake", params, schema, "v1"), messages=msgs, params=params,
                           schema=schema))
    return out


def _cfg(server: Server, **kw) -> OpenAIConfig:
    base = dict(base_url=server.url, model="fake", api_key_env=None, concurrency=8, timeout_s=1.0,
                max_attempts=6, backoff_base_s=0.05, backoff_max_s=0.5)
    return OpenAIConfig(**{**base, **kw})


def _prompt_id(req: Request, chat: bool = True) -> str:
    import hashlib

    prompt = json.dumps(req.messages, sort_keys=True) if chat else req.messages[0]["content"]
    return hashlib.sha256(prompt.encode()).hexdigest()[:16]


def test_every_fault_kind_is_retried_and_nothing_is_lost(server_factory):
    server = server_factory("--fault-rate", "0.7", "--fail-first", "2", "--slow-s", "2.5")
    reqs = _requests(48)
    teacher = OpenAITeacher(_cfg(server))
    t0 = time.perf_counter()
    out = teacher.generate(reqs)
    wall = time.perf_counter() - t0
    assert [r.key for r in out] == [r.key for r in reqs]
    assert all(r.ok for r in out), [r.error for r in out if not r.ok]
    rows = server.rows()
    by_prompt = defaultdict(list)
    for row in rows:
        by_prompt[row["prompt"]].append(row["outcome"])
    faults_seen = Counter(o for outcomes in by_prompt.values() for o in outcomes if o != "ok")
    # every injected kind was hit (48 prompts, 70% faulty, 8 kinds)
    assert set(faults_seen) >= {"500", "503", "429", "slow", "malformed", "truncated", "drop", "empty"}, faults_seen
    for req, resp in zip(reqs, out):
        outcomes = by_prompt[_prompt_id(req)]
        assert outcomes.count("ok") == 1                       # answered once, never re-sent after success
        # each failed attempt is a retry (plus, rarely, one the server never logged: see `stale` below)
        assert resp.retries >= len(outcomes) - 1
        if req.schema is not None:
            assert set(json.loads(resp.text)) == {"answer", "echo"}
        else:
            assert resp.text.startswith("reply: ")
        assert resp.prompt_tokens > 0 and resp.completion_tokens > 0
    u = teacher.usage.as_dict()
    assert u["requests"] == u["ok"] == 48 and u["failed"] == 0
    assert u["retries"] == sum(r.retries for r in out)
    # attempts the server never logged (a stale keep-alive connection, an answer slower than the timeout under
    # load) can only be transport failures
    stale = u["retries"] - sum(faults_seen.values())
    transport = u["retry_reasons"].get("timeout", 0) + u["retry_reasons"].get("connection", 0)
    assert 0 <= stale <= transport - faults_seen["slow"] - faults_seen["drop"], (u["retry_reasons"], faults_seen)
    assert u["prompt_tokens"] == sum(r.prompt_tokens for r in out)
    # client-side names of the fault kinds
    assert {"http_500", "http_503", "http_429", "timeout", "malformed_body"} <= set(u["retry_reasons"])
    assert u["retry_reasons"].get("connection", 0) >= 1        # drop
    assert wall < 40
    ok_schema = {r["prompt"]: r["schema"] for r in rows if r["outcome"] == "ok"}
    assert all(ok_schema[_prompt_id(q)] == (q.schema is not None) for q in reqs)


def test_server_killed_mid_run_and_restarted(server_factory):
    server = server_factory("--delay-s", "0.05")
    reqs = _requests(80)
    teacher = OpenAITeacher(_cfg(server, concurrency=4, max_attempts=10, backoff_base_s=0.2, backoff_max_s=1.5))
    box = {}
    th = threading.Thread(target=lambda: box.update(out=teacher.generate(reqs)))
    th.start()
    deadline = time.time() + 30
    while len(server.rows()) < 15 and time.time() < deadline:
        time.sleep(0.02)
    server.kill()                       # in-flight requests die with the process
    served_before = len(server.rows())
    assert served_before < 80
    time.sleep(1.5)
    server.start()                      # same port, same log
    th.join(60)
    assert not th.is_alive()
    out = box["out"]
    assert all(r.ok for r in out), Counter(r.error for r in out if not r.ok)
    ok_prompts = {r["prompt"] for r in server.rows() if r["outcome"] == "ok"}
    assert ok_prompts == {_prompt_id(r) for r in reqs}
    assert teacher.usage.retries >= 1 and teacher.usage.retry_reasons["connection"] >= 1


def test_attempts_are_bounded_and_4xx_is_not_retried(server_factory, monkeypatch):
    server = server_factory("--fault-rate", "1", "--faults", "503", "--fail-first", "100")
    reqs = _requests(6)
    teacher = OpenAITeacher(_cfg(server, max_attempts=3))
    out = teacher.generate(reqs)
    assert all(not r.ok and r.error.startswith("http_503") and r.retries == 2 for r in out)
    assert len(server.rows()) == 6 * 3
    assert teacher.usage.as_dict()["errors"] == {"http_503": 6}

    keyed = server_factory("--require-key", "s3cret-key")
    out = OpenAITeacher(_cfg(keyed)).generate(reqs[:2])            # no key: 401, one attempt each
    assert all(r.error.startswith("http_401") and r.retries == 0 for r in out)
    assert len(keyed.rows()) == 0
    monkeypatch.setenv("ASSAY_TEST_KEY", "s3cret-key")
    cfg = _cfg(keyed, api_key_env="ASSAY_TEST_KEY")
    teacher = OpenAITeacher(cfg)
    assert all(r.ok for r in teacher.generate(reqs[:2]))
    # the key is nowhere in the config dump or the reprs
    assert "s3cret" not in json.dumps(cfg.model_dump()) + repr(cfg) + repr(teacher) + str(teacher.usage.as_dict())


def test_structured_output_uses_response_format_never_guided(server_factory, tmp_path):
    server = server_factory()
    teacher = OpenAITeacher(_cfg(server))
    body = teacher._body(_requests(1)[0], "chat")
    assert body["response_format"] == {"type": "json_schema", "json_schema": {"name": "Answer", "schema": SCHEMA}}
    assert not any(k.startswith("guided") for k in body)
    alt = OpenAITeacher(_cfg(server, structured_output="structured_outputs"))._body(_requests(1)[0], "completions")
    assert alt["structured_outputs"] == {"json": SCHEMA} and "prompt" in alt and "messages" not in alt
    out = teacher.generate(_requests(4, schema_every=1))
    assert all(r.ok and json.loads(r.text)["answer"] >= 0 for r in out)   # (the server 422s any guided_* field)


def test_auto_endpoint_falls_back_to_completions(server_factory):
    server = server_factory("--no-chat-template")
    reqs = _requests(5)
    assert all(r.error.startswith("no_chat_template") for r in OpenAITeacher(_cfg(server)).generate(reqs))
    auto = OpenAITeacher(_cfg(server, endpoint="auto"))
    out = auto.generate(reqs)
    assert all(r.ok and r.retries == 0 for r in out)
    assert out[1].text == "reply: " + reqs[1].messages[0]["content"][:40]   # plain prompt = the user message


def test_sync_facade_inside_a_running_loop(server_factory):
    server = server_factory()
    teacher = OpenAITeacher(_cfg(server))

    async def caller():
        return teacher.generate(_requests(3)), await teacher.agenerate(_requests(2, tag="b"))

    a, b = asyncio.run(caller())
    assert len(a) == 3 and len(b) == 2 and all(r.ok for r in a + b)
    assert teacher.wait_ready(timeout_s=5)


def _cached_run(teacher, reqs, cache) -> list:
    """What the generate stage does: look up, send only the misses, store the successes."""
    hits = cache.get_many([r.key for r in reqs])
    fresh = {r.key: r for r in teacher.generate([r for r in reqs if r.key not in hits])}
    cache.put_many(fresh.values())
    return [hits.get(r.key) or fresh[r.key] for r in reqs]


def test_resumed_run_completes_without_resending(server_factory, tmp_path):
    # run 1 loses its server for good part-way through; run 2 (server back) sends only what is missing
    from generators.cache import CompletionCache

    server = server_factory("--delay-s", "0.05")
    reqs = _requests(40)
    cache = CompletionCache(tmp_path / "cache.sqlite")
    first = OpenAITeacher(_cfg(server, concurrency=4, max_attempts=2, backoff_base_s=0.01, backoff_max_s=0.02))
    box = {}
    th = threading.Thread(target=lambda: box.update(out=_cached_run(first, reqs, cache)))
    th.start()
    while len(server.rows()) < 12:
        time.sleep(0.02)
    server.kill()
    th.join(60)
    done_first = {r.key for r in box["out"] if r.ok}
    assert 0 < len(done_first) < 40 and first.usage.failed == 40 - len(done_first)
    rows_before = len(server.rows())
    server.start()
    second = OpenAITeacher(_cfg(server))
    out = _cached_run(second, reqs, cache)
    assert all(r.ok for r in out)
    assert second.usage.requests == 40 - len(done_first)            # only the misses were sent
    new_prompts = [r["prompt"] for r in server.rows()[rows_before:]]
    assert not set(new_prompts) & {_prompt_id(r) for r in reqs if r.key in done_first}
    assert {r.key for r in out if r.cached} == done_first
    assert all(r.prompt_tokens > 0 for r in out)                     # usage survives the cache
    # a third run sends nothing
    third = OpenAITeacher(_cfg(server))
    assert all(r.ok and r.cached for r in _cached_run(third, reqs, cache)) and third.usage.requests == 0
    assert len(cache) == 40
    cache.close()
