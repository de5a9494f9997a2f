"""report.md: the answer first (one sentence per arm), then the plots, the model comparison, the fits with their
95% intervals, multipliers, pools and crossovers, and every warning."""

from __future__ import annotations

import numpy as np

from pipeline.scaling.fit import PARAM_NAMES


def _fmt(v) -> str:
    if v is None or not np.isfinite(v):
        return "n/a"
    return f"{v:.4g}"


def _ci(lo, hi) -> str:
    return f"[{_fmt(lo)}, {_fmt(hi)}]"


STATUS = {"pass": "passed", "fail": "**FAILED**", "not_run": "not run"}
NAMES = {"goodness_of_fit": "goodness of fit (against the seed-noise floor)",
         "held_out": "held-out budgets and sizes", "bounds": "optimiser bounds"}


def _checks_section(result: dict) -> list[str]:
    out = ["## Checks", "",
           "Tests of the fitted form before its numbers are used (`pipeline/scaling/validity.py`); a failed check takes "
           "what rests on it out of the answer.", ""]
    noise = result.get("noise")
    if noise:
        floor = (f"the noise floor measured from replicate seeds is {100 * noise['floor']:.2g}% "
                 f"({noise['floor_df']:.0f} df, {noise['replicated_cells']} cells with more than one seed)"
                 if noise.get("floor") else "no cell has more than one seed, so the noise floor is not measured")
        out += [f"Run-to-run noise (log loss, ~relative): residual sigma {100 * noise['sigma']:.2g}% on "
                f"{noise['df']:.0f} df; {floor}; "
                + ("each arm's own sigma is used (Bartlett p = " + f"{noise['bartlett_p']:.2g}: the arms differ)"
                   if noise["per_arm"] else "one sigma for all arms (Bartlett p = "
                   f"{noise['bartlett_p']:.2g})") + ".", ""]
        arms = noise.get("arms") or {}
        if any(v.get("floor") for v in arms.values()):
            out += ["| arm | noise floor (seeds) | df | residual sigma | df |", "|---|---|---|---|---|"]
            for a, v in arms.items():
                fl = "-" if v.get("floor") is None else f"{100 * v['floor']:.2g}%"
                rs = "-" if v.get("sigma") is None else f"{100 * v['sigma']:.2g}%"
                out.append(f"| {a} | {fl} | {v.get('floor_df') or 0:.0f} | {rs} | {v.get('df') or 0:.1f} |")
            out.append("")
    out += ["| check | result | numbers |", "|---|---|---|"]
    for c in result.get("checks", []):
        out.append(f"| {NAMES.get(c['name'], c['name'])} | {STATUS[c['status']]} | {c['summary']} |")
    form = result.get("form") or {}
    if form.get("failed_full") and (form.get("dropped") or not form.get("supported", True)):
        out += ["", "The fit of all runs failed:", ""] + [f"- {NAMES.get(c['name'], c['name'])}: {c['summary']}"
                                                         for c in form["failed_full"]]
        if form.get("trim_note"):
            out.append(f"- {form['trim_note']}")
    held = next((c for c in result.get("checks", []) if c["name"] == "held_out" and c["details"].get("levels")), None)
    if held:
        out += ["", "| left out | runs | observed - predicted | sd under the form | z | p |", "|---|---|---|---|---|---|"]
        for r in held["details"]["levels"]:
            out.append(f"| {r['dim']} = {r['value']:.3g} | {r['n']} | {100 * r['mean_obs_minus_pred']:+.2g}% | "
                       f"{100 * r['sd']:.2g}% | {r['z']:+.2f} | {_fmt(r['p'])} |")
    return out + [""]


def _decisions_section(result: dict) -> list[str]:
    dec = result.get("decisions")
    if not dec or not dec.get("pairs"):
        return []
    out = ["## Decisions", "",
           "Ratio of the two arms' data multipliers, k_a / k_b, with its 95% interval from the joint bootstrap (all arms "
           "refitted together in every replicate); a is better when the interval lies above 1, worse when below, "
           "undecided when it contains 1. P(a better): share of replicates with a ratio above 1.", "",
           "| a | b | k_a / k_b | 95% CI | P(a better) | decision |", "|---|---|---|---|---|---|"]
    for p in dec["pairs"]:
        d = {"a": f"`{p['a']}` better", "b": f"`{p['b']}` better", "undecided": "undecided"}[p["decision"]]
        out.append(f"| {p['a']} | {p['b']} | {_fmt(p['ratio'])} | {_ci(p['ci_low'], p['ci_high'])} | "
                   f"{_fmt(p['p_a_better'])} | {d} |")
    res = dec.get("resolution")
    if res:
        out += ["", f"Resolution: the median 95% interval of a ratio spans x{res['ratio_50']:.3g} either side, so "
                    f"true ratios beyond about {res['ratio_50']:.3g}x are decided half the time and beyond "
                    f"{res['ratio_80']:.3g}x about 80% of the time."]
    return out + [""]


