"""Scoring a curation run against the embedded corpus's ground truth (_truth.jsonl): where did each kind go?

Used by the curate-quality benchmark and its test. Rows are joined on URL (unique per page in the corpus).
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow.parquet as pq


def _urls(folder: Path, columns=("url",)) -> list[dict]:
    rows: list[dict] = []
    for f in sorted(folder.glob("*.parquet")) if folder.exists() else []:
        names = pq.read_schema(f).names
        rows += pq.read_table(f, columns=[c for c in columns if c in names]).to_pylist()
    return rows


def outcome_by_kind(out_dir: Path, truth_path: Path, data_dir: Path | None = None) -> dict[str, dict]:
    """Per kind: documents, share kept, share removed, share quarantined, and the top removal reasons."""
    out_dir = Path(out_dir)
    truth = [json.loads(line) for line in Path(truth_path).read_text().splitlines() if line.strip()]
    kind = {t["url"]: t["kind"] for t in truth}
    where: dict[str, str] = {}
    reason: dict[str, str] = {}
    for r in _urls(data_dir or out_dir / "data"):
        where[r["url"]] = "kept"
    for r in _urls(out_dir / "rejects", ("url", "reason")):
        where[r["url"]] = "removed"
        reason[r["url"]] = r["reason"]
    totals: Counter = Counter(kind.values())
    per: dict[str, Counter] = defaultdict(Counter)
    reasons: dict[str, Counter] = defaultdict(Counter)
    for url, k in kind.items():
        w = where.get(url, "quarantined")
        per[k][w] += 1
        if w == "removed":
            reasons[k][reason[url]] += 1
    return {k: {"docs": n, "kept": per[k]["kept"] / n, "removed": per[k]["removed"] / n,
                "quarantined": per[k]["quarantined"] / n, "top_reasons": dict(reasons[k].most_common(3))}
            for k, n in sorted(totals.items())}


DEDUPE_REASONS = {"exact_duplicate", "near_duplicate"}


def duplicate_clusters(out_dir: Path, truth_path: Path) -> dict[str, float]:
    """Ground-truth duplicate clusters (>= 2 pages) after a run: the share left with exactly one kept page (resolved),
    with more than one (missed duplicates) and with none although a member was removed only as a duplicate
    (over-removal). Which member survives does not matter: the keeper rule picks one."""
    out_dir = Path(out_dir)
    truth = [json.loads(line) for line in Path(truth_path).read_text().splitlines() if line.strip()]
    kept = {r["url"] for r in _urls(out_dir / "data")}
    dedupe_removed = {r["url"] for r in _urls(out_dir / "rejects", ("url", "reason")) if r["reason"] in DEDUPE_REASONS}
    members: dict = defaultdict(list)
    for t in truth:
        members[t["cluster"]].append(t["url"])
    clusters = [m for m in members.values() if len(m) > 1]
    n = max(len(clusters), 1)
    kept_per = [sum(u in kept for u in m) for m in clusters]
    over = sum(k == 0 and any(u in dedupe_removed for u in m) for k, m in zip(kept_per, clusters))
    return {"clusters": len(clusters), "resolved": sum(k == 1 for k in kept_per) / n,
            "missed": sum(k > 1 for k in kept_per) / n, "over_removed": over / n}
