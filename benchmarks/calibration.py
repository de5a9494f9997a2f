"""Calibration of `assay fit`'s 95% intervals and of its checks, by simulated ablations with a known truth.

Each draw simulates a whole ablation (every arm at every size, budget and seed, each run with its own seed noise,
`pipeline.scaling.simulate`) and runs exactly what `assay fit` runs on it (`pipeline.scaling.assess.assess`: the
joint fit, the bootstrap, the form checks and, when they fail, the refit without the smallest budgets).  Reported
per scenario (grid x truth x bootstrap method):

- accepted: share of draws whose full fit passes the form checks; answered: share where the report gives an
  answer (the full fit, or the fit without the smallest budgets, passes);
- coverage: share of the true data multipliers (every non-baseline arm) inside the 95% interval of the fit the
  report answers from, over the answered draws (Wilson 95% interval of that share), and of the full fit over all
  draws (what an unchecked report would claim);
- median interval width (high / low), and the pairwise decisions: share of arm pairs decided, share of those right.

Grids: `demo` (the demo's arms, sizes, budgets, seeds and shared parameters, configs/ablate-demo.yaml) and `gpu`
(4 sizes x 4 budgets x 3 seeds, 20M-160M parameters, 0.4B-3.2B tokens, alpha, beta, E and A shared).  Truths: `well` (the fitted form exactly, the demo's own fit for
the demo grid, Chinchilla's for the gpu grid) and `plateau` (the same, with the runs below the smallest budgets
lifted by an early-training plateau the form does not describe).  Noise: the seed noise measured on the demo's real
student runs (`--sigma`).  Run:

    flock /work/heavy.lock nice .venv/bin/python benchmarks/calibration.py --draws 500

Writes benchmarks/out/calibration/calibration.json and calibration.png/.svg, and prints the table.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repo, ahead of benchmarks/filters.py
from pipeline.scaling.simulate import CHINCHILLA, Design, Truth, simulate

OUT = Path(__file__).resolve().parent / "out" / "calibration"
DEMO_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "ablate-demo.yaml"
# Until --demo-fit names the demo's own fit.json: a truth of the demo's magnitude (losses 4-6 nats on its grid).
DEMO_TRUTH = {"E": 3.0, "A": 40.0, "B": 2000.0, "alpha": 0.3, "beta": 0.4}
DEMO_ARMS = {"raw": 1.0, "filtered": 2.0, "control": 0.5}
GPU_ARMS = {"raw": 1.0, "filtered": 2.0, "classifier": 2.5, "control": 0.5}
GPU_SHARE = ("alpha", "beta", "E", "A")
SIGMA = 0.01      # per-run seed noise of log loss measured on the demo's real runs (RESULTS.md)


@dataclass
class Scenario:
    name: str
    design: Design
    truth: Truth
    sigma: float
    method: str = "parametric"
    share: tuple = GPU_SHARE


GPU_BUDGETS = [4e8, 8e8, 1.6e9, 3.2e9]


def demo_grid() -> tuple[Design, tuple[str, ...]]:
    """The demo's grid as configs/ablate-demo.yaml trains it: the models' non-embedding N, the budgets rounded up to
    whole steps, the replicate seeds, and the parameters the fit shares."""
    from pipeline.config import load_config
    from pipeline.scaling.joint import parse_share
    from pipeline.stages.ablate import AblateConfig
    from pipeline.student.model import LADDER, non_embedding_params

    cfg = load_config(AblateConfig, DEMO_CONFIG, {"vars": {"demo": "/demo"}})
    step = cfg.batch_size * cfg.seq_len

    def n(models):
        return [float(non_embedding_params(LADDER[m])) for m in models]

    def d(tokens):
        return [float(math.ceil(t / step) * step) for t in tokens]

    reps = [(n(r.models or cfg.models), d(r.tokens or cfg.tokens), len(r.seeds)) for r in cfg.replicates]
    return (Design(sizes=n(cfg.models), budgets=d(cfg.tokens), seeds=len(cfg.seeds), replicates=reps),
            parse_share(cfg.fit.share))


def gpu_sizes() -> list[float]:
    return [2e7, 4e7, 8e7, 1.6e8]


def scenarios(args) -> list[Scenario]:
    demo, demo_share = demo_grid()
    gpu = Design(sizes=gpu_sizes(), budgets=GPU_BUDGETS, seeds=3)
    truths = {
        ("demo", "well"): Truth(dict(args.demo_truth), dict(args.demo_arms), a_mult=dict(args.demo_a_mult)),
        ("demo", "plateau"): Truth(dict(args.demo_truth), dict(args.demo_arms), a_mult=dict(args.demo_a_mult),
                                   plateau=args.plateau, plateau_d=1.2 * demo.budgets[0]),
        ("gpu", "well"): Truth(dict(CHINCHILLA), dict(GPU_ARMS)),
        ("gpu", "plateau"): Truth(dict(CHINCHILLA), dict(GPU_ARMS), plateau=args.plateau, plateau_d=1.2 * 4e8),
    }
    out = []
    for grid in args.grids:
        for truth in args.truths:
            for method in args.methods:
                if method == "points" and truth != "well":
                    continue
                out.append(Scenario(f"{grid}/{truth}/{method}", demo if grid == "demo" else gpu,
                                    truths[(grid, truth)], args.sigma, method,
                                    demo_share if grid == "demo" else GPU_SHARE))
    return out


def one(job) -> dict:
    """One simulated ablation through `assess`: coverage and decisions of the answer and of the full fit."""
    from pipeline.scaling import decide
    from pipeline.scaling.assess import assess

    sc, i, bootstrap, check_reps = job
    rng = np.random.default_rng([zlib.crc32(sc.name.encode()), i])
    df = simulate(sc.design, sc.truth, sc.sigma, rng)
    arms = list(sc.truth.multipliers)
    a = assess(df, arms, sc.share, "off", 15.4, bootstrap, seed=i, method=sc.method, check_replicates=check_reps)
    ans = a.answer()
    rec = {"full_pass": a.passes, "answered": ans.passes, "trimmed": ans is not a, "arms": {}, "full": {}}
    for arm in arms[1:]:
        k = sc.truth.multipliers[arm]
        for key, fit in (("arms", ans.fit), ("full", a.fit)):
            dm = fit.data_multiplier(arm, arms[0])
            lo, hi = dm["ci_low"], dm["ci_high"]
            rec[key][arm] = {"covered": bool(lo is not None and lo <= k <= hi),
                             "width": None if lo is None or not lo > 0 else hi / lo, "value": dm["value"]}
    pairs = decide.pairwise(ans.fit)
    truth_k = sc.truth.multipliers
    rec["pairs"] = len(pairs)
    rec["decided"] = sum(p["decision"] != "undecided" for p in pairs)
    rec["right"] = sum((p["decision"] == "a") == (truth_k[p["a"]] > truth_k[p["b"]])
                       for p in pairs if p["decision"] != "undecided")
    return rec


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return math.nan, math.nan
    p = k / n
    c = (p + z * z / (2 * n)) / (1 + z * z / n)
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return c - h, c + h


def summarise(sc: Scenario, recs: list[dict]) -> dict:
    answered = [r for r in recs if r["answered"]]
    cov = [v["covered"] for r in answered for v in r["arms"].values()]
    cov_full = [v["covered"] for r in recs for v in r["full"].values()]
    widths = [v["width"] for r in answered for v in r["arms"].values() if v["width"]]
    k = int(sum(cov))
    return {"scenario": sc.name, "draws": len(recs), "sigma": sc.sigma, "method": sc.method,
            "accepted": sum(r["full_pass"] for r in recs) / len(recs),
            "answered": len(answered) / len(recs), "answered_trimmed": sum(r["trimmed"] and r["answered"]
                                                                           for r in recs) / len(recs),
            "coverage": k / len(cov) if cov else None, "coverage_ci": list(wilson(k, len(cov))),
            "intervals": len(cov), "coverage_full_fit_all_draws": float(np.mean(cov_full)),
            "median_width": float(np.median(widths)) if widths else None,
            "decided": sum(r["decided"] for r in answered) / max(1, sum(r["pairs"] for r in answered)),
            "right": sum(r["right"] for r in answered) / max(1, sum(r["decided"] for r in answered)),
            "per_arm": {a: float(np.mean([r["arms"][a]["covered"] for r in answered])) if answered else None
                        for a in recs[0]["arms"]}}


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from pipeline.plots import save_figure

    fig, ax = plt.subplots(figsize=(8, 0.6 * len(rows) + 1.6))
    ax.axvspan(0.90, 0.97, color="tab:green", alpha=0.12, label="target 90-97%")
    ax.axvline(0.95, color="k", lw=0.8, ls=":")
    for i, r in enumerate(rows):
        if r["coverage"] is not None:
            lo, hi = r["coverage_ci"]
            ax.errorbar(r["coverage"], i, xerr=[[r["coverage"] - lo], [hi - r["coverage"]]], fmt="o",
                        color="tab:blue", label="answered draws (Wilson 95%)" if i == 0 else None)
        ax.plot(r["coverage_full_fit_all_draws"], i, "x", color="tab:red",
                label="full fit, all draws (unchecked)" if i == 0 else None)
    ax.set_yticks(range(len(rows)), [f"{r['scenario']}\nanswered {r['answered']:.0%}" for r in rows], fontsize=8)
    ax.set_xlabel("coverage of nominal 95% intervals of the data multipliers")
    ax.set_xlim(min(0.5, min(r["coverage_full_fit_all_draws"] for r in rows) - 0.05), 1.0)
    ax.legend(fontsize=7, loc="lower left")
    ax.set_title("Calibration by simulated ablations (benchmarks/calibration.py)")
    fig.tight_layout()
    save_figure(fig, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--draws", type=int, default=500)
    ap.add_argument("--bootstrap", type=int, default=200)
    ap.add_argument("--check-replicates", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--grids", nargs="+", default=["demo", "gpu"])
    ap.add_argument("--truths", nargs="+", default=["well", "plateau"])
    ap.add_argument("--methods", nargs="+", default=["parametric", "points"])
    ap.add_argument("--sigma", type=float, default=SIGMA, help="per-run seed noise of log loss")
    ap.add_argument("--plateau", type=float, default=0.06, help="plateau height h (relative loss)")
    ap.add_argument("--demo-truth", type=json.loads, default=DEMO_TRUTH, help="JSON dict E, A, B, alpha, beta")
    ap.add_argument("--demo-fit", type=Path, default=None,
                    help="the demo's fit.json: its fit is the demo grid's truth and its measured noise the sigma")
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    args.demo_arms = dict(DEMO_ARMS)
    args.demo_a_mult = {}
    if args.demo_fit:
        from pipeline.scaling.simulate import truth_from_fit

        t, args.sigma = truth_from_fit(json.loads(args.demo_fit.read_text()))
        args.demo_truth, args.demo_arms, args.demo_a_mult = t.params, t.multipliers, t.a_mult
        print(f"demo truth from {args.demo_fit}: {t.params}, multipliers {t.multipliers}, A factors {t.a_mult}, "
              f"sigma {args.sigma:.4f}")
    rows = []
    for sc in scenarios(args):
        t0 = time.perf_counter()
        jobs = [(sc, i, args.bootstrap, args.check_replicates) for i in range(args.draws)]
        with ProcessPoolExecutor(args.workers) as ex:
            recs = list(ex.map(one, jobs, chunksize=4))
        row = summarise(sc, recs)
        row["seconds"] = time.perf_counter() - t0
        rows.append(row)
        print(f"{row['scenario']:28s} draws {row['draws']}  accepted {row['accepted']:.1%}  answered "
              f"{row['answered']:.1%} (trimmed {row['answered_trimmed']:.1%})  coverage "
              f"{row['coverage'] if row['coverage'] is None else format(row['coverage'], '.1%')} "
              f"[{row['coverage_ci'][0]:.1%}, {row['coverage_ci'][1]:.1%}] of {row['intervals']}  full-fit "
              f"{row['coverage_full_fit_all_draws']:.1%}  width x{row['median_width'] or math.nan:.3f}  decided "
              f"{row['decided']:.1%} right {row['right']:.1%}  ({row['seconds']:.0f} s)", flush=True)
    demo, demo_share = demo_grid()
    meta = {"draws": args.draws, "bootstrap": args.bootstrap, "check_replicates": args.check_replicates,
            "sigma": args.sigma, "plateau": args.plateau, "demo_truth": args.demo_truth,
            "demo": {"sizes": demo.sizes, "budgets": demo.budgets, "seeds": demo.seeds, "replicates": demo.replicates,
                     "arms": args.demo_arms, "a_mult": args.demo_a_mult, "share": demo_share,
                     "fit": None if args.demo_fit is None else str(args.demo_fit)},
            "gpu": {"sizes": gpu_sizes(), "budgets": GPU_BUDGETS, "seeds": 3, "arms": GPU_ARMS, "share": GPU_SHARE}}
    (args.out / "calibration.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2) + "\n")
    plot(rows, args.out / "calibration")
    print(f"wrote {args.out / 'calibration.json'} and calibration.png/.svg")


if __name__ == "__main__":
    main()
