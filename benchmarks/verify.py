"""Code verification as a user meets it: exercise sets sent by an OpenAI-compatible teacher to `assay generate`,
one run per checkout side by side (this tree's `assay`, and e.g. main's before issue 18 with `--baseline`).

    .venv/bin/python benchmarks/verify.py --mbpp DATA/mbpp.jsonl --humaneval DATA/HumanEval.jsonl \\
        --baseline /work/main/.venv/bin/assay

Data (real, public, written by no one here; pin the commits you fetched in RESULTS.md):
- MBPP (974 tasks, `mbpp.jsonl` of google-research's release): code = ``test_setup_code`` + ``code``, tests =
  ``test_list`` (3 asserts each);
- HumanEval (`HumanEval.jsonl`, gunzipped from openai/human-eval's data/HumanEval.jsonl.gz): code = prompt +
  canonical solution; tests = the ``assert`` statements of ``check(candidate)`` with ``candidate`` renamed to the
  entry point (the 157 problems whose ``check`` is only asserts; the schema's 20-test limit keeps the first 20);
- the gaming battery of tests/gaming_battery.py (34 wrong exercises that game a checker; honest: their twins);
- the procedural teacher's own exercises (`--procedural N` seed documents, the default teacher).

Each exercise is one exercise set answered by a stub server on 127.0.0.1 (in this process) that finds the item's
id in the prompt (the seed document starts with it). The command run is
``assay generate SEEDS -o OUT -c CFG --executor local`` with ``teacher: openai``, only the ``exercise_set`` task
(kinds: code, one audience, ``min_words: 0``), dedupe off. Kept = a row in ``OUT/data``; otherwise the reject
reason from ``OUT/rejects`` (``code_failed``, ``too_few_tests``, ...). Results: a table per data set, the battery
pattern by pattern, ``.bench/verify/results.json`` and a plot (PNG, SVG).
"""
from __future__ import annotations

import argparse
import ast
import json
import re
import shutil
import subprocess
import sys
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / ".bench" / "verify"
ITEM = re.compile(r"ITEM-[A-Za-z0-9_.-]+")


def mbpp_items(path: str) -> list[tuple[str, str, list[str]]]:
    rows = [json.loads(line) for line in open(path, encoding="utf-8")]
    return [(f"mbpp-{r['task_id']}", (r["test_setup_code"] + "\n" + r["code"]).strip() + "\n", r["test_list"])
            for r in rows]


def humaneval_items(path: str) -> tuple[list[tuple[str, str, list[str]]], int]:
    out, skipped = [], 0
    for line in open(path, encoding="utf-8"):
        p = json.loads(line)
        check = next(n for n in ast.parse(p["test"]).body if isinstance(n, ast.FunctionDef) and n.name == "check")
        if not all(isinstance(s, ast.Assert) for s in check.body):
            skipped += 1  # loops, helpers, random inputs: not expressible as assert statements
            continue

        class Rename(ast.NodeTransformer):
            def visit_Name(self, n):
                return ast.copy_location(ast.Name(p["entry_point"], n.ctx), n) if n.id == "candidate" else n

        tests = [ast.unparse(Rename().visit(s)) for s in check.body][:20]
        out.append((f"humaneval-{p['task_id'].split('/')[1]}", p["prompt"] + p["canonical_solution"], tests))
    return out, skipped


def battery_items() -> tuple[list, list]:
    sys.path.insert(0, str(ROOT / "tests"))
    from gaming_battery import BATTERY
    wrong = [(f"battery-{i:02d}", code, tests) for i, (_, code, tests, _) in enumerate(BATTERY)]
    twins = [(f"twin-{i:02d}", h, tests) for i, (_, _, tests, h) in enumerate(BATTERY) if h]
    return wrong, twins


def exercise(question: str, code: str, tests: list[str]) -> dict:
    return {"kind": "code", "question": question, "solution": "See the code.", "answer": "", "work": "",
            "code": code, "tests": tests}


