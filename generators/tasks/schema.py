"""A small JSON-schema validator for the subset assay's output schemas use (no third-party dependency).

Supported keywords: ``type`` (object, array, string, integer, number, boolean, null), ``properties``,
``required``, ``additionalProperties`` (boolean), ``items``, ``minItems``, ``maxItems``, ``enum``, ``minimum``,
``maximum``, ``minLength``, ``maxLength``; ``title``/``description`` are ignored. `check_supported` refuses a
schema with any other keyword, so a constraint can never be silently skipped. Structured-output engines do not
enforce everything (xgrammar ignored an integer ``maximum`` in the measurements), so every parsed completion is
validated here.
"""
from __future__ import annotations

from typing import Any

SUPPORTED = frozenset({"type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
                       "enum", "minimum", "maximum", "minLength", "maxLength", "title", "description"})
_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None)}


class SchemaError(ValueError):
    """The schema itself uses something this validator does not implement."""


def check_supported(schema: dict, path: str = "$") -> None:
    if not isinstance(schema, dict):
        raise SchemaError(f"{path}: a schema is an object")
    extra = set(schema) - SUPPORTED
    if extra:
        raise SchemaError(f"{path}: unsupported schema keywords {sorted(extra)}")
    if not isinstance(schema.get("additionalProperties", False), bool):
        raise SchemaError(f"{path}: additionalProperties must be a boolean")
    for name, sub in schema.get("properties", {}).items():
        check_supported(sub, f"{path}.{name}")
    if "items" in schema:
        check_supported(schema["items"], f"{path}[]")


def _type_ok(value: Any, t: str) -> bool:
    if t == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if t == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    return isinstance(value, _TYPES[t])


def validate(value: Any, schema: dict, path: str = "$") -> list[str]:
    """Every violation as ``"<path>: <problem>"`` (empty list: valid)."""
    errors: list[str] = []
    t = schema.get("type")
    if t is not None:
        types = t if isinstance(t, list) else [t]
        if not any(_type_ok(value, x) for x in types):
            return [f"{path}: expected {t}, got {type(value).__name__}"]
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} not in {schema['enum']}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{path}: {value} < minimum {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{path}: {value} > maximum {schema['maximum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0):
            errors.append(f"{path}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            errors.append(f"{path}: longer than {schema['maxLength']} characters")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            errors.append(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{path}: more than {schema['maxItems']} items")
        if "items" in schema:
            for i, item in enumerate(value):
                errors.extend(validate(item, schema["items"], f"{path}[{i}]"))
    if isinstance(value, dict):
        props = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                errors.append(f"{path}: missing {name!r}")
        if schema.get("additionalProperties", True) is False:
            for name in value:
                if name not in props:
                    errors.append(f"{path}: unexpected {name!r}")
        for name, sub in props.items():
            if name in value:
                errors.extend(validate(value[name], sub, f"{path}.{name}"))
    return errors
