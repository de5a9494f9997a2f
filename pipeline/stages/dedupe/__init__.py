"""The dedupe stage: exact + MinHash near-duplicate removal, on this machine or on Ray Data.

One module per step, called in order by a short driver (`driver.dedupe_stage`); each step writes its result
atomically under `work/dedupe/`, is reused when present, and returns its timing:
0. `plan`: inputs that are not Parquet document shards go through the ingest pass (the shared shard worker reads
   and extracts them, with the usual quarantine and `no_text` accounting); shards get node offsets;
1. `signatures`: one task per shard: exact keys and MinHash band hashes (`filters.dedupe.kernels`);
2. `edges` (the `buckets` step): band rows grouped by (band, bucket); star edges member -> smallest member
   (`--verify`: only pairs with exact Jaccard >= threshold);
3. `components`: union-find in this process up to `max_edges_in_memory` edges, else large-star/small-star rounds on
   Ray Data; both label each node with the smallest node of its component;
4. `keepers`: the keeper rule per cluster (highest `quality_score` when the column exists, else smallest `id`;
   documents of an earlier run's index always win);
5. `apply` (the `filter` step): one task per shard writes kept rows (input order, every column passed through),
   rejects (`reason`, `duplicate_of`, `cluster_id`) and, last, its stats.
Locally (`executor: local`) steps 2-4 run on one in-memory partition; on Ray they run on hash partitions of a
Ray Data grouping whose map side reads one shard (or one earlier index file) per task, so a worker's memory follows
the shard, the shuffle batch and the partition size, not the corpus. Components and decisions are node-ranged
tables (`tables`). The kernels are the same, so the kept set does not depend on the executor or the number of
workers or nodes. The driver holds paths, counts, the edges below the in-memory budget and small aggregates.
Node ids are global row numbers (shard offset + row); `cluster_id` is the smallest node id of the cluster
(negative for clusters anchored on an indexed document of an earlier run).
"""
from __future__ import annotations

from filters.dedupe.config import DedupeConfig
from pipeline.stage import Opt, StageSpec, register
from pipeline.stages.base import SubStage, register_substage
from pipeline.stages.dedupe.apply import filter_shard
from pipeline.stages.dedupe.components import distributed_components, memory_components
from pipeline.stages.dedupe.driver import STAGE, DedupeJob, dedupe_stage, dedupe_sub, run_dedupe
from pipeline.stages.dedupe.edges import edges_local, edges_ray
from pipeline.stages.dedupe.keepers import keepers_local, keepers_ray
from pipeline.stages.dedupe.plan import (BAND_ROW_BYTES, MAX_SHUFFLE_PIECES, SHUFFLE_BATCH_BYTES,
                                         SORT_SHUFFLE_MAX_DOCS, band_spans)
from pipeline.stages.dedupe.signatures import signature_shard
from pipeline.stages.dedupe.tables import (COMPONENT_SCHEMA, DECISION_SCHEMA, RANGE_ROWS, NodeRanges, range_files,
                                           range_index, read_node_range, write_ranges_local)

__all__ = ["DedupeJob", "DedupeConfig", "run_dedupe", "dedupe_stage", "dedupe_sub", "band_spans",
           "signature_shard", "edges_local", "edges_ray", "memory_components", "distributed_components",
           "keepers_local", "keepers_ray", "filter_shard", "NodeRanges", "range_index", "range_files",
           "read_node_range", "write_ranges_local", "COMPONENT_SCHEMA", "DECISION_SCHEMA", "RANGE_ROWS",
           "SORT_SHUFFLE_MAX_DOCS", "SHUFFLE_BATCH_BYTES", "MAX_SHUFFLE_PIECES", "BAND_ROW_BYTES"]

register(StageSpec(
    name=STAGE, job=DedupeJob, run=run_dedupe,
    help="Remove exact and near-duplicate documents (MinHash LSH, FineWeb's 5-gram 14x8 setting by default).",
    output_help="Output directory: data/ (one kept shard per input shard), rejects/, stats/, manifest.json.",
    options=(
        Opt(("--threshold",), "dedupe.threshold", "Jaccard threshold; bands x rows follow from it and --num-perm "
                                                  "as from dedupe.threshold anywhere (default 0.72: FineWeb's "
                                                  "14x8; others: datasketch's optimal_param).", float),
        Opt(("--num-perm",), "dedupe.num_perm", "MinHash permutations (default 112); bands x rows follow from it "
                                                "and the threshold.", int),
        Opt(("--ngram",), "dedupe.ngram", "Word n-gram size of the shingles (default 5).", int),
        Opt(("--verify",), "dedupe.verify", "Keep only candidate pairs whose exact Jaccard reaches the threshold.",
            flag=True),
        Opt(("--no-exact",), "dedupe.exact", "Skip exact (normalised-text hash) dedupe.", flag=True, value=False),
        Opt(("--no-near",), "dedupe.near", "Skip MinHash near-duplicate dedupe.", flag=True, value=False),
        Opt(("--max-edges-in-memory",), "dedupe.max_edges_in_memory", "Edge budget for in-process union-find; "
                                                                       "above it components run distributed on Ray.",
            int),
        Opt(("--text-field",), "ingest.reader.text_field", "Text field/column of JSONL/Parquet inputs "
                                                           "(default text)."),
    ),
))

register_substage(SubStage(STAGE, DedupeConfig, dedupe_sub, memory_bound=True, chains=("curate", "generate")))
