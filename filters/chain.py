"""The default heuristic chain (FineWeb's order) and its configuration."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from filters.base import Step
from filters.blobs import HashDumpConfig, HashDumpFilter
from filters.c4 import C4Config, C4QualityFilter
from filters.fineweb import FineWebConfig, FineWebQualityFilter
from filters.gopher import GopherQualityConfig, GopherQualityFilter, GopherRepetitionConfig, GopherRepetitionFilter


class HeuristicsConfig(BaseModel):
    """One sub-config per heuristic step; each has ``enabled``. C4 runs with its terminal-punctuation rule off."""

    model_config = ConfigDict(extra="forbid")
    gopher_repetition: GopherRepetitionConfig = Field(default_factory=GopherRepetitionConfig)
    gopher_quality: GopherQualityConfig = Field(default_factory=GopherQualityConfig)
    c4: C4Config = Field(default_factory=lambda: C4Config(filter_no_terminal_punct=False))
    fineweb: FineWebConfig = Field(default_factory=FineWebConfig)
    hash_dump: HashDumpConfig = Field(default_factory=HashDumpConfig)


def build_heuristic_steps(cfg: HeuristicsConfig | None = None) -> list[Step]:
    """Enabled steps in FineWeb's order: Gopher repetition, Gopher quality, C4, FineWeb, then the hash-dump filter."""
    cfg = cfg or HeuristicsConfig()
    steps: list[Step] = []
    if cfg.gopher_repetition.enabled:
        steps.append(GopherRepetitionFilter(cfg.gopher_repetition))
    if cfg.gopher_quality.enabled:
        steps.append(GopherQualityFilter(cfg.gopher_quality))
    if cfg.c4.enabled:
        steps.append(C4QualityFilter(cfg.c4))
    if cfg.fineweb.enabled:
        steps.append(FineWebQualityFilter(cfg.fineweb))
    if cfg.hash_dump.enabled:
        steps.append(HashDumpFilter(cfg.hash_dump))
    return steps
