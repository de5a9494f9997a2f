"""The reference for `assay dedupe`'s whole-process time: a plain datasketch loop in one process, as a user would
write it. Reads a JSONL file (id, text), MinHash.bulk over lower-cased word 5-gram shingles, MinHashLSH with the
same bands x rows as assay (14 x 8), query-then-insert; writes the kept ids, one per line.

    python benchmarks/datasketch_loop.py DOCS.jsonl KEPT.txt
"""
import json
import re
import sys

from datasketch import MinHash, MinHashLSH

WORD = re.compile(r"\w+")


def shingles(text: str, n: int = 5) -> set[bytes]:
    words = WORD.findall(text.lower())
    if len(words) < n:
        return {" ".join(words).encode()} if words else set()
    return {" ".join(words[i:i + n]).encode() for i in range(len(words) - n + 1)}


def main(src: str, dst: str, bands: int = 14, rows: int = 8) -> None:
    ids, texts = [], []
    with open(src) as fh:
        for line in fh:
            rec = json.loads(line)
            ids.append(rec["id"])
            texts.append(rec["text"])
    sets = [shingles(t) for t in texts]
    lsh = MinHashLSH(num_perm=bands * rows, params=(bands, rows))
    exact: set[str] = set()
    kept = []
    nonempty = [i for i, s in enumerate(sets) if s]
    sigs = dict(zip(nonempty, MinHash.bulk([list(sets[i]) for i in nonempty], num_perm=bands * rows, seed=1)))
    for i, (doc_id, s) in enumerate(zip(ids, sets)):
        key = " ".join(WORD.findall(texts[i].lower()))
        if key in exact:
            continue
        exact.add(key)
        if not s:
            kept.append(doc_id)
            continue
        m = sigs[i]
        if lsh.query(m):
            continue
        lsh.insert(i, m)
        kept.append(doc_id)
    with open(dst, "w") as fh:
        fh.write("\n".join(kept) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
