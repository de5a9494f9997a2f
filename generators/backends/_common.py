"""Small helpers shared by the model-backed teacher backends (stdlib only, importable in any venv)."""
from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path

from .base import Request, Response, SamplingParams


def render_plain_prompt(messages: list[dict[str, str]]) -> str:
    """A prompt for a model without a chat template (or a plain-completions endpoint).

    One user message is sent as it is; anything else becomes role-tagged turns ending with an assistant prefix,
    the same layout as the `chat_template.jinja` written by `assay train`'s export ("User: ...\\n\\nAssistant:").
    """
    if len(messages) == 1 and messages[0].get("role") == "user":
        return messages[0]["content"]
    parts = [f"{m['role'].capitalize()}: {m['content']}" for m in messages]
    return "\n\n".join(parts) + "\n\nAssistant:"


def schema_name(schema: dict) -> str:
    """The `name` OpenAI's json_schema response format requires: the schema's title, sanitised, or "output"."""
    name = re.sub(r"[^A-Za-z0-9_-]", "_", str(schema.get("title") or "output"))[:64]
    return name or "output"


def find_chat_template(model_dir: str | Path) -> str | None:
    """The chat template a local HF model dir carries (`chat_template.jinja`, or `chat_template` in
    `tokenizer_config.json`), or None. Non-local model names return None (the engine decides)."""
    d = Path(model_dir)
    if not d.is_dir():
        return None
    if (d / "chat_template.jinja").is_file():
        return (d / "chat_template.jinja").read_text()
    cfg = d / "tokenizer_config.json"
    if cfg.is_file():
        try:
            tpl = json.loads(cfg.read_text()).get("chat_template")
        except (OSError, ValueError):
            return None
        if isinstance(tpl, str):
            return tpl
        if isinstance(tpl, list):  # named templates: take "default"
            for t in tpl:
                if isinstance(t, dict) and t.get("name") == "default":
                    return t.get("template")
    return None


def request_to_dict(r: Request) -> dict:
    return {"key": r.key, "messages": r.messages, "params": r.params.model_dump(mode="json"), "schema": r.schema,
            "meta": r.meta}


def request_from_dict(d: dict) -> Request:
    return Request(key=d["key"], messages=d["messages"], params=SamplingParams(**d["params"]),
                   schema=d.get("schema"), meta=d.get("meta") or {})


def response_to_dict(r: Response) -> dict:
    return {"key": r.key, "text": r.text, "error": r.error, "prompt_tokens": r.prompt_tokens,
            "completion_tokens": r.completion_tokens, "retries": r.retries, "retry_reasons": list(r.retry_reasons),
            "cached": r.cached}


def response_from_dict(d: dict) -> Response:
    return Response(key=d["key"], text=d.get("text"), error=d.get("error"),
                    prompt_tokens=int(d.get("prompt_tokens", 0)),
                    completion_tokens=int(d.get("completion_tokens", 0)), retries=int(d.get("retries", 0)),
                    retry_reasons=tuple(d.get("retry_reasons") or ()), cached=bool(d.get("cached", False)))


@dataclass
class Usage:
    """The one usage tally: running totals over responses, kept by each backend instance (what it sent) and by
    `generators.complete.Completer` (what a run asked for: cache hits included, plus outputs retried with a new
    seed), summed over shards into the generate manifest. Counts travel on each response (`Response.retries`,
    `Response.retry_reasons`), so every tally of the same responses agrees."""

    requests: int = 0                          # responses counted (cache hits included)
    cache_hits: int = 0                        # served from the completion cache (no tokens, nothing sent)
    sent: int = 0                              # answered by the teacher (successes and final failures)
    ok: int = 0
    failed: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0                           # transient failures retried inside the backend
    retried_outputs: int = 0                   # unusable outputs re-requested with a new seed (the task protocol)
    wall_s: float = 0.0                        # time spent waiting for the teacher
    errors: Counter = field(default_factory=Counter)  # failure kind -> count (final failures)
    retry_reasons: Counter = field(default_factory=Counter)  # transient failure kind -> count (retried)

    def add(self, responses: list[Response], wall_s: float = 0.0) -> None:
        self.wall_s += wall_s
        for r in responses:
            self.requests += 1
            if r.cached:
                self.cache_hits += 1
                continue
            self.sent += 1
            self.prompt_tokens += r.prompt_tokens
            self.completion_tokens += r.completion_tokens
            self.retries += r.retries
            self.retry_reasons.update(r.retry_reasons)
            if r.ok:
                self.ok += 1
            else:
                self.failed += 1
                self.errors[error_kind(r.error)] += 1

    def __add__(self, other: "Usage") -> "Usage":
        out = Usage()
        for f in fields(Usage):
            a, b = getattr(self, f.name), getattr(other, f.name)
            setattr(out, f.name, a + b if not isinstance(a, Counter) else Counter(a) + Counter(b))
        return out

    def to_json(self) -> dict:
        """Every field, losslessly (for shard stats; `from_json` reads it back)."""
        return {f.name: dict(v) if isinstance(v := getattr(self, f.name), Counter) else v for f in fields(Usage)}

    @classmethod
    def from_json(cls, d: dict | None) -> "Usage":
        d = d or {}
        return cls(**{f.name: Counter(d[f.name]) if f.name in ("errors", "retry_reasons") else d[f.name]
                      for f in fields(Usage) if f.name in d})

    def as_dict(self) -> dict:
        """For a manifest or a report: the totals, tokens per second of teacher time, failures and retries by
        kind."""
        tps = self.completion_tokens / self.wall_s if self.wall_s > 0 else 0.0
        return {**self.to_json(), "wall_s": round(self.wall_s, 3), "completion_tokens_per_s": round(tps, 1),
                "errors": dict(sorted(self.errors.items())), "retry_reasons": dict(sorted(self.retry_reasons.items()))}


def error_kind(error: str | None) -> str:
    """The kind of an error string ("http_503: ..." -> "http_503")."""
    return (error or "unknown").split(":", 1)[0].strip() or "unknown"


def failed(key: str, kind: str, detail: str = "", retries: int = 0, retry_reasons: tuple[str, ...] = ()) -> Response:
    msg = f"{kind}: {detail}" if detail else kind
    return Response(key=key, text=None, error=msg[:500], retries=retries, retry_reasons=retry_reasons)
