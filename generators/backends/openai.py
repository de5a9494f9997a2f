"""`kind: openai` — any OpenAI-compatible endpoint (`vllm serve`, another server, a hosted API).

An asyncio client (aiohttp, imported when the first batch is sent) with bounded concurrency, a timeout per attempt,
and retries with capped exponential backoff and full jitter on 429, 5xx, 408, connection errors, timeouts and
unreadable bodies, up to `max_attempts` attempts per request (a `Retry-After` header is honoured within
`backoff_max_s`). Other 4xx answers are not retried. Every request comes back as one `Response`, in order; a request
that still fails has `error` set ("http_503: ...", "timeout", "connection: ...", "malformed_body: ...", ...).

Structured output is sent as `response_format={"type": "json_schema", "json_schema": {"name", "schema"}}`, which
vLLM's server and OpenAI both read (the removed `guided_*` fields are never sent: vLLM answers 200 to them and
constrains nothing). The API key is read from the environment variable named by `api_key_env` when the backend is
built; it is held outside the config, so it is never in a config dump, log line or manifest.

    teacher = OpenAITeacher(OpenAIConfig(base_url="http://127.0.0.1:8000/v1", model="teacher"))
    responses = teacher.generate(requests)       # sync facade; `await teacher.agenerate(requests)` inside a loop
    teacher.usage.as_dict()                      # requests, ok, failed, tokens, retries and errors by kind
"""
from __future__ import annotations

import asyncio
import json
import logging
import os
import random
import threading
import time
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ._common import Usage, failed, render_plain_prompt, schema_name
from .base import Request, Response

log = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 425, 429})  # plus every 5xx


class OpenAIConfig(BaseModel):
    """An OpenAI-compatible endpoint. `model` is the name the server serves (`--served-model-name`)."""

    model_config = ConfigDict(extra="forbid")
    kind: Literal["openai"] = "openai"
    base_url: str = Field("http://127.0.0.1:8000/v1", description="up to and including /v1")
    model: str
    api_key_env: str | None = Field("OPENAI_API_KEY", description="environment variable holding the API key "
                                    "(unset or empty: no Authorization header, as for a local vllm serve)")
    endpoint: Literal["chat", "completions", "auto"] = Field(
        "chat", description="chat: /chat/completions; completions: /completions with the messages rendered as "
        "plain text (models without a chat template); auto: chat, switching to completions for the rest of the "
        "run when the server answers 400 for a missing chat template")
    concurrency: int = Field(16, ge=1, description="requests in flight at once")
    timeout_s: float = Field(120.0, gt=0, description="per attempt, whole request")
    connect_timeout_s: float = Field(10.0, gt=0)
    max_attempts: int = Field(6, ge=1, description="attempts per request, the first included")
    backoff_base_s: float = Field(0.5, ge=0, description="first retry waits up to this (full jitter), doubling")
    backoff_max_s: float = Field(20.0, ge=0, description="cap on one wait (also on Retry-After)")
    trust_env: bool = Field(False, description="use HTTP(S)_PROXY/NO_PROXY from the environment (off: connect "
                            "directly, so a proxy setting never captures 127.0.0.1)")
    structured_output: Literal["response_format", "structured_outputs"] = Field(
        "response_format", description="how a request's JSON schema is sent: OpenAI's response_format "
        "json_schema (vLLM and OpenAI), or vLLM's own `structured_outputs: {json: schema}` body field")


class _Attempt(Exception):
    """One failed attempt: `kind` names it, `retry` says whether another attempt may succeed."""

    def __init__(self, kind: str, detail: str = "", retry: bool = True, wait: float | None = None):
        super().__init__(f"{kind}: {detail}")
        self.kind, self.detail, self.retry, self.wait = kind, detail, retry, wait


