"""Input formats by name: the file suffixes each reader takes, and the `datasets` save_to_disk folder. A leaf
module (no assay imports), so input expansion (`pipeline.io`) and the readers (`pipeline.readers`) both use it
without importing each other."""
from __future__ import annotations

import os

ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".wet", ".wet.gz", ".arc", ".arc.gz", ".warc.wet.gz")
JSONL_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".json", ".json.gz", ".ndjson", ".ndjson.gz")
PARQUET_SUFFIXES = (".parquet",)
TEXT_SUFFIXES = (".txt",)
ALL_SUFFIXES = ARCHIVE_SUFFIXES + JSONL_SUFFIXES + PARQUET_SUFFIXES + TEXT_SUFFIXES


def is_hf_dataset_dir(path: str) -> bool:
    """A folder written by `datasets`' `save_to_disk` (a Dataset or a DatasetDict)."""
    return os.path.isdir(path) and (
        os.path.exists(os.path.join(path, "dataset_dict.json"))
        or (os.path.exists(os.path.join(path, "dataset_info.json")) and os.path.exists(os.path.join(path, "state.json"))))
