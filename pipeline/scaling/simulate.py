"""Simulated ablations with a known truth: the runs table an ablation of a given design would produce.

Truth: L_k(N, D) = E + A / N^alpha + B k^-beta / D^beta for arm k with data multiplier k (one token of the arm is
worth k tokens of the baseline), optionally per-arm E offsets (`e_shift`, so orders can change with scale), and
optionally an early-training plateau the form does not describe: L x (1 + h / (1 + (D / D_p)^s)), which lifts the
runs below D_p by up to h (s: how sharply the plateau ends; 8: by 2 D_p the lift is h / 257).  Every run gets its own seed noise, log L x exp(Normal(0, sigma^2)).  Used by
`benchmarks/calibration.py`, `benchmarks/decision_accuracy.py` and the calibration tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

CHINCHILLA = {"E": 1.69, "A": 406.4, "B": 410.7, "alpha": 0.34, "beta": 0.28}


@dataclass
class Design:
    sizes: list[float]                   # N (non-embedding parameters)
    budgets: list[float] | None = None   # D for every size (or tokens_per_param)
    seeds: int = 1
    tokens_per_param: list[float] | None = None   # D = N x each of these (a ladder), instead of fixed budgets
    replicates: list[tuple[list[float], list[float], int]] = field(default_factory=list)  # (sizes, budgets, more seeds)

    def cells(self) -> list[tuple[float, float]]:
        if self.tokens_per_param is not None:
            return [(n, n * t) for n in self.sizes for t in self.tokens_per_param]
        return [(n, d) for n in self.sizes for d in self.budgets]

    def runs(self) -> list[tuple[float, float, int]]:
        """(N, D, seed) of every run: the grid with `seeds`, then the replicate seeds."""
        out = [(n, d, s) for n, d in self.cells() for s in range(self.seeds)]
        for sizes, budgets, more in self.replicates:
            out += [(n, d, self.seeds + s) for n in sizes for d in budgets for s in range(more)]
        return out


@dataclass
class Truth:
    params: dict = field(default_factory=lambda: dict(CHINCHILLA))
    multipliers: dict = field(default_factory=dict)      # arm -> k (the first arm is the baseline, k = 1)
    e_shift: dict = field(default_factory=dict)          # arm -> relative change of E (0.01: E x 1.01)
    a_mult: dict = field(default_factory=dict)           # arm -> factor on A (a per-arm N term)
    plateau: float = 0.0                                 # h
    plateau_d: float | None = None                       # D_p
    plateau_sharpness: float = 8.0                       # s

    def loss(self, arm: str, n, d) -> np.ndarray:
        p = self.params
        k = self.multipliers.get(arm, 1.0)
        e = p["E"] * (1.0 + self.e_shift.get(arm, 0.0))
        n, d = np.asarray(n, dtype=np.float64), np.asarray(d, dtype=np.float64)
        a = p["A"] * self.a_mult.get(arm, 1.0)
        out = e + a / n ** p["alpha"] + p["B"] * k ** -p["beta"] / d ** p["beta"]
        if self.plateau and self.plateau_d:
            out = out * (1.0 + self.plateau / (1.0 + (d / self.plateau_d) ** self.plateau_sharpness))
        return out


def truth_from_fit(fit_json: dict) -> tuple[Truth, float]:
    """A truth that is a joint fit's own point estimate (fit.json of `assay fit`: the baseline's parameters, each
    arm's data multiplier and A), and the run-to-run noise it measured (the seed floor when measured, else the
    residual sigma)."""
    base = fit_json["baseline"]
    p = dict(fit_json["arms"][base]["params"])
    mult, a_mult = {}, {}
    for arm, e in fit_json["arms"].items():
        mult[arm] = e["data_multiplier"]["value"] or 1.0
        a_mult[arm] = e["params"]["A"] / p["A"]
    mult = {base: mult.pop(base), **mult}
    noise = fit_json.get("noise") or {}
    return Truth(p, mult, a_mult=a_mult), float(noise.get("floor") or noise["sigma"])


def simulate(design: Design, truth: Truth, sigma: float, rng: np.random.Generator) -> pd.DataFrame:
    """One ablation: a runs table (arm, params, tokens, flops, seed, loss) with per-run noise `sigma` (log)."""
    rows = []
    for arm in truth.multipliers:
        rows += [(arm, n, d, s) for n, d, s in design.runs()]
    df = pd.DataFrame(rows, columns=["arm", "params", "tokens", "seed"])
    mean = np.concatenate([truth.loss(a, g["params"], g["tokens"]) for a, g in df.groupby("arm", sort=False)])
    df["loss"] = mean * np.exp(rng.normal(0.0, sigma, len(df)))
    df["flops"] = 6.0 * df["params"] * df["tokens"]
    df["unique_tokens"] = np.nan
    df["epochs"] = np.nan
    df["row"] = np.arange(len(df)) + 2
    return df
