"""The one config loader of every command: TOML, YAML, JSON files or an inline JSON object, `${name}` variables,
command-line overrides deep-merged on top, then validation into the command's pydantic model, with errors that
name the bad key and the allowed values (one line per problem, no traceback)."""
from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Annotated, Any, TypeVar

import yaml
from pydantic import BaseModel, BeforeValidator, ValidationError

from pipeline.errors import UserError

M = TypeVar("M", bound=BaseModel)
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(UserError, ValueError):
    pass


def read_config_data(source: str | Path) -> dict[str, Any]:
    """A file path (.toml/.yaml/.yml/.json) or an inline JSON object string."""
    text = str(source)
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError(f"inline config: not valid JSON: {e}") from None
    else:
        path = Path(source)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        raw = path.read_text()
        try:
            if path.suffix == ".toml":
                data = tomllib.loads(raw)
            elif path.suffix == ".json":
                data = json.loads(raw)
            elif path.suffix in (".yaml", ".yml", ""):
                data = yaml.safe_load(raw) or {}
            else:
                raise ConfigError(f"{path}: unknown config format {path.suffix!r} (use .toml, .yaml, .yml or .json)")
        except (tomllib.TOMLDecodeError, yaml.YAMLError, json.JSONDecodeError) as e:
            kind = {".toml": "TOML", ".json": "JSON"}.get(path.suffix, "YAML")
            raise ConfigError(f"{path}: not valid {kind}: {' '.join(str(e).split())}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping, got {type(data).__name__}")
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
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"]) or "(top level)"
        if e["type"] == "extra_forbidden":
            allowed = _allowed_keys(model, e["loc"])
            lines.append(f"unknown key {key!r}; allowed keys here: {', '.join(allowed)}")
        elif e["type"] == "missing":
            lines.append(f"missing {key!r}")
        else:
            msg = e["msg"].removeprefix("Value error, ")
            got = e.get("input")
            shown = "" if isinstance(got, dict) or repr(got) in msg else f" (got {got!r})"
            lines.append(f"{key}: {msg}{shown}")
    return f"{source}: " + "; ".join(lines)


def validate(model: type[M], data: dict[str, Any], source: str = "config") -> M:
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(model, e, source)) from None


def load_config(model: type[M], source: str | Path | None = None, overrides: dict[str, Any] | None = None) -> M:
    """Read `source` (if any), deep-merge `overrides` (CLI options that were given), validate."""
    data = read_config_data(source) if source else {}
    data = deep_merge(data, overrides or {})
    return validate(model, data, "options" if not source else str(source) if not str(source).lstrip()
                    .startswith("{") else "inline config")


def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = v
    return out


def set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    """data["a"]["b"] = value for dotted = "a.b" (creating levels)."""
    parts = dotted.split(".")
    cur = data
    for p in parts[:-1]:
        nxt = cur.get(p)
        if not isinstance(nxt, dict):
            nxt = cur[p] = {}
        cur = nxt
    cur[parts[-1]] = value


def parse_set(items: list[str]) -> dict[str, Any]:
    """`--set key.path=value` items -> nested overrides; values are YAML scalars/lists (`0.9`, `true`, `[a, b]`)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set expects KEY=VALUE (e.g. filter.language.threshold=0.8), got {item!r}")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        set_dotted(out, key.strip(), value)
    return out


# ------------------------------------------------------------------------------------------------ ${var}s
def substitute_vars(value: Any, variables: dict[str, str], where: str = "config") -> Any:
    """Replace `${name}` in every string of a nested structure; an unknown name is an error naming the key."""
    if isinstance(value, str):
        def repl(m: re.Match) -> str:
            name = m.group(1)
            if name not in variables:
                raise ValueError(f"{where}: unknown variable ${{{name}}}; define it under `vars:` or pass "
                                 f"--var {name}=VALUE (known: {sorted(variables) or 'none'})")
            return str(variables[name])
        return _VAR.sub(repl, value)
    if isinstance(value, dict):  # keys too (a mix's sources are keys)
        return {substitute_vars(k, variables, where): substitute_vars(v, variables, f"{where}.{k}")
                for k, v in value.items()}
    if isinstance(value, list):
        return [substitute_vars(v, variables, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


def resolve_vars(variables: dict[str, str]) -> dict[str, str]:
    """Let vars refer to each other (`raw: ${demo}/raw/data`); a cycle is an error."""
    out = dict(variables)
    for _ in range(len(out) + 1):
        nxt = {k: substitute_vars(v, out, f"vars.{k}") for k, v in out.items()}
        if nxt == out:
            loops = sorted(k for k, v in out.items() if _VAR.search(v))
            if loops:
                break
            return out
        out = nxt
    else:
        loops = sorted(out)
    raise ValueError(f"vars: circular references among {loops}")


def fill_vars(data: Any) -> Any:
    """A config mapping with `${name}` placeholders filled from its own `vars:` section."""
    if not isinstance(data, dict):
        return data
    variables = resolve_vars({str(k): str(v) for k, v in (data.get("vars") or {}).items()})
    rest = {k: v for k, v in data.items() if k != "vars"}
    return {**substitute_vars(rest, variables), "vars": variables}


def _target(v):
    """'N,D' or [N, D] -> [N, D] (one clear line when it is not that); None or '' -> None."""
    if v is None or v == "":
        return None
    from pipeline.scaling.decide import parse_target

    return list(parse_target(v))


# A target scale (model size N, token budget D) as written in `fit.target`, `--target` or an ablation's `fit:`.
TargetND = Annotated[list[float] | None, BeforeValidator(_target)]
