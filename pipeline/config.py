"""Loading stage configs from TOML/YAML/JSON files (or inline JSON) into pydantic models, with errors that name
the bad key and the allowed values."""
from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


class ConfigError(ValueError):
    pass


def read_config_data(source: str | Path) -> dict[str, Any]:
    """A file path (.toml/.yaml/.yml/.json) or an inline JSON object string."""
    text = str(source)
    if text.lstrip().startswith("{"):
        return json.loads(text)
    path = Path(source)
    if not path.exists():
        raise ConfigError(f"config file not found: {path}")
    raw = path.read_text()
    try:
        if path.suffix == ".toml":
            data = tomllib.loads(raw)
        elif path.suffix == ".json":
            data = json.loads(raw)
        else:
            data = yaml.safe_load(raw) or {}
    except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: not valid {path.suffix.lstrip('.') or 'YAML'}: {e}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: top level must be a mapping, got {type(data).__name__}")
    return data


def _allowed_keys(model: type[BaseModel], loc: tuple) -> list[str]:
    """The field names valid at `loc` (walking nested models), for 'unknown key' messages."""
    cur: Any = model
    for part in loc[:-1]:
        fields = getattr(cur, "model_fields", None)
        if not fields or part not in fields:
            return []
        ann = fields[part].annotation
        args = [a for a in getattr(ann, "__args__", ()) if isinstance(a, type) and issubclass(a, BaseModel)]
        cur = args[0] if args else ann
    return sorted(getattr(cur, "model_fields", {}) or {})


def format_validation_error(model: type[BaseModel], err: ValidationError, source: str = "config") -> str:
    lines = [f"{source}: invalid configuration"]
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"])
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, e["loc"])
            lines.append(f"  - unknown key {key!r}; allowed keys here: {', '.join(allowed)}")
        else:
            lines.append(f"  - {key}: {e['msg']} (got {e.get('input')!r})")
    return "\n".join(lines)


def validate(model: type[M], data: dict[str, Any], source: str = "config") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(model, e, source)) from None


def load_config(model: type[M], source: str | Path | None = None, overrides: dict[str, Any] | None = None) -> M:
    """Read `source` (if any), deep-merge `overrides` (CLI options that were given), validate."""
    data = read_config_data(source) if source else {}
    data = deep_merge(data, overrides or {})
    return validate(model, data, str(source or "options"))


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out
