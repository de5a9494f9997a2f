"""Decision accuracy by simulation, as DataDecide (Magnusson et al. 2025) measures it on real runs: how often does
an ablation at a fraction of the target compute order data recipes as they rank at the target?

Each draw: K arms with data multipliers drawn log-uniformly over 0.5-3x (and, in the `e_shift` truth, each arm's
irreducible loss E moved by up to +-2%, so orders can change with scale); the target is a 1B-parameter model
trained on 100B tokens (DataDecide's 100 tokens per parameter); the ablation at compute fraction f is a ladder of 4
sizes (N_max/8 .. N_max, N_max = 1B sqrt(f)) x 4 budgets (12.5-100 tokens per parameter) x 3 seeds, so its largest
run costs f of the target.  Every run gets the per-run seed noise measured on this project's real student runs
(`--sigma`).  The true order is the truth's loss at the target.

- assay: `assess` on the runs (the joint fit, its checks, the refit without the smallest budgets when they fail)
  and `decide.at_target` at the target; a pair is decided when P(loss_a < loss_b) >= 0.975 or <= 0.025, and
  no pair is decided when the report does not accept the fit.  Reported: the share of pairs decided, the share of
  decided pairs that are right (goal >= 95%), and the accuracy of the fit's point-estimate order on all pairs.
- baseline: rank the arms by their mean loss at the single largest run of the ablation (every pair decided).

Run:

    flock /work/heavy.lock nice .venv/bin/python benchmarks/decision_accuracy.py

Writes benchmarks/out/decision_accuracy/decision_accuracy.json and accuracy.png/.svg (accuracy against compute
fraction), and prints the table.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo, ahead of benchmarks/filters.py
from pipeline.scaling.simulate import CHINCHILLA, Design, Truth, simulate

OUT = Path(__file__).resolve().parent / "out" / "decision_accuracy"
N_TARGET, D_TARGET = 1e9, 1e11
FRACTIONS = (0.001, 0.003, 0.01, 0.02, 0.05, 0.1)
TPP = (12.5, 25.0, 50.0, 100.0)
SHARES = {"shared": ("alpha", "beta", "E", "A"), "e_shift": ("alpha", "beta", "A")}
SIGMA = 0.01      # per-run seed noise of log loss measured on the demo's real runs (RESULTS.md)


def one(job) -> dict:
    from pipeline.scaling import decide
    from pipeline.scaling.assess import assess

    truth_kind, frac, i, arms_n, sigma, bootstrap, check_reps = job
    rng = np.random.default_rng([int(frac * 1e6), i, 0 if truth_kind == "shared" else 1])
    arms = [f"arm{j}" for j in range(arms_n)]
    ks = np.exp(rng.uniform(math.log(0.5), math.log(3.0), arms_n))
    e_shift = {a: float(rng.uniform(-0.02, 0.02)) for a in arms} if truth_kind == "e_shift" else {}
    truth = Truth(dict(CHINCHILLA), dict(zip(arms, ks)), e_shift=e_shift)
    n_max = N_TARGET * math.sqrt(frac)
    design = Design(sizes=[n_max / 8, n_max / 4, n_max / 2, n_max], tokens_per_param=list(TPP), seeds=3)
    df = simulate(design, truth, sigma, rng)
    true_t = {a: float(truth.loss(a, N_TARGET, D_TARGET)) for a in arms}
    largest = df[(df["params"] == n_max) & (df["tokens"] == n_max * TPP[-1])].groupby("arm")["loss"].mean()
    a = assess(df, arms, SHARES[truth_kind], "off", 15.4, bootstrap, seed=i, check_replicates=check_reps)
    ans = a.answer()
    t = decide.at_target(ans.fit, N_TARGET, D_TARGET) if ans.passes else None
    rec = {"pairs": 0, "decided": 0, "right": 0, "point_right": 0, "baseline_right": 0, "answered": ans.passes}
    order = {(r["a"], r["b"]): r for r in t["order"]} if t else {}
    for x, y in itertools.combinations(arms, 2):
        truth_x_lower = true_t[x] < true_t[y]
        rec["pairs"] += 1
        rec["baseline_right"] += (largest[x] < largest[y]) == truth_x_lower
        if t:
            r = order[(x, y)]
            rec["point_right"] += (r["loss_a"] < r["loss_b"]) == truth_x_lower
            if r["decision"] != "undecided":
                rec["decided"] += 1
                rec["right"] += (r["decision"] == "a") == truth_x_lower
    return rec


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--draws", type=int, default=100, help="simulated ablations per compute fraction and truth")
    ap.add_argument("--arms", type=int, default=6)
    ap.add_argument("--fractions", type=float, nargs="+", default=list(FRACTIONS))
    ap.add_argument("--truths", nargs="+", default=list(SHARES))
    ap.add_argument("--sigma", type=float, default=SIGMA)
    ap.add_argument("--sigma-from", type=Path, default=None, help="a fit.json whose measured noise floor is the sigma")
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--check-replicates", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.sigma_from:
        noise = json.loads(args.sigma_from.read_text())["noise"]
        args.sigma = float(noise.get("floor") or noise["sigma"])
        print(f"sigma {args.sigma:.4f} per run, measured in {args.sigma_from}")
    rows = []
    for truth_kind in args.truths:
        for frac in args.fractions:
            t0 = time.perf_counter()
            jobs = [(truth_kind, frac, i, args.arms, args.sigma, args.bootstrap, args.check_replicates)
                    for i in range(args.draws)]
            with ProcessPoolExecutor(args.workers) as ex:
                recs = list(ex.map(one, jobs, chunksize=2))
            pairs = sum(r["pairs"] for r in recs)
            answered = [r for r in recs if r["answered"]]
            ans_pairs = sum(r["pairs"] for r in answered)
            decided = sum(r["decided"] for r in recs)
            row = {"truth": truth_kind, "fraction": frac, "draws": len(recs), "pairs": pairs,
                   "answered": len(answered) / len(recs), "decided": decided / pairs,
                   "right_of_decided": sum(r["right"] for r in recs) / decided if decided else None,
                   "point_accuracy": sum(r["point_right"] for r in answered) / ans_pairs if ans_pairs else None,
                   "baseline_accuracy": sum(r["baseline_right"] for r in recs) / pairs,
                   "seconds": time.perf_counter() - t0}
            rows.append(row)
            print(f"{truth_kind:8s} fraction {frac:<6g} answered {row['answered']:.0%}  decided {row['decided']:.1%}"
                  f"  right of decided {row['right_of_decided'] or math.nan:.1%}  point-order accuracy "
                  f"{row['point_accuracy'] or math.nan:.1%}  baseline (largest run) {row['baseline_accuracy']:.1%}"
                  f"  ({row['seconds']:.0f} s)", flush=True)
    meta = {"target": [N_TARGET, D_TARGET], "tokens_per_param": TPP, "sizes": "N_max/8..N_max", "seeds": 3,
            "arms": args.arms, "multipliers": [0.5, 3.0], "sigma": args.sigma,
            "sigma_from": None if args.sigma_from is None else str(args.sigma_from), "bootstrap": args.bootstrap,
            "check_replicates": args.check_replicates, "draws": args.draws, "shares": SHARES,
            "anchors": {"DataDecide single-scale ranking": "~80% of pairs at ~2% of target compute",
                        "DCLM 411M/1B -> 7B": "83-84% of pairs"}}
    (args.out / "decision_accuracy.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    plot(rows, args.out / "accuracy")
    print(f"wrote {args.out / 'decision_accuracy.json'} and accuracy.png/.svg")


def plot(rows: list[dict], stem: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipeline.plots import save_figure

    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    styles = {"shared": "-", "e_shift": "--"}
    for truth_kind in dict.fromkeys(r["truth"] for r in rows):
        rs = [r for r in rows if r["truth"] == truth_kind]
        x = [r["fraction"] for r in rs]
        ls = styles.get(truth_kind, "-")
        ax.plot(x, [r["right_of_decided"] for r in rs], "o" + ls, color="tab:blue",
                label=f"assay, decided pairs right ({truth_kind})")
        ax.plot(x, [r["decided"] for r in rs], "^" + ls, color="tab:green", label=f"assay, share decided ({truth_kind})")
        ax.plot(x, [r["baseline_accuracy"] for r in rs], "s" + ls, color="tab:red",
                label=f"largest small run, all pairs ({truth_kind})")
    ax.axhline(0.95, color="tab:blue", lw=0.8, ls=":")
    ax.plot([0.02], [0.80], "*", color="k", ms=12, label="DataDecide single scale (~80% at ~2%)")
    ax.set_xscale("log")
    ax.set_xlabel("compute of the largest ablation run / target compute")
    ax.set_ylabel("share of arm pairs")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("Decision accuracy against compute fraction (simulated, seed noise from real runs)")
    save_figure(fig, stem)


if __name__ == "__main__":
    main()
