"""Dedupe settings (pydantic, extra keys rejected)."""
from __future__ import annotations

from typing import Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator


class DedupeConfig(BaseModel):
    """Exact + MinHash near-duplicate removal.

    Defaults are FineWeb's: word 5-grams, 112 permutations as 14 bands x 8 rows (threshold ~ (1/14)^(1/8) ~ 0.72).

    One rule for the banding, wherever the settings are written (a config file, `--set`, curate's `dedupe:`
    section, `--threshold`/`--num-perm`): `bands` x `rows` when both are given, else a function of (`threshold`,
    `num_perm`) alone (`banding`): the published setting for a published pair (FineWeb's 14 x 8 for 0.72 and 112),
    otherwise datasketch's `optimal_param`. So `threshold: 0.8` means the same duplicates however it is given.
    """

    model_config = ConfigDict(extra="forbid")

    exact: bool = Field(True, description="remove exact duplicates (hash of normalised text)")
    exact_url: bool = Field(False, description="include the URL in the exact-dedupe key")
    near: bool = Field(True, description="remove MinHash near-duplicates")
    threshold: float = Field(0.72, gt=0.0, lt=1.0, description="Jaccard threshold (band choice, --verify cut-off)")
    num_perm: int = Field(112, ge=2, le=1024, description="MinHash permutations")
    bands: Optional[int] = Field(None, ge=1, description="LSH bands (None: from threshold and num_perm)")
    rows: Optional[int] = Field(None, ge=1, description="rows per band (None: from threshold and num_perm)")
    ngram: int = Field(5, ge=1, le=64, description="word n-gram size of the shingles")
    seed: int = Field(1, ge=0, description="MinHash permutation seed (datasketch's)")
    scheme: Literal["affine32", "legacy"] = Field("affine32", description="datasketch permutation scheme")
    verify: bool = Field(False, description="check candidate pairs with exact Jaccard >= threshold")
    # how the work is split, not what it decides: left out of run fingerprints (the kept set is the same)
    max_edges_in_memory: int = Field(
        5_000_000, ge=0, json_schema_extra={"fingerprint": False},
        description="edge-count budget for driver-side union-find (~40 bytes/edge); above it, distributed star CC")
    batch_size: int = Field(2000, ge=1, description="documents per signature batch",
                            json_schema_extra={"fingerprint": False})
    shuffle_rows_per_partition: int = Field(
        250_000, ge=1, json_schema_extra={"fingerprint": False},
        description="rows per hash partition in Ray groupings (what one reduce task holds)")
    index_in: Optional[str] = Field(None, description="band-hash index of an earlier run to dedupe against")
    index_out: Optional[str] = Field(None, description="write this run's kept-document index here (Parquet)")

    @model_validator(mode="after")
    def _check_bands(self) -> "DedupeConfig":
        if (self.bands is None) != (self.rows is None) or len({"bands", "rows"} & self.model_fields_set) == 1:
            raise ValueError("set both bands and rows, or neither (then they come from threshold/num_perm)")
        if self.bands is not None and self.bands * self.rows > self.num_perm:
            raise ValueError(f"bands*rows = {self.bands}*{self.rows} exceeds num_perm = {self.num_perm}")
        if not (self.exact or self.near):
            raise ValueError("enable exact and/or near dedupe")
        return self

    def band_rows(self) -> tuple[int, int]:
        """(bands, rows): explicit, or `banding(threshold, num_perm)`."""
        if self.bands is not None:
            return self.bands, self.rows
        return banding(self.threshold, self.num_perm)


# (threshold, num_perm) -> (bands, rows) settings published with their thresholds: FineWeb's 14 x 8 of 112
# permutations (its S-curve crosses 0.5 near (1/14)^(1/8) ~ 0.72; optimal_param would give 12 x 9).
PUBLISHED_BANDING = {(0.72, 112): (14, 8)}


def banding(threshold: float, num_perm: int) -> tuple[int, int]:
    """The banding of a threshold: the published one for a published (threshold, num_perm), else datasketch's
    optimal_param (least weighted false-positive + false-negative area)."""
    if (threshold, num_perm) in PUBLISHED_BANDING:
        return PUBLISHED_BANDING[(threshold, num_perm)]
    from filters.dedupe.lsh import optimal_param

    return optimal_param(threshold, num_perm)
