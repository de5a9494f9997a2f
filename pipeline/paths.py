"""Local paths in a job are made absolute before the job leaves the driver.

A stage's work runs in other processes and other directories (pool workers, Ray actors and tasks, Ray Train
workers, a job submitted through the Jobs API), so a relative `--data`, `--tokenizer`, `-o` or `inputs:` would be
resolved against the wrong directory there. `absolute_paths(job)` walks a job model (nested models, lists, dicts)
once, where the command starts (`assay NAME`, `python -m jobs.NAME`, `pipeline.submit`), and resolves against the
current directory, with `~` expanded:

- fields marked `json_schema_extra={"path": True}` and fields with a path name (`PATH_FIELDS`): always (they may
  name something not created yet: an output, a tokenizer to train, a cache);
- fields with a name that is a path or a name (`MAYBE_FIELDS`: `model` is a model dir or a ladder size or a hub
  id, a teacher's `tokenizer` a dir or a hub id, `python` a file or a command, an ablation arm a list of data
  paths or arm names): only when the relative path exists
  here, so `t3`, `gpt2` or `org/model` stay as they are (mark a field `{"path": "maybe"}` for the same);
- name -> path maps (`MAP_FIELDS`: evaluation sets `text`, `pairs`, `choices`): their values, when a dict;
- never: URLs (`s3://`, `hf://`, `https://`, ...), absolute paths, empty values, fields marked `{"path": False}`.

`PATH_RULES` names the one field whose rule depends on its model (`TrainConfig.tokenizer`, a dir that training
creates) rather than its name.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
Rule = Literal["always", "maybe", "map"]

PATH_FIELDS = frozenset({
    "inputs", "output", "data", "positive", "negative", "labelled", "annotate", "against", "eval_text", "index_in",
    "index_out", "cache", "runs", "model_dir", "token_cache", "path",
})
MAYBE_FIELDS = frozenset({"model", "tokenizer", "python", "chat_template", "arms"})
MAP_FIELDS = frozenset({"text", "pairs", "choices"})
PATH_RULES: dict[tuple[str, str], Rule] = {("TrainConfig", "tokenizer"): "always"}

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def absolute_paths(job: M) -> M:
    """`job` with every local relative path made absolute (a copy; `job` itself is not changed)."""
    return _model(job)


def absolute_path(value: str, rule: Rule = "always") -> str:
    """One value: absolute unless a URL, empty, or (`maybe`) not an existing path here."""
    if not isinstance(value, str) or not value or _URL.match(value):
        return value
    expanded = os.path.expanduser(value)
    if os.path.isabs(expanded):
        return expanded
    if rule == "maybe" and not os.path.exists(expanded):
        return value
    return os.path.abspath(expanded)


def rule_of(model: type[BaseModel], name: str) -> Rule | None:
    """How field `name` of `model` is resolved (None: not a path; nested models are walked anyway)."""
    field = model.model_fields[name]
    extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
    if "path" in extra:
        mark = extra["path"]
        return None if mark is False else "maybe" if mark == "maybe" else "always"
    for cls in model.__mro__:
        if (cls.__name__, name) in PATH_RULES:
            return PATH_RULES[(cls.__name__, name)]
    if name in PATH_FIELDS:
        return "always"
    if name in MAYBE_FIELDS:
        return "maybe"
    if name in MAP_FIELDS:
        return "map"
    return None


def _model(m: BaseModel) -> BaseModel:
    update = {}
    for name in type(m).model_fields:
        v = getattr(m, name)
        rule = rule_of(type(m), name)
        new = _walk(v) if rule is None else _resolve(v, rule)
        if new is not v:
            update[name] = new
    return m.model_copy(update=update) if update else m


def _resolve(v: Any, rule: Rule) -> Any:
    if isinstance(v, BaseModel):  # e.g. `model: str | ModelConfig`
        return _model(v)
    if rule == "map":
        if isinstance(v, dict):
            new = {k: absolute_path(x) if isinstance(x, str) else x for k, x in v.items()}
            return new if new != v else v
        return v
    if isinstance(v, str):
        new = absolute_path(v, rule)
        return new if new != v else v
    if isinstance(v, Path):
        new = absolute_path(str(v), rule)
        return Path(new) if new != str(v) else v
    if isinstance(v, (list, tuple, dict)):
        items = v.items() if isinstance(v, dict) else enumerate(v)
        out = {k: _resolve(x, rule) for k, x in items}
        if all(out[k] is x for k, x in (v.items() if isinstance(v, dict) else enumerate(v))):
            return v
        return out if isinstance(v, dict) else type(v)(out[i] for i in range(len(v)))
    return v


def _walk(v: Any) -> Any:
    """Not a path field: look for models inside it."""
    if isinstance(v, BaseModel):
        return _model(v)
    if isinstance(v, (list, tuple)):
        out = [_walk(x) for x in v]
        return v if all(a is b for a, b in zip(out, v)) else type(v)(out)
    if isinstance(v, dict):
        out = {k: _walk(x) for k, x in v.items()}
        return v if all(out[k] is x for k, x in v.items()) else out
    return v