def _target_section(result: dict) -> list[str]:
    t = result.get("target")
    if not t:
        return []
    out = [f"## At the target N = {t['n']:.4g}, D = {t['d']:.4g}", "",
           f"{t['extrapolation']:.3g}x beyond the largest model size or token budget of the runs. Predicted loss (95% "
           "interval over the bootstrap replicates) and, for every pair, the share of replicates in which a's loss is "
           "lower (decided at 95% when >= 0.975 or <= 0.025).", "",
           "| arm | predicted loss | 95% CI |", "|---|---|---|"]
    for a, v in t["arms"].items():
        out.append(f"| {a} | {_fmt(v['loss'])} | {_ci(v['ci_low'], v['ci_high'])} |")
    out += ["", "| a | b | P(loss_a < loss_b) | order |", "|---|---|---|---|"]
    for r in t["order"]:
        d = {"a": f"`{r['a']}` lower", "b": f"`{r['b']}` lower", "undecided": "undecided"}[r["decision"]]
        out.append(f"| {r['a']} | {r['b']} | {_fmt(r['p_a_lower'])} | {d} |")
    return out + [""]


def render_report(result: dict, fit, extras: dict) -> str:
    lc, base = result["loss_column"], result["baseline"]
    arms = list(result["arms"])
    rep = result["repetition"]
    lines = ["# Scaling-law fits", ""]
    if result.get("unfittable"):
        lines += ["**The data cannot answer:** " + result["unfittable"][0] + ". The numbers below come from a fit "
                  "that these runs do not determine; do not use them.", ""]
    if result["answer"]:
        lines += ["## Answer", ""] + [f"- {s}" for s in result["answer"]] + [""]
    if result.get("not_in_answer"):
        lines += ["## Not in the answer", "",
                  "Numbers the fit gives but its checks do not support, and why:", ""]
        lines += [f"- {s}" for s in result["not_in_answer"]] + [""]
    share = result["share"]
    per_arm = not (share and len(arms) > 1)
    how = ("each arm fitted alone (Chinchilla Approach 3: Huber(delta=1e-3) summed over log-loss residuals, "
           "L-BFGS-B from the 4500-start grid); bootstrap resamples each arm's points" if per_arm else
           f"joint least-squares fit of the log losses of all arms (Levenberg-Marquardt from the best of the 4500-"
           f"start grid), shared {', '.join(share)}, B per arm; " +
           ("parametric bootstrap: every run simulated from the fit with the measured run-to-run noise"
            if result.get("bootstrap_method") == "parametric" else "bootstrap resampling runs within each arm"))
    r = rep.get("r_star") or {}
    rtxt = {"off": "repetition off (D' = D)",
            "fixed": f"repetition-aware, R* fixed at {_fmt(r.get('value'))}",
            "fit": f"repetition-aware, R* fitted: {_fmt(r.get('value'))} {_ci(r.get('ci_low'), r.get('ci_high'))}"}
    used = result.get("n_points_fit", result["n_points"])
    lines += [
        "## Method", "",
        f"Runs: `{result['runs']}` ({result['n_points']} runs" + (f", {used} in the fit" if used != result["n_points"]
                                                                  else "") +
        f"); loss column `{lc}`; {result['model']}; {how}; "
        f"95% percentile intervals from {result['bootstrap']} bootstrap replicates (seed {result['seed']}); "
        f"{result['drop_highest']} highest-loss point(s) dropped per arm; baseline arm `{base}`; "
        f"{rtxt[rep['mode']]}.", "",
    ]
    lines += [f"- note: {n}" for n in result.get("notes", [])] + ([""] if result.get("notes") else [])
    plots = set(result.get("plots", []))
    for stem, title in (("loss_vs_compute", "loss vs compute"), ("data_multiplier", "data multiplier"),
                        ("crossover", "crossover"), ("multiplier", "compute multiplier"),
                        ("loss_vs_tokens", "loss vs tokens")):
        if f"{stem}.png" in plots:
            lines += [f"![{title}]({stem}.png)", ""]

    lines += _checks_section(result)
    lines += _decisions_section(result)
    lines += _target_section(result)
    cmp = result.get("model_comparison")
    if cmp:
        lines += ["## Shared or free parameters?", "", cmp["verdict"][0].upper() + cmp["verdict"][1:] + ".", ""]
        if cmp.get("models"):
            lines += [f"Criteria: {cmp['criterion']}.", "",
                      "| model | free params | LOO RMSE | AIC | AICc | BIC | in-sample RMSE |",
                      "|---|---|---|---|---|---|---|"]
            for name, m in cmp["models"].items():
                lines.append(f"| {name} ({m['description']}) | {m['n_params']} | {_fmt(m.get('loo_rmse'))} | "
                             f"{_fmt(m['aic'])} | {_fmt(m['aicc'])} | {_fmt(m['bic'])} | {_fmt(m['rmse'])} |")
            lines.append("")

    lines += ["## Fits", "", "| arm | points | " + " | ".join(PARAM_NAMES) + " |",
              "|---|---|" + "---|" * len(PARAM_NAMES)]
    for arm in arms:
        a = result["arms"][arm]
        cells = [f"{_fmt(a['params'][k])} {_ci(*(a['ci95'].get(k) or (None, None)))}" for k in PARAM_NAMES]
        lines.append(f"| {arm} | {a['n_points']} | " + " | ".join(cells) + " |")
    if share and len(arms) > 1:
        lines += ["", f"Shared across arms: {', '.join(share)} (same value in every row)."]

    lines += ["", "## Data multiplier", "",
              f"One token of the arm is worth k tokens of `{base}` at any model size: k = (B_{base} / B_arm)^(1/beta)"
              " (needs beta shared; the A term can differ too, see the fits).", "",
              "| arm | k | 95% CI |", "|---|---|---|"]
    for arm in arms:
        d = result["arms"][arm]["data_multiplier"]
        lines.append(f"| {arm} | {_fmt(d['value'])} | {_ci(d['ci_low'], d['ci_high'])} |"
                     if d["value"] is not None else f"| {arm} | n/a | {d.get('reason', '')} |")
    planted = {a: e["planted"] for a, e in result["arms"].items() if "planted" in e}
    if planted:
        lines += ["", "### Positive controls", "", "| arm | against | planted | measured | 95% CI | recovered |",
                  "|---|---|---|---|---|---|"]
        for a, p in planted.items():
            m = p["measured"]
            lines.append(f"| {a} | {p['source']} | {p['value']:g} | {_fmt(m['value'])} | "
                         f"{_ci(m['ci_low'], m['ci_high'])} | {'yes' if p['recovered'] else 'NO'} |")

    curves = extras["curves"]
    lines += ["", "## Effective compute multiplier", "",
              f"M(L*) = C_{base}(L*) / C_arm(L*) along each arm's compute-optimal frontier with fresh data (C = 6ND):"
              f" how many times less compute the arm needs than `{base}` to reach target {lc} L*. n/a: an arm never"
              " reaches L* (below its fitted E) or too few bootstrap fits do.", ""]
    if curves:
        any_curve = next(iter(curves.values()))
        n = len(any_curve["loss"])
        k = extras.get("report_targets", 5)
        idx = sorted({int(round(i)) for i in np.linspace(0, n - 1, min(k, n))}) if n else []
        lines += ["| arm | " + " | ".join(f"L*={any_curve['loss'][i]:.4g}" for i in idx) + " |",
                  "|---|" + "---|" * len(idx)]
        for arm, c in curves.items():
            cells = [f"{_fmt(c['m'][i])} {_ci(c['lo'][i], c['hi'][i])}" for i in idx]
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    else:
        lines.append("(only one arm: no multipliers)")

    pools = {a: e["pool"] for a, e in result["arms"].items() if e.get("pool")}
    if pools or result.get("crossovers"):
        lines += ["", "## Pools, repetition and crossovers", ""]
        if pools:
            lines += ["| arm | unique tokens | starts repeating at (FLOPs) | 95% CI |", "|---|---|---|---|"]
            for a, p in pools.items():
                lines.append(f"| {a} | {p['unique_tokens']:.4g} | {_fmt(p['repeat_compute'])} | "
                             f"{_ci(p['ci_low'], p['ci_high'])} |")
            lines.append("")
        if result.get("crossovers"):
            lines += [f"Compute range examined: {result['compute_range'][0]:.3g} to {result['compute_range'][1]:.3g}"
                      f" FLOPs (largest run {result['max_run_flops']:.3g}).", "",
                      "| leader at low compute | overtaken by | at compute | 95% CI | replicates crossing |",
                      "|---|---|---|---|---|"]
            for row in result["crossovers"]:
                lo = "below range" if row["ci_low"] is None else f"{row['ci_low']:.3g}"
                hi = "beyond range" if row["ci_high"] is None else f"{row['ci_high']:.3g}"
                share_c = "n/a" if row.get("share_crossing") is None else f"{row['share_crossing']:.0%}"
                none = row["compute"] is None
                lines.append(f"| {row['leader']} | {row['overtaken_by']} | "
                             f"{'none in range' if none else format(row['compute'], '.3g')} | "
                             f"{'-' if none else f'[{lo}, {hi}]'} | {share_c} |")
    flagged = result.get("over_four_epochs") or []
    if flagged:
        lines += ["", "## Runs past four epochs", "",
                  "Repeated tokens are worth less than fresh ones past ~4 epochs (Muennighoff et al. 2023).", "",
                  "| row | arm | N | D | epochs |", "|---|---|---|---|---|"]
        lines += [f"| {f['row']} | {f['arm']} | {f['params']:.4g} | {f['tokens']:.4g} | {f['epochs']:.2f} |"
                  for f in flagged]

    lines += ["", "## Warnings", ""]
    warned = False
    for w in result.get("warnings", []):
        lines.append(f"- {w}")
        warned = True
    common = set(result.get("warnings", []))
    for arm in arms:
        for w in result["arms"][arm]["warnings"]:
            if w not in common:
                lines.append(f"- **{arm}**: {w}")
                warned = True
    if not warned:
        lines.append("None: every fit is well conditioned by the checks run (points, ranges, bounds, CI widths).")
    return "\n".join(lines) + "\n"
