"""The task contract: seed document -> `Request`s (`format_input`); `Response` -> kept rows and rejects
(`format_output`, which parses and verifies). Plain Python: no Ray, no `pipeline/` imports.

Protocol for the stage (per request):
1. ``reqs = task.format_input(doc, model=teacher.model_name)``; look the keys up in the cache; send the misses.
2. ``out = task.format_output(req, resp)``. `Outcome.rows` are kept rows, `Outcome.rejects` removed items (each with
   ``reason`` and ``detail``). When the whole response is unusable, `Outcome.error` says why and there are no rows.
3. If ``out.retryable`` (``malformed_json`` or ``schema_mismatch``), ``task.retry_request(req)`` gives ONE new
   request (another sampling seed and its own cache key); send it and call `format_output` on its response. When
   that fails too (``retry_request`` returns None once the attempts are spent), quarantine the last response
   under ``out.error``. ``request_failed`` (the backend gave no text) is not retried here: backends retry
   transport errors themselves.
Conservation: every request ends as an error, or as items (rows + rejects); exercise sets give several items per
request, the other tasks one.

Minimum length: Cosmopedia drops completions under 150 tokens (Mixtral tokenizer). assay counts whitespace words
(``len(text.split())``), independent of any tokenizer; English prose averages ~1.35 BPE tokens per word, so the
default ``min_words=110`` approximates 150 tokens. Prose tasks apply it to the whole text; exercise sets to each
exercise's question + solution (default 15 words).

Style and audience choice per seed is deterministic: `random.Random` seeded with ``"<seed>|<task>|<seed_id>"``
(string seeds hash with SHA-512, stable across processes and Python runs).
"""
from __future__ import annotations

import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from generators.backends.base import Request, Response, SamplingParams, request_key
from generators.prompts import PromptTemplate, load_audiences, load_template, make_extract
from generators.tasks.schema import check_supported

Audience = Literal["young_children", "high_school", "college", "professionals"]
AUDIENCES: tuple[str, ...] = ("young_children", "high_school", "college", "professionals")

# Reject / error reasons (the stage counts them; rows in rejects/ carry them).
REQUEST_FAILED = "request_failed"
MALFORMED_JSON = "malformed_json"
SCHEMA_MISMATCH = "schema_mismatch"
TOO_SHORT = "too_short"
RETRYABLE = frozenset({MALFORMED_JSON, SCHEMA_MISMATCH})

# Every row (kept or rejected) has exactly these keys, so batches of mixed tasks share one Arrow schema.
ROW_FIELDS = ("id", "text", "seed_id", "task", "style", "audience", "verified", "kind", "question", "answer",
              "check", "score", "rationale", "task_version", "request_key")
REJECT_FIELDS = ROW_FIELDS + ("reason", "detail")

STOPWORDS = frozenset("""
a about above after again against all also although always am among an and another any anyone are around as at
be because been before being below between both but by can cannot could did do does doing done down during each
either else enough even ever every few for from further get gets getting give given gives go goes going got had has
have having he her here hers herself him himself his how however i if in into is it its itself just know known last
least less let like made make makes many may me might more most much must my myself near need never new next no nor
not now of off often on once one only onto or other others otherwise our ours ourselves out over own part per
perhaps put rather really said same say says see seen several shall she should since so some something still such
take taken than that the their theirs them themselves then there therefore these they thing things this those
though through thus to together too toward towards under until up upon us use used uses using very via was way we
well were what whatever when where whether which while who whom whose why will with within without would yet you
your yours yourself yourselves first second third two three four five six seven eight nine ten back time times
year years day days also within across along already around called could include including includes
""".split())
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*[A-Za-z]")


class TaskConfig(BaseModel):
    """Settings every task shares."""

    model_config = ConfigDict(extra="forbid")
    prompt_version: int = Field(1, ge=1, description="version of the prompt template file")
    extract_chars: int = Field(1000, ge=100, description="seed extract length (Cosmopedia: 1000)")
    max_topics: int = Field(8, ge=1, description="topic words passed to the backend in Request.meta")
    seed: int = Field(0, description="seeds the per-document choice of audiences")
    params: SamplingParams = Field(default_factory=SamplingParams)
    max_attempts: int = Field(2, ge=1, le=5, description="tries per request for malformed output (1 + retries)")


class StyledTaskConfig(TaskConfig):
    """Settings of generation tasks (a style crossed with audiences)."""

    audiences: list[Audience] = Field(default_factory=lambda: list(AUDIENCES), min_length=1)
    per_seed: int = Field(1, ge=1, le=4, description="distinct audiences per seed document")
    min_words: int = Field(110, ge=0, description="minimum whitespace words of a kept text (~150 tokens)")


@dataclass
class Outcome:
    """What one response became: kept rows, rejected items, or (no items) a response-level error."""

    rows: list[dict] = field(default_factory=list)
    rejects: list[dict] = field(default_factory=list)
    error: str | None = None
    detail: str = ""

    @property
    def retryable(self) -> bool:
        return self.error in RETRYABLE


def topic_words(text: str, k: int = 8) -> list[str]:
    """The `k` most frequent content words of a text (lower-cased, >= 4 letters, no stop words); ties keep the
    order of first appearance."""
    words = [w.lower() for w in _WORD.findall(text)]
    counts = Counter(w for w in words if len(w) >= 4 and w not in STOPWORDS)
    first = {w: i for i, w in reversed(list(enumerate(words)))}
    return sorted(counts, key=lambda w: (-counts[w], first[w]))[:k]


