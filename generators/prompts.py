"""Versioned prompt templates, loaded from files in `generators/prompts/` (never from code strings).

Layout: ``<name>.v<N>.txt`` is the user message of prompt `name`, version N, in `string.Template` syntax
(``$extract``, ``$audience``, ...; ``$$`` is a literal dollar). An optional ``<name>.v<N>.schema.json`` beside it is
the JSON schema the completion must follow (structured output); it is also offered to templates as ``$schema``.
``audiences.v<N>.json`` maps audience names to the description a template shows.

Versions: a template is never edited in place once used; a change is a new file (``.v2.txt``) and configs name
the version they want (default 1), so old runs stay reproducible. `PromptTemplate.task_version` is
``<name>.v<N>+<digest>``, the digest covering the template text and its schema: it goes into every request's cache
key, so even an in-place edit can never be served stale completions.

Seed extracts follow Cosmopedia (``EXTRACT_SIZE = 1000``): the first ~1000 characters of the seed document
(`make_extract`), cut at a word boundary, whitespace folded.
"""
from __future__ import annotations

import functools
import hashlib
import json
import re
import string
from dataclasses import dataclass, field
from pathlib import Path

PROMPT_DIR = Path(__file__).with_name("prompts")
_FILE = re.compile(r"^(?P<name>[a-z][a-z0-9_]*)\.v(?P<version>\d+)\.txt$")


class PromptError(ValueError):
    """A template is missing, or rendering it lacks a field."""


@dataclass(frozen=True)
class PromptTemplate:
    name: str
    version: int
    text: str
    schema: dict | None = None
    fields: frozenset[str] = field(default_factory=frozenset)

    @functools.cached_property
    def digest(self) -> str:
        blob = json.dumps({"text": self.text, "schema": self.schema}, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    @property
    def task_version(self) -> str:
        return f"{self.name}.v{self.version}+{self.digest}"

    def render(self, **values: object) -> str:
        """The prompt with ``$field`` placeholders filled; ``$schema`` defaults to the template's own schema.
        Values the template does not use are ignored; a missing one raises `PromptError`."""
        if "schema" in self.fields and "schema" not in values and self.schema is not None:
            values["schema"] = json.dumps(self.schema, ensure_ascii=False)
        missing = sorted(self.fields - values.keys())
        if missing:
            raise PromptError(f"prompt {self.name}.v{self.version} needs {missing}")
        return string.Template(self.text).substitute({k: str(values[k]) for k in self.fields})


def _fields(text: str) -> frozenset[str]:
    names = set()
    for m in string.Template.pattern.finditer(text):
        if m.group("invalid") is not None:
            raise PromptError(f"invalid placeholder at offset {m.start('invalid')}")
        name = m.group("named") or m.group("braced")
        if name:
            names.add(name)
    return frozenset(names)


def template_versions(name: str) -> list[int]:
    """Versions of prompt `name` available, ascending."""
    out = []
    for p in PROMPT_DIR.glob(f"{name}.v*.txt"):
        m = _FILE.match(p.name)
        if m and m.group("name") == name:
            out.append(int(m.group("version")))
    return sorted(out)


@functools.lru_cache(maxsize=None)
def load_template(name: str, version: int = 1) -> PromptTemplate:
    """Load ``<name>.v<version>.txt`` (and its schema file, if there is one)."""
    path = PROMPT_DIR / f"{name}.v{version}.txt"
    if not path.is_file():
        have = template_versions(name)
        raise PromptError(f"no prompt template {path.name}" + (f" (versions: {have})" if have else ""))
    text = path.read_text(encoding="utf-8").rstrip("\n")
    schema_path = path.with_name(f"{name}.v{version}.schema.json")
    schema = json.loads(schema_path.read_text(encoding="utf-8")) if schema_path.is_file() else None
    return PromptTemplate(name, version, text, schema, _fields(text))


@functools.lru_cache(maxsize=None)
def load_audiences(version: int = 1) -> dict[str, str]:
    """Audience name -> the description templates show (``audiences.v<version>.json``)."""
    path = PROMPT_DIR / f"audiences.v{version}.json"
    if not path.is_file():
        raise PromptError(f"no audience file {path.name}")
    return dict(json.loads(path.read_text(encoding="utf-8")))


def make_extract(text: str, max_chars: int = 1000) -> str:
    """The seed extract: whitespace folded, at most `max_chars` characters, cut at the last word boundary."""
    s = " ".join(str(text).split())
    if len(s) <= max_chars:
        return s
    cut = s.rfind(" ", 0, max_chars + 1)
    return s[:cut if cut > max_chars // 2 else max_chars]