class Replay(BaseHTTPRequestHandler):
    sets: dict[str, str] = {}
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        m = ITEM.search(json.dumps(body.get("messages", body.get("prompt", ""))))
        content = self.sets.get(m.group(0), '{"exercises": []}') if m else '{"exercises": []}'
        out = json.dumps({"id": "x", "object": "chat.completion", "model": body.get("model"),
                          "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                       "finish_reason": "stop"}],
                          "usage": {"prompt_tokens": 1, "completion_tokens": len(content.split()),
                                    "total_tokens": 1 + len(content.split())}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


def run_assay(assay: str, label: str, items: list[tuple[str, str, list[str]]], port: int) -> tuple[dict, float]:
    """item id -> "kept" or the reject reason, from one `assay generate` run over the items."""
    work = BENCH / label
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    seeds = work / "seeds.jsonl"
    seeds.write_text("".join(json.dumps({"id": i, "text": f"ITEM-{i} is a programming exercise. Write the "
                                         "function it asks for and test it with assert statements."}) + "\n"
                             for i, _, _ in items))
    cfg = {"generate": {"teacher": {"kind": "openai", "base_url": f"http://127.0.0.1:{port}/v1", "model": "replay",
                                    "api_key_env": None, "max_attempts": 2},
                        "synthesis": {"tasks": [{"task": "exercise_set", "kinds": ["code"], "min_words": 0,
                                                 "audiences": ["high_school"]}]}},
           "dedupe": None}
    (work / "config.json").write_text(json.dumps(cfg))
    t0 = time.perf_counter()
    r = subprocess.run([assay, "generate", str(seeds), "-o", str(work / "out"), "-c", str(work / "config.json"),
                        "--executor", "local", "--no-progress", "--overwrite"], capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode:
        sys.exit(f"{assay} generate failed ({r.returncode}):\n{r.stderr[-3000:]}")
    import pyarrow.parquet as pq
    out = {i: "missing" for i, _, _ in items}
    for sub, reason in (("rejects", None), ("data", "kept")):
        d = work / "out" / sub
        if d.exists() and any(d.glob("*.parquet")):
            for row in pq.read_table(d).to_pylist():
                out[row["seed_id"]] = reason or row["reason"]
    q = work / "out" / "quarantine"
    if q.exists() and any(q.glob("*.parquet")):
        for row in pq.read_table(q).to_pylist():
            sid = str(row.get("seed_id") or row.get("id") or "")
            if sid in out:
                out[sid] = "quarantined"
    return out, wall


def procedural(assay: str, label: str, seeds: int) -> dict:
    """Code exercises of the procedural teacher: kept vs rejected by reason (one `assay generate` run)."""
    sys.path.insert(0, str(ROOT))
    from pipeline.corpus.prose import prose_pool
    work = BENCH / label
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    arts = [a for a in prose_pool() if len(a.paragraphs) >= 3]
    src = work / "seeds.jsonl"
    src.write_text("".join(json.dumps({"id": f"s{i}", "text": "\n\n".join(arts[i % len(arts)].paragraphs[:4])})
                           + "\n" for i in range(seeds)))
    cfg = {"generate": {"synthesis": {"tasks": [{"task": "exercise_set", "kinds": ["code"], "n_exercises": 4}]}},
           "dedupe": None}
    (work / "config.json").write_text(json.dumps(cfg))
    t0 = time.perf_counter()
    subprocess.run([assay, "generate", str(src), "-o", str(work / "out"), "-c", str(work / "config.json"),
                    "--executor", "local", "--no-progress", "--overwrite"], check=True, capture_output=True)
    wall = time.perf_counter() - t0
    import pyarrow.parquet as pq
    counts: Counter = Counter()
    for sub in ("data", "rejects"):
        d = work / "out" / sub
        if d.exists() and any(d.glob("*.parquet")):
            for row in pq.read_table(d).to_pylist():
                if row.get("kind") == "code":
                    counts["kept" if sub == "data" else row["reason"]] += 1
    return {"counts": dict(counts), "wall_s": round(wall, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mbpp", required=True, help="mbpp.jsonl (google-research MBPP, full)")
    ap.add_argument("--humaneval", required=True, help="HumanEval.jsonl (openai/human-eval, gunzipped)")
    ap.add_argument("--procedural", type=int, default=100, help="seed documents for the procedural teacher (0: off)")
    ap.add_argument("--baseline", help="another checkout's `assay` executable, run on the same inputs")
    ap.add_argument("--limit", type=int, default=0, help="first N items of each data set (0: all)")
    args = ap.parse_args()
    he, he_skipped = humaneval_items(args.humaneval)
    wrong, twins = battery_items()
    sets = {"MBPP": mbpp_items(args.mbpp), "HumanEval": he, "battery (wrong)": wrong, "battery twins": twins}
    if args.limit:
        sets = {k: v[:args.limit] for k, v in sets.items()}
    Replay.sets = {f"ITEM-{i}": json.dumps({"exercises": [exercise(f"Exercise {i}: write the function.", c, t)]})
                   for items in sets.values() for i, c, t in items}
    server = ThreadingHTTPServer(("127.0.0.1", 0), Replay)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    runs = {"this tree": str(ROOT / ".venv" / "bin" / "assay")}
    if args.baseline:
        runs["baseline"] = args.baseline
    all_items = [it for items in sets.values() for it in items]
    results: dict = {"humaneval_not_asserts": he_skipped, "runs": {}}
    for label, assay in runs.items():
        got, wall = run_assay(assay, f"replay-{label.replace(' ', '-')}", all_items, port)
        res = {"assay": assay, "wall_s": round(wall, 1), "items": got}
        if args.procedural:
            res["procedural"] = procedural(assay, f"procedural-{label.replace(' ', '-')}", args.procedural)
        results["runs"][label] = res
        print(f"{label}: {assay} ({wall:.0f} s for {len(all_items)} exercise sets)", file=sys.stderr)
    server.shutdown()
    labels = list(runs)
    summary = {}
    print("| data set | exercises | " + " | ".join(f"kept ({lb})" for lb in labels) + " | rejected by reason |")
    print("|---|--:|" + "--:|" * len(labels) + "---|")
    for name, items in sets.items():
        row = {}
        for lb in labels:
            outcome = [results["runs"][lb]["items"][i] for i, _, _ in items]
            row[lb] = {"kept": outcome.count("kept"), "reasons": dict(Counter(o for o in outcome if o != "kept"))}
        summary[name] = {"n": len(items), **row}
        reasons = "; ".join(f"{lb}: " + (", ".join(f"{k} {v}" for k, v in sorted(row[lb]["reasons"].items())) or "-")
                            for lb in labels)
        print(f"| {name} | {len(items)} | " + " | ".join(f"{row[lb]['kept']} ({row[lb]['kept'] / len(items):.1%})"
                                                       for lb in labels) + f" | {reasons} |")
    if len(labels) == 2:
        for name in ("MBPP", "HumanEval", "battery twins"):
            items = sets[name]
            base_kept = [i for i, _, _ in items if results["runs"]["baseline"]["items"][i] == "kept"]
            both = sum(results["runs"]["this tree"]["items"][i] == "kept" for i in base_kept)
            summary[name]["kept_of_baseline_kept"] = [both, len(base_kept)]
            print(f"\n{name}: this tree keeps {both} of the {len(base_kept)} the baseline keeps "
                  f"({both / max(1, len(base_kept)):.1%})")
    for lb in labels:
        if "procedural" in results["runs"][lb]:
            c = results["runs"][lb]["procedural"]["counts"]
            n = sum(c.values())
            print(f"\nprocedural teacher ({lb}): {c.get('kept', 0)} of {n} code exercises kept; {c}")
    sys.path.insert(0, str(ROOT / "tests"))
    from gaming_battery import BATTERY
    print("\n| # | gaming pattern | " + " | ".join(labels) + " |\n|--:|---|" + "---|" * len(labels))
    for (i, _, _), (name, *_) in zip(sets["battery (wrong)"], BATTERY):
        print(f"| {i.split('-')[1]} | {name} | " + " | ".join(results["runs"][lb]["items"][i] for lb in labels) + " |")
    results["summary"] = summary
    BENCH.mkdir(parents=True, exist_ok=True)
    (BENCH / "results.json").write_text(json.dumps(results, indent=1))
    plot(summary, labels)
    print(f"\n{BENCH / 'results.json'}, {BENCH / 'verify.png'}, {BENCH / 'verify.svg'}", file=sys.stderr)


def plot(summary: dict, labels: list[str]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    names = list(summary)
    fig, ax = plt.subplots(figsize=(8, 3.5))
    w = 0.8 / len(labels)
    for k, lb in enumerate(labels):
        vals = [summary[n][lb]["kept"] / summary[n]["n"] for n in names]
        bars = ax.bar([x + k * w for x in range(len(names))], vals, w, label=lb)
        ax.bar_label(bars, [f"{v:.0%}" for v in vals], fontsize=7)
    ax.set_xticks([x + w * (len(labels) - 1) / 2 for x in range(len(names))], names)
    ax.set_ylabel("kept as verified")
    ax.set_ylim(0, 1.1)
    ax.legend(fontsize=8)
    ax.set_title("Exercises kept by `assay generate` (battery: wrong code that games a checker)", fontsize=9)
    fig.tight_layout()
    for ext in ("png", "svg"):
        fig.savefig(BENCH / f"verify.{ext}")


if __name__ == "__main__":
    main()