def parse_json_text(text: str) -> Any:
    """JSON from a completion: the text itself, else inside a ```json fence, else from the first '{' to the last
    '}' (chat models without structured output wrap JSON in prose). Raises ValueError when none parses."""
    s = text.strip()
    candidates = [s]
    fence = re.search(r"```(?:json)?\s*(.*?)```", s, re.S)
    if fence:
        candidates.append(fence.group(1).strip())
    if "{" in s and "}" in s:
        candidates.append(s[s.index("{"): s.rindex("}") + 1])
    for c in candidates:
        try:
            return json.loads(c)
        except ValueError:
            continue
    raise ValueError("no JSON object in the completion")


def word_count(text: str | None) -> int:
    return len(text.split()) if text else 0


class Task:
    """Base of every task: prompt rendering, deterministic audiences, cache keys, retries, row layout."""

    name: ClassVar[str]
    styled: ClassVar[bool] = True

    def __init__(self, config: TaskConfig):
        self.config = config
        self.template: PromptTemplate = load_template(self.name, config.prompt_version)
        if self.template.schema is not None:
            check_supported(self.template.schema)

    @property
    def version(self) -> str:
        return self.template.task_version

    @property
    def schema(self) -> dict | None:
        return self.template.schema

    # -- input -------------------------------------------------------------------------------------------------
    def audiences_for(self, seed_id: str) -> list[str | None]:
        if not self.styled:
            return [None]
        cfg: StyledTaskConfig = self.config  # type: ignore[assignment]
        rng = random.Random(f"{cfg.seed}|{self.name}|{seed_id}")
        return rng.sample(list(cfg.audiences), min(cfg.per_seed, len(cfg.audiences)))

    def render_fields(self, extract: str, audience: str | None) -> dict:
        """Template fields beyond the extract and audience (subclasses add theirs)."""
        return {}

    def meta_fields(self) -> dict:
        """Extra `Request.meta` entries for backends (subclasses add theirs)."""
        return {}

    def format_input(self, doc: dict, model: str) -> list[Request]:
        """Requests for one seed document ``{"id", "text"}``: one per chosen audience; none for a blank text."""
        if not isinstance(doc, dict) or "id" not in doc or "text" not in doc:
            raise ValueError("a seed document is a dict with 'id' and 'text'")
        seed_id, text = str(doc["id"]), doc["text"] or ""
        extract = make_extract(text, self.config.extract_chars)
        if not extract:
            return []
        topics = topic_words(extract, self.config.max_topics)
        audiences = load_audiences()
        out = []
        for audience in self.audiences_for(seed_id):
            values = {"extract": extract, "audience": audiences[audience] if audience else "",
                      **self.render_fields(extract, audience)}
            messages = [{"role": "user", "content": self.template.render(**values)}]
            meta = {"task": self.name, "style": self.name if self.styled else None, "audience": audience,
                    "seed_id": seed_id, "topics": topics, "extract": extract, "model": model,
                    "task_version": self.version, "attempt": 0, **self.meta_fields()}
            out.append(self._request(messages, meta))
        return out

    def _request(self, messages: list[dict], meta: dict) -> Request:
        attempt = meta["attempt"]
        params = self.config.params
        if attempt and params.seed is not None:
            params = params.model_copy(update={"seed": params.seed + attempt})
        version = self.version + (f"#attempt{attempt}" if attempt else "")
        key = request_key(messages, meta["model"], params, self.schema, version)
        return Request(key=key, messages=messages, params=params, schema=self.schema, meta=meta)

    def retry_request(self, request: Request) -> Request | None:
        """The next attempt for a retryable outcome (new seed, new key), or None once `max_attempts` are used."""
        attempt = int(request.meta.get("attempt", 0)) + 1
        if attempt >= self.config.max_attempts:
            return None
        return self._request(request.messages, {**request.meta, "attempt": attempt})

    # -- output ------------------------------------------------------------------------------------------------
    def format_output(self, request: Request, response: Response) -> Outcome:
        if response.key != request.key:
            raise ValueError("response does not belong to this request")
        if not response.ok:
            return Outcome(error=REQUEST_FAILED, detail=str(response.error or "no text")[:300])
        return self.parse(request, response.text)

    def parse(self, request: Request, text: str) -> Outcome:  # pragma: no cover - abstract
        raise NotImplementedError

    def row(self, request: Request, index: int = 0, **values: Any) -> dict:
        m = request.meta
        row = dict.fromkeys(ROW_FIELDS)
        row.update(id=f"{request.key[:20]}-{index}", seed_id=m.get("seed_id"), task=self.name, style=m.get("style"),
                   audience=m.get("audience"), verified=False, task_version=self.version, request_key=request.key)
        unknown = set(values) - set(ROW_FIELDS)
        if unknown:
            raise KeyError(f"unknown row fields {sorted(unknown)}")
        row.update(values)
        return row

    def reject(self, request: Request, reason: str, detail: str = "", index: int = 0, **values: Any) -> dict:
        r = self.row(request, index, **values)
        r.update(reason=reason, detail=str(detail)[:500])
        return r
