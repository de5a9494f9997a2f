"""Dedupe runners for benchmarks/dedupe.py: one tool per call, run inside that tool's venv.

    python benchmarks/dedupe_peers.py TOOL --input docs.parquet --out DIR [--ngram 5 --bands 14 --rows 8 --seed 0]

Reads the (id, url, text) Parquet, runs TOOL's MinHash dedupe (word `ngram`-grams, `bands` x `rows`), and writes
``DIR/kept.txt`` (kept ids, one a line) and ``DIR/result.json`` (``seconds``: the dedupe's wall time with the texts
already in memory, plus tool notes). TOOL: assay | assay-verify | datasketch | rensa | datatrove | textdedup.
Needs only the standard library + pyarrow + the tool itself (assay: the repository on PYTHONPATH).
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import time
from pathlib import Path

WORD = re.compile(r"\w+")


def word_shingles(text: str, n: int) -> set[str]:
    """Lower-cased `\\w+` word n-grams (a text shorter than n words is one shingle; no words: empty set)."""
    words = WORD.findall(text.lower())
    if len(words) < n:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i:i + n]) for i in range(len(words) - n + 1)}


def load(path: Path) -> tuple[list[str], list[str]]:
    """(ids, texts) of the benchmark Parquet."""
    import pyarrow.parquet as pq

    t = pq.read_table(path, columns=["id", "text"])
    return t.column("id").to_pylist(), t.column("text").to_pylist()


# --------------------------------------------------------------------------------------------- runners
def run_assay(ids, texts, a, work, verify=False):
    """assay's in-process library: exact + MinHash LSH + union-find, smallest id kept."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo, ahead of benchmarks/filters.py
    from filters.dedupe import DedupeConfig, dedupe_texts

    cfg = DedupeConfig(ngram=a.ngram, bands=a.bands, rows=a.rows, num_perm=a.bands * a.rows, verify=verify)
    t0 = time.perf_counter()
    res = dedupe_texts(texts, ids=ids, cfg=cfg)
    secs = time.perf_counter() - t0
    return [i for i, k in zip(ids, res.keep) if k], secs, {"config": cfg.model_dump()}


def _greedy(ids, sigs, query, insert):
    """Streaming LSH dedupe: a doc with any indexed candidate is removed, else indexed and kept (first kept)."""
    kept = []
    for i, (doc_id, m) in enumerate(zip(ids, sigs)):
        if m is None:  # no words: never a near-duplicate
            kept.append(doc_id)
        elif query(m):
            continue
        else:
            insert(i, m)
            kept.append(doc_id)
    return kept


def run_datasketch(ids, texts, a, work):
    """datasketch MinHash.bulk (shared permutations) + MinHashLSH(params=(bands, rows)) query-then-insert loop."""
    from datasketch import MinHash, MinHashLSH

    num_perm = a.bands * a.rows
    t0 = time.perf_counter()
    lsh = MinHashLSH(num_perm=num_perm, params=(a.bands, a.rows))
    shingle_sets = [word_shingles(t, a.ngram) for t in texts]
    nonempty = [i for i, s in enumerate(shingle_sets) if s]
    mhs = MinHash.bulk([[s.encode("utf-8") for s in shingle_sets[i]] for i in nonempty], num_perm=num_perm, seed=1)
    sigs: list = [None] * len(texts)
    for i, m in zip(nonempty, mhs):
        sigs[i] = m
    kept = _greedy(ids, sigs, lsh.query, lambda i, m: lsh.insert(i, m))
    from importlib.metadata import version

    return kept, time.perf_counter() - t0, {"version": version("datasketch"), "shingles": "lower \\w+ word n-grams",
                                            "keeper": "first in input order"}


def run_rensa(ids, texts, a, work):
    """rensa RMinHash (bulk from token sets) + RMinHashLSH(num_bands=bands) query-then-insert loop."""
    from rensa import RMinHash, RMinHashLSH

    num_perm = a.bands * a.rows
    t0 = time.perf_counter()
    lsh = RMinHashLSH(threshold=(1 / a.bands) ** (1 / a.rows), num_perm=num_perm, num_bands=a.bands)
    shingle_sets = [word_shingles(t, a.ngram) for t in texts]
    nonempty = [i for i, s in enumerate(shingle_sets) if s]
    mhs = RMinHash.from_token_sets([list(shingle_sets[i]) for i in nonempty], num_perm, 1)
    sigs: list = [None] * len(texts)
    for i, m in zip(nonempty, mhs):
        sigs[i] = m
    kept = _greedy(ids, sigs, lsh.query, lsh.insert)
    from importlib.metadata import version

    return kept, time.perf_counter() - t0, {"version": version("rensa"), "keeper": "first in input order"}


