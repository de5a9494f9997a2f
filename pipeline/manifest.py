"""Stage accounting: every input document is kept, removed with a named reason, or quarantined.

`StageCounts` are added up per shard and per step; `check_conservation` enforces
``input == kept + sum(removed.values()) + quarantined`` and a run that violates it fails loudly.
"""
from __future__ import annotations

import importlib.metadata
import platform
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.io import write_json_atomic


class ConservationError(RuntimeError):
    """Raised when documents were lost or double-counted."""


@dataclass
class StageCounts:
    input: int = 0
    kept: int = 0
    removed: dict[str, int] = field(default_factory=dict)
    quarantined: int = 0

    def add(self, other: "StageCounts") -> "StageCounts":
        removed = Counter(self.removed)
        removed.update(other.removed)
        return StageCounts(
            self.input + other.input, self.kept + other.kept, dict(sorted(removed.items())),
            self.quarantined + other.quarantined,
        )

    @classmethod
    def chain(cls, parts: list[tuple[str, "StageCounts"]], where: str = "chain") -> "StageCounts":
        """The counts of parts run one after another, each reading what the one before kept: the input of the
        first, the kept of the last, removals and quarantines summed; each part's input must equal the previous
        one's kept (checked), and so must the whole (conservation). `parts`: (name, counts) in order."""
        for (prev_name, prev), (name, cur) in zip(parts, parts[1:]):
            if cur.input != prev.kept:
                raise ConservationError(f"{where}: {name} read {cur.input} documents but {prev_name} kept "
                                        f"{prev.kept}")
        removed: Counter = Counter()
        for _, c in parts:
            removed.update(c.removed)
        total = cls(parts[0][1].input, parts[-1][1].kept, dict(sorted(removed.items())),
                    sum(c.quarantined for _, c in parts))
        check_conservation(total, where)
        return total

    @property
    def removed_total(self) -> int:
        return sum(self.removed.values())

    def to_dict(self) -> dict[str, Any]:
        return {"input": self.input, "kept": self.kept, "removed": dict(sorted(self.removed.items())),
                "quarantined": self.quarantined}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "StageCounts":
        return cls(int(d["input"]), int(d["kept"]), {k: int(v) for k, v in d.get("removed", {}).items()},
                   int(d.get("quarantined", 0)))


def check_conservation(counts: StageCounts, where: str = "run") -> None:
    total = counts.kept + counts.removed_total + counts.quarantined
    if counts.input != total:
        raise ConservationError(
            f"{where}: conservation violated: input={counts.input} but kept={counts.kept} + "
            f"removed={counts.removed_total} {counts.removed} + quarantined={counts.quarantined} = {total}"
        )


PACKAGES = ("assay", "ray", "pyarrow", "numpy", "datasketch", "fasttext-numpy2", "trafilatura", "resiliparse",
            "warcio", "torch", "datasets")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return out


def write_manifest(path: Path, stage: str, counts: StageCounts, config: dict[str, Any],
                   steps: dict[str, dict[str, float]] | None = None, extra: dict[str, Any] | None = None) -> dict:
    """Check conservation, then write the manifest to `path` (a stage's ``manifest.json``) atomically; return it.

    `steps` maps a step name to ``{"wall_s": ..., "docs": ...}`` (and ``cpu_s`` where a step counts it); docs/s and
    docs per CPU-second are derived here.
    """
    check_conservation(counts, where=f"{stage} ({path})")
    step_rows = {}
    for name, s in (steps or {}).items():
        wall = float(s.get("wall_s", 0.0))
        docs = int(s.get("docs", 0))
        step_rows[name] = {**s, "wall_s": round(wall, 3), "docs": docs,
                           "docs_per_s": round(docs / wall, 1) if wall > 0 else None}
        if s.get("cpu_s"):  # steps that count CPU (extract: the worker's and its extraction child's)
            step_rows[name].update(cpu_s=round(s["cpu_s"], 3), docs_per_cpu_s=round(docs / s["cpu_s"], 1))
    manifest = {
        "stage": stage,
        **counts.to_dict(),
        "steps": step_rows,
        "config": config,
        "versions": package_versions(),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **(extra or {}),
    }
    write_json_atomic(manifest, Path(path))
    return manifest
