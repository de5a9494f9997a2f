"""Stage entry points shared by the CLI and `jobs/`: `run_filter` and `run_curate` (filter, then dedupe)."""
from __future__ import annotations

import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from pipeline.filter_stage import FilterConfig, FilterWorker
from pipeline.io import expand_inputs
from pipeline.manifest import StageCounts, check_conservation, write_manifest
from pipeline.ray_env import init_ray
from pipeline.readers import ALL_SUFFIXES
from pipeline.runner import Layout, run_shards, sum_counts, sum_steps
from pipeline.summary import print_summary, write_dataset_card


def _dedupe_config_type():
    from filters.dedupe.config import DedupeConfig

    return DedupeConfig


class FilterJob(BaseModel):
    """`assay filter` / `python -m jobs.filter`: the filter stage alone."""
    model_config = ConfigDict(extra="forbid")

    inputs: list[str] = Field(..., min_length=1, description="files, directories, globs or fsspec URLs")
    output: str = Field(..., description="output directory")
    filter: FilterConfig = FilterConfig()


class CurateJob(BaseModel):
    """`assay curate` / `python -m jobs.curate`: read, extract, language ID, filter, then dedupe."""
    model_config = ConfigDict(extra="forbid")

    inputs: list[str] = Field(..., min_length=1)
    output: str
    filter: FilterConfig = FilterConfig()
    dedupe_enabled: bool = Field(True, description="run exact + MinHash dedupe on the filtered documents")
    dedupe: dict = Field(default_factory=dict, description="DedupeConfig fields (see `assay dedupe --help`)")


def run_filter(job: FilterJob, address: str | None = None, progress: bool = True, *, layout: Layout | None = None,
               quiet: bool = False) -> dict:
    """Run the filter stage; returns the manifest (also written to OUTPUT/manifest.json)."""
    t0 = time.perf_counter()
    out = Path(job.output)
    suffixes = (".parquet",) if job.filter.from_annotations else ALL_SUFFIXES
    paths = expand_inputs(job.inputs, suffixes=suffixes)
    layout = layout or Layout(out, "filter")
    init_ray(address)
    stats = run_shards(paths, layout, FilterWorker,
                       {"cfg_json": job.filter.model_dump_json(), "layout_json": layout.to_json()},
                       workers=job.filter.workers, progress=progress, label="filter")
    counts = sum_counts(stats)
    steps = sum_steps(stats)
    steps["stage_total"] = {"wall_s": time.perf_counter() - t0, "docs": counts.input}
    mode = "annotate" if job.filter.annotate_only else "from_annotations" if job.filter.from_annotations else "filter"
    manifest = write_manifest(layout.root, "filter", counts, job.model_dump(mode="json"), steps,
                              {"mode": mode, "shards": len(stats)})
    if layout.root == out:
        write_dataset_card(out, manifest)
        if not quiet:
            print_summary(manifest)
    return manifest


def run_curate(job: CurateJob, address: str | None = None, progress: bool = True) -> dict:
    """Filter into OUTPUT/work/filtered, then dedupe into OUTPUT/data; rejects/ and quarantine/ collect both."""
    out = Path(job.output)
    t0 = time.perf_counter()
    if not job.dedupe_enabled:
        manifest = run_filter(FilterJob(inputs=job.inputs, output=job.output, filter=job.filter), address, progress)
        return manifest
    filter_layout = Layout(out, "filter", data_dir=out / "work" / "filtered", prefix="filter-")
    fjob = FilterJob(inputs=job.inputs, output=job.output, filter=job.filter)
    f_manifest = run_filter(fjob, address, progress, layout=filter_layout, quiet=True)
    (out / "manifest.json").replace(out / "work" / "filter-manifest.json")

    from pipeline.dedupe_stage import run_dedupe

    dcfg = _dedupe_config_type().model_validate(job.dedupe)
    d_manifest = run_dedupe([str(out / "work" / "filtered")], out, dcfg, address=address, progress=progress)

    counts = StageCounts(input=f_manifest["input"], kept=d_manifest["kept"],
                         removed={**f_manifest["removed"]}, quarantined=f_manifest["quarantined"]
                         + d_manifest.get("quarantined", 0))
    for reason, n in d_manifest["removed"].items():
        counts.removed[reason] = counts.removed.get(reason, 0) + n
    if d_manifest["input"] != f_manifest["kept"]:
        raise RuntimeError(f"dedupe read {d_manifest['input']} documents but the filter kept {f_manifest['kept']}")
    check_conservation(counts, "curate")
    steps = {f"filter.{k}": v for k, v in f_manifest["steps"].items() if k != "stage_total"}
    steps.update({f"dedupe.{k}": v for k, v in d_manifest.get("steps", {}).items()})
    steps["stage_total"] = {"wall_s": time.perf_counter() - t0, "docs": counts.input}
    extra = {"stages": {"filter": {k: f_manifest[k] for k in ("input", "kept", "removed", "quarantined")},
                        "dedupe": {k: d_manifest[k] for k in ("input", "kept", "removed", "quarantined")}},
             "cluster_sizes": d_manifest.get("cluster_sizes") or d_manifest.get("cluster_size_histogram")}
    manifest = write_manifest(out, "curate", counts, job.model_dump(mode="json"), steps, extra)
    write_dataset_card(out, manifest)
    print_summary(manifest)
    return manifest
