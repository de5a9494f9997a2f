"""The stage contract: every command that runs work is a `StageSpec` in one registry.

A spec names the stage, its typed job model (pydantic, `extra="forbid"`, validated completely before any work
starts), its run function and its command-line shortcuts (`Opt`: a flag -> a dotted config key). The CLI
(`pipeline.cli`) and the Ray job entrypoints (`jobs/`) are generated from `STAGES` (filled by importing
`pipeline.stages`: `pipeline.stages.all_stages`; this module imports no stage), so a new stage gets
`assay NAME`, `python -m jobs.NAME`, `--config`, `--set`, `--address`, `--output`, `--overwrite`, `--help` and
progress by registering itself.

Stale output is refused (`prepare_output`): a stage records a fingerprint of (inputs, config, assay version) in
`OUTPUT/run.json` before any work; a rerun with the same fingerprint resumes, one with another stops with the
differences named (`--overwrite` starts over).
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from pipeline.errors import UserError
from pipeline.io import file_signature, write_json_atomic


@dataclass(frozen=True)
class Opt:
    """A command-line shortcut for one config key. `flag`: a boolean switch (`--x` sets `value`, or `--x/--no-x`
    sets True/False); `multiple`: repeatable, collected as a list; `split`: a comma-separated string -> list."""
    decls: tuple[str, ...]
    path: str
    help: str
    type: type = str
    flag: bool = False
    value: Any = True
    multiple: bool = False
    split: bool = False
    metavar: str | None = None
    mapping: bool = False                   # repeatable NAME=VALUE -> {NAME: VALUE}


@dataclass
class RunContext:
    address: str | None = None      # Ray cluster to join (HOST:PORT, ray://, auto); http(s):// means "submit"
    progress: bool = True
    overwrite: bool = False
    job_python: str | None = None   # interpreter for submitted jobs (default: this one)


@dataclass(frozen=True)
class StageSpec:
    name: str
    help: str
    job: type[BaseModel] | str              # the model, or "module:Name" to import it only when the stage runs
    run: Callable[[Any, RunContext], Any]
    inputs: str | None = "inputs"           # job field filled by the positional arguments (None: no positional)
    inputs_metavar: str = "INPUT..."
    inputs_help: str = ("WARC/WET/ARC, JSONL(.gz/.zst), Parquet or .txt files, directories (a stage output means "
                        "its data/), globs, fsspec URLs or `datasets` save_to_disk folders.")
    single_input: bool = False              # the positional is one value, not a list
    output_help: str = "Output directory: data/, rejects/, quarantine/, manifest.json."
    options: tuple[Opt, ...] = ()
    group: str | None = None                # shown as `assay GROUP NAME` (e.g. classifier train)
    command: str | None = None              # the subcommand name inside its group

    def job_model(self) -> type[BaseModel]:
        if isinstance(self.job, str):
            import importlib

            module, _, name = self.job.partition(":")
            return getattr(importlib.import_module(module), name)
        return self.job


STAGES: dict[str, StageSpec] = {}


def register(spec: StageSpec) -> StageSpec:
    STAGES[spec.name] = spec
    return spec


# ------------------------------------------------------------------------------------------------ fingerprints
def assay_version() -> str:
    try:
        return importlib.metadata.version("assay")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


def semantic_config(job: BaseModel, exclude: tuple[str, ...] = ("output", "resources", "runtime")) -> dict:
    """The part of a job's config that decides its output: everything but where it goes and how it runs, minus
    fields marked `json_schema_extra={"fingerprint": False}` at any depth."""
    def walk(model: BaseModel, drop: tuple[str, ...]) -> dict:
        out = {}
        for name, f in type(model).model_fields.items():
            extra = f.json_schema_extra if isinstance(f.json_schema_extra, dict) else {}
            if name in drop or extra.get("fingerprint") is False:
                continue
            v = getattr(model, name)
            out[name] = walk(v, ()) if isinstance(v, BaseModel) else _jsonable(v)
        return out

    return walk(job, exclude)


def _jsonable(v):
    if isinstance(v, BaseModel):
        return v.model_dump(mode="json")
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, Path):
        return str(v)
    return v


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out = {}
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out or {prefix.rstrip("."): {}}
    return {prefix.rstrip("."): d}


def describe_changes(old: dict, new: dict) -> str:
    """A short human list of what differs between two run records."""
    parts = []
    a, b = _flat(old.get("config", {})), _flat(new.get("config", {}))
    for k in sorted(set(a) | set(b)):
        if a.get(k, "<unset>") != b.get(k, "<unset>"):
            parts.append(f"{k}: {a.get(k, '<unset>')!r} -> {b.get(k, '<unset>')!r}")
    ia = {tuple(x[:1])[0]: x for x in old.get("inputs", [])}
    ib = {tuple(x[:1])[0]: x for x in new.get("inputs", [])}
    added, gone = len(set(ib) - set(ia)), len(set(ia) - set(ib))
    changed = sum(1 for k in set(ia) & set(ib) if ia[k] != ib[k])
    if added or gone or changed:
        parts.append(f"inputs: {added} added, {gone} removed, {changed} changed")
    if old.get("version") != new.get("version"):
        parts.append(f"assay version {old.get('version')} -> {new.get('version')}")
    if old.get("stage") != new.get("stage"):
        parts.append(f"stage {old.get('stage')} -> {new.get('stage')}")
    return "; ".join(parts[:4]) + (f"; and {len(parts) - 4} more" if len(parts) > 4 else "")


RUN_FILE = "run.json"


def _same_run(old: dict, new: dict) -> bool:
    """The same run recorded with more config keys: a key only the earlier record has is one that no longer decides
    the output (an execution setting since left out of fingerprints), so an output is not refused for it."""
    if any(old.get(k) != new.get(k) for k in ("stage", "version")):
        return False
    if old.get("inputs") != json.loads(json.dumps(new.get("inputs"), default=str)):
        return False
    a, b = _flat(old.get("config", {})), _flat(new.get("config", {}))
    return all(k in a and a[k] == v for k, v in b.items())


def prepare_output(root: str | Path, stage: str, config: dict, inputs: list[str], overwrite: bool = False) -> dict:
    """Check `root` can hold this run and record the run's fingerprint there (before any work).

    Same fingerprint as the run already there: resume. Another: UserError naming the differences, unless
    `overwrite` (then the earlier output is deleted). A non-empty folder that is not an assay output is never
    deleted."""
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise UserError(f"--output {root} is a file, not a directory")
    record = {"stage": stage, "version": assay_version(), "config": config,
              "inputs": [file_signature(p) for p in inputs]}
    record["fingerprint"] = hashlib.sha256(json.dumps({k: record[k] for k in ("stage", "version", "config",
                                                                                "inputs")},
                                                       sort_keys=True, default=str).encode()).hexdigest()
    run_file = root / RUN_FILE
    if root.is_dir() and any(root.iterdir()):
        if run_file.exists():
            old = json.loads(run_file.read_text())
            if old.get("fingerprint") == record["fingerprint"] or _same_run(old, record):
                _sweep_temp_files(root)  # left by a killed writer; every finished file was renamed into place
                if old.get("fingerprint") != record["fingerprint"]:  # recorded by an assay that fingerprinted more
                    write_json_atomic({**record, "started_at": old.get("started_at")}, run_file)
                return old  # resume
            if not overwrite:
                raise UserError(f"{root} holds the output of a different run ({describe_changes(old, record)}); "
                                "rerun with --overwrite to replace it, or choose another --output")
        elif not overwrite or not (root / "manifest.json").exists():
            what = "an earlier assay run without a run record" if (root / "manifest.json").exists() else \
                "files that are not an assay output"
            raise UserError(f"{root} is not empty: it holds {what}; choose another --output"
                            + (" or rerun with --overwrite" if (root / "manifest.json").exists() else ""))
        _clear(root)
    try:
        root.mkdir(parents=True, exist_ok=True)
        record["started_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        write_json_atomic(record, run_file)
    except PermissionError:
        raise UserError(f"cannot write to --output {root}: permission denied") from None
    except OSError as e:
        raise UserError(f"cannot write to --output {root}: {e.strerror or e}") from None
    return record


def _sweep_temp_files(root: Path) -> None:
    for f in root.rglob(".*.tmp"):
        if f.is_file():
            f.unlink(missing_ok=True)


def _clear(root: Path) -> None:
    for entry in root.iterdir():
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def check_writable_parent(path: str | Path) -> None:
    """For commands that write one file: its folder must be creatable and writable."""
    parent = Path(path).resolve().parent
    if Path(path).is_dir():
        raise UserError(f"--output {path} is a directory; give a file path")
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create {parent}: {e.strerror or e}") from None
    if not os.access(parent, os.W_OK):
        raise UserError(f"cannot write to {parent}: permission denied")

