"""A `datasets` dataset saved with `Dataset.save_to_disk` (or a DatasetDict: every split is read)."""
from __future__ import annotations

from collections.abc import Iterator

from pipeline.readers.jsonl import record_to_doc
from pipeline.readers.options import ReaderOptions
from pipeline.schema import Bad, Doc


def read_hf_disk(path: str, options: ReaderOptions) -> Iterator[Doc | Bad]:
    import datasets

    try:
        ds = datasets.load_from_disk(path)
    except Exception as e:
        yield Bad(path, 0, f"not a readable `datasets` directory ({type(e).__name__}: {e})")
        return
    splits = ds.items() if isinstance(ds, datasets.DatasetDict) else [("", ds)]
    for split, part in splits:
        for i, obj in enumerate(part):
            doc = record_to_doc(obj, f"{path}#{split}" if split else path, i, options)
            yield doc