def run_datatrove(ids, texts, a, work):
    """datatrove's 4-stage MinHash pipeline on LocalPipelineExecutor(tasks=1, workers=1), reading the Parquet."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (MinhashConfig, MinhashDedupBuckets, MinhashDedupCluster,
                                                  MinhashDedupFilter, MinhashDedupSignature)
    from datatrove.pipeline.readers import ParquetReader
    from datatrove.utils.hashing import HashConfig

    base = work / "datatrove-work"
    shutil.rmtree(base, ignore_errors=True)
    cfg = MinhashConfig(n_grams=a.ngram, num_buckets=a.bands, hashes_per_bucket=a.rows,
                        hash_config=HashConfig(precision=64))
    inp = Path(a.input)

    def reader():
        return ParquetReader(str(inp.parent), glob_pattern=inp.name, text_key="text", id_key="id")

    def run(pipeline, name, tasks=1):
        LocalPipelineExecutor(pipeline=pipeline, tasks=tasks, workers=1, logging_dir=str(base / "logs" / name)).run()

    t0 = time.perf_counter()
    run([reader(), MinhashDedupSignature(output_folder=str(base / "sigs"), config=cfg)], "sig")
    run([MinhashDedupBuckets(input_folder=str(base / "sigs"), output_folder=str(base / "buckets"), config=cfg)],
        "buckets", tasks=cfg.num_buckets)
    run([MinhashDedupCluster(input_folder=str(base / "buckets"), output_folder=str(base / "remove"), config=cfg)],
        "cluster")
    kept_dir = base / "kept"

    def write_ids(data, rank: int = 0, world_size: int = 1):
        """Last step: the ids of the documents that passed MinhashDedupFilter, one file per task."""
        kept_dir.mkdir(parents=True, exist_ok=True)
        with open(kept_dir / f"{rank:05d}.txt", "w") as fh:
            for doc in data:
                fh.write(f"{doc.id}\n")
                yield doc

    run([reader(), MinhashDedupFilter(input_folder=str(base / "remove")), write_ids], "filter")
    secs = time.perf_counter() - t0
    kept = []
    for f in sorted(kept_dir.glob("*.txt")):
        kept += [line for line in f.read_text().splitlines() if line]
    import datatrove

    ver = getattr(datatrove, "__version__", None)
    if ver is None:
        from importlib.metadata import version

        ver = version("datatrove")
    return kept, secs, {"version": ver, "hash": "xxhash 64-bit", "buckets_tasks": cfg.num_buckets,
                        "note": "times include datatrove reading the Parquet twice (signature + filter stages)"}


def run_textdedup(ids, texts, a, work):
    """text-dedup's `text_dedup.minhash` CLI (click, called in-process): parquet in, `save_to_disk` out, num_proc=1.

    Its time includes `load_dataset("parquet")`, the fingerprint `map`, LSH tables, union-find and
    `save_to_disk` of the kept rows; `--min_length 0` so no short document is dropped before hashing.
    """
    from importlib.metadata import version

    from datasets import load_from_disk
    from text_dedup.minhash import main as cli

    out = work / "textdedup-out"
    shutil.rmtree(out, ignore_errors=True)
    argv = ["--path", "parquet", "--data_files", str(a.input), "--split", "train",
            "--cache_dir", str(work / "hf-cache"), "--output", str(out), "--column", "text", "--num_proc", "1",
            "--ngram", str(a.ngram),
            "--num_perm", str(a.bands * a.rows), "--b", str(a.bands), "--r", str(a.rows), "--min_length", "0",
            "--seed", "42"]
    t0 = time.perf_counter()
    cli.main(args=argv, standalone_mode=False)
    secs = time.perf_counter() - t0
    kept = load_from_disk(str(out))["id"]
    return list(kept), secs, {"version": version("text-dedup"), "argv": " ".join(argv),
                              "note": "time includes load_dataset + save_to_disk"}


def run_assay_verify(ids, texts, a, work):
    """assay with `verify=True`: candidate edges kept only if the exact shingle Jaccard >= threshold (0.72)."""
    return run_assay(ids, texts, a, work, verify=True)


RUNNERS = {"assay": run_assay, "assay-verify": run_assay_verify, "datasketch": run_datasketch, "rensa": run_rensa,
           "datatrove": run_datatrove, "textdedup": run_textdedup}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("tool", choices=sorted(RUNNERS))
    ap.add_argument("--input", required=True)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--ngram", type=int, default=5)
    ap.add_argument("--bands", type=int, default=14)
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    ids, texts = load(Path(a.input))
    if len(set(ids)) != len(ids):
        sys.exit(f"{a.input}: ids are not unique")
    kept, secs, notes = RUNNERS[a.tool](ids, texts, a, a.out)
    (a.out / "kept.txt").write_text("\n".join(map(str, kept)) + "\n")
    (a.out / "result.json").write_text(json.dumps({"seconds": secs, "kept": len(kept), "input": len(ids),
                                                   "notes": notes}))
    print(f"{a.tool}: kept {len(kept)} of {len(ids)} in {secs:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