class OpenAITeacher:
    """The `openai` backend: `generate(requests) -> list[Response]`, one per request, in order, never raising."""

    def __init__(self, cfg: OpenAIConfig, *, rng: random.Random | None = None):
        self.cfg = cfg
        self.model_name = cfg.model
        self.usage = Usage()
        self._api_key = os.environ.get(cfg.api_key_env, "") if cfg.api_key_env else ""
        self._endpoint = "chat" if cfg.endpoint == "auto" else cfg.endpoint
        self._rng = rng or random.Random()
        self._lock = threading.Lock()

    def __repr__(self) -> str:  # never shows the key
        return f"OpenAITeacher(base_url={self.cfg.base_url!r}, model={self.cfg.model!r})"

    # ---- public API -------------------------------------------------------------------------------------------
    def generate(self, requests: list[Request]) -> list[Response]:
        """Sync facade over `agenerate` (runs its own event loop; in a thread when one is already running)."""
        if not requests:
            return []
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.agenerate(requests))
        box: list = []
        t = threading.Thread(target=lambda: box.append(asyncio.run(self.agenerate(requests))), daemon=True)
        t.start()
        t.join()
        return box[0]

    async def agenerate(self, requests: list[Request]) -> list[Response]:
        import aiohttp

        t0 = time.perf_counter()
        timeout = aiohttp.ClientTimeout(total=self.cfg.timeout_s, sock_connect=self.cfg.connect_timeout_s)
        connector = aiohttp.TCPConnector(limit=self.cfg.concurrency, force_close=False)
        sem = asyncio.Semaphore(self.cfg.concurrency)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector, headers=self._headers(),
                                         trust_env=self.cfg.trust_env) as session:
            async def one(req: Request) -> Response:
                async with sem:
                    try:
                        return await self._with_retries(session, req)
                    except Exception as e:  # never raise for one item
                        log.exception("unexpected error for request %s", req.key[:12])
                        return failed(req.key, "client_error", f"{type(e).__name__}: {e}")

            out = list(await asyncio.gather(*(one(r) for r in requests)))
        with self._lock:
            self.usage.add(out, time.perf_counter() - t0)
        return out

    def wait_ready(self, timeout_s: float = 120.0, interval_s: float = 0.5) -> bool:
        """Poll `GET {base_url}/models` until it answers 200 (a server starting up); False on timeout."""
        import urllib.request

        deadline = time.monotonic() + timeout_s
        req = urllib.request.Request(self.cfg.base_url.rstrip("/") + "/models", headers=self._headers())
        opener = (urllib.request.build_opener() if self.cfg.trust_env
                  else urllib.request.build_opener(urllib.request.ProxyHandler({})))
        while time.monotonic() < deadline:
            try:
                with opener.open(req, timeout=5) as r:
                    if r.status == 200:
                        return True
            except Exception:
                pass
            time.sleep(interval_s)
        return False

    def close(self) -> None:
        """Nothing persistent to release (each `generate` call opens and closes its own session)."""

    # ---- internals --------------------------------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        h = {"Content-Type": "application/json"}
        if self._api_key:
            h["Authorization"] = f"Bearer {self._api_key}"
        return h

    def _body(self, req: Request, endpoint: str) -> dict:
        p = req.params
        body: dict = {"model": self.cfg.model, "temperature": p.temperature, "top_p": p.top_p,
                      "max_tokens": p.max_tokens, "n": 1}
        if p.seed is not None:
            body["seed"] = p.seed
        if p.stop:
            body["stop"] = list(p.stop)
        if endpoint == "chat":
            body["messages"] = req.messages
        else:
            body["prompt"] = render_plain_prompt(req.messages)
        if req.schema is not None:
            if self.cfg.structured_output == "response_format":
                body["response_format"] = {"type": "json_schema",
                                           "json_schema": {"name": schema_name(req.schema), "schema": req.schema}}
            else:
                body["structured_outputs"] = {"json": req.schema}
        return body

    async def _with_retries(self, session, req: Request) -> Response:
        reasons: list[str] = []  # the kind of each failed attempt that was retried
        while True:
            endpoint = self._endpoint
            try:
                return await self._attempt(session, req, endpoint, tuple(reasons))
            except _Attempt as e:
                if e.kind == "no_chat_template" and self.cfg.endpoint == "auto" and endpoint == "chat":
                    self._endpoint = "completions"  # the whole run switches; this is not a retry
                    continue
                if not e.retry or len(reasons) + 1 >= self.cfg.max_attempts:
                    return failed(req.key, e.kind, e.detail, len(reasons), tuple(reasons))
                delay = self._backoff(len(reasons), e.wait)
                log.debug("request %s: %s, retry %d in %.2fs", req.key[:12], e.kind, len(reasons) + 1, delay)
                reasons.append(e.kind)
                await asyncio.sleep(delay)

    def _backoff(self, retries: int, retry_after: float | None) -> float:
        cap = min(self.cfg.backoff_max_s, self.cfg.backoff_base_s * (2 ** retries))
        delay = self._rng.uniform(0, cap)  # full jitter
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.cfg.backoff_max_s))
        return delay

    async def _attempt(self, session, req: Request, endpoint: str, retried: tuple[str, ...]) -> Response:
        import aiohttp

        path = "/chat/completions" if endpoint == "chat" else "/completions"
        url = self.cfg.base_url.rstrip("/") + path
        try:
            async with session.post(url, json=self._body(req, endpoint)) as resp:
                raw = await resp.read()
                status = resp.status
                retry_after = _retry_after(resp.headers.get("Retry-After"))
        except asyncio.TimeoutError:
            raise _Attempt("timeout", f"no complete answer in {self.cfg.timeout_s}s")
        except aiohttp.ClientPayloadError as e:
            raise _Attempt("malformed_body", f"truncated body: {e}")
        except aiohttp.ClientError as e:  # connection refused/reset, server disconnected, ...
            raise _Attempt("connection", f"{type(e).__name__}: {e}")
        if status != 200:
            detail = raw[:300].decode("utf-8", "replace")
            if status == 400 and "chat template" in detail.lower().replace("_", " "):
                raise _Attempt("no_chat_template", detail, retry=False)
            retry = status in RETRY_STATUS or status >= 500
            raise _Attempt(f"http_{status}", detail, retry=retry, wait=retry_after)
        try:
            data = json.loads(raw)
            choice = data["choices"][0]
            text = choice["message"]["content"] if endpoint == "chat" else choice["text"]
            if not isinstance(text, str):
                raise TypeError(f"content is {type(text).__name__}")
        except (ValueError, KeyError, IndexError, TypeError) as e:
            raise _Attempt("malformed_body", f"{type(e).__name__}: {e}: {raw[:120]!r}")
        usage = data.get("usage") or {}
        return Response(key=req.key, text=text, prompt_tokens=int(usage.get("prompt_tokens") or 0),
                        completion_tokens=int(usage.get("completion_tokens") or 0), retries=len(retried),
                        retry_reasons=retried)


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
