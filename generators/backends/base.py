"""The one interface every teacher backend implements (distilabel's Task/LLM split).

A `Request` carries chat messages, sampling parameters and, optionally, a JSON schema the completion must follow
(structured output). A backend turns a list of requests into one `Response` per request, in order, and never raises
for a single bad item: a failed request comes back with `error` set (and `text` None) so the caller can count and
quarantine it. Usage counts (prompt/completion tokens, retries and their reasons) travel on each response.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field


class SamplingParams(BaseModel):
    """Sampling parameters shared by every backend (each maps them onto its own API)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    temperature: float = Field(0.7, ge=0)
    top_p: float = Field(0.95, gt=0, le=1)
    max_tokens: int = Field(1024, ge=1)
    seed: int | None = Field(0, description="per-request seed (None: backend default)")
    stop: tuple[str, ...] = ()


@dataclass(frozen=True)
class Request:
    key: str                                  # content-addressed cache key (see `request_key`)
    messages: list[dict[str, str]]            # [{"role": "user", "content": ...}, ...]
    params: SamplingParams
    schema: dict | None = None                # JSON schema for structured output
    meta: dict[str, Any] = field(default_factory=dict)  # task/style/audience/seed info (the procedural backend reads it)


@dataclass(frozen=True)
class Response:
    key: str
    text: str | None                          # None when the request failed
    error: str | None = None                  # short reason when it failed
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0
    retry_reasons: tuple[str, ...] = ()       # the kind of each transient failure retried (len == retries)
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.text is not None and self.error is None


@runtime_checkable
class Teacher(Protocol):
    """A backend: `generate` returns one Response per Request, in order, never raising for a single item."""

    model_name: str

    def generate(self, requests: list[Request]) -> list[Response]: ...

    def close(self) -> None: ...


def request_key(messages: list[dict[str, str]], model: str, params: SamplingParams, schema: dict | None,
                task_version: str) -> str:
    """Content address of a request: the same prompt, model, sampling parameters and task version give the same
    key, so a repeated or restarted run never re-sends a completed request."""
    blob = json.dumps({"messages": messages, "model": model, "params": params.model_dump(mode="json"),
                       "schema": schema, "task_version": task_version}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode()).hexdigest()
