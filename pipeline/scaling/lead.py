"""The report's lead ("Answer") and what is kept out of it ("Not in the answer"), from fit.json's content.

Rules: the lead holds only numbers whose checks passed (`pipeline.scaling.validity`).  When the form does not
describe the runs the lead says so first, then answers from the fit without the smallest budgets if that one passes
its checks (and says how many runs it left out), or gives no ranking at all.  A number resting on a parameter at an
optimiser bound, or needing the form more than EXTRAPOLATION_LIMIT times beyond the runs in model size or tokens
(squared, in compute), is listed under "Not in the answer" with the reason.
"""

from __future__ import annotations

import math

from pipeline.scaling.decide import ranking_text
from pipeline.scaling.validity import ALL, COMPUTE, CROSSOVERS, DATA, EXTRAPOLATION_LIMIT, TARGET


def _f(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    if isinstance(v, float) and math.isinf(v):
        return "+inf" if v > 0 else "0"
    return f"{v:.3g}"


CHECK_NAMES = {"goodness_of_fit": "goodness of fit", "held_out": "held-out prediction", "bounds": "bounds"}
STATUS = {"pass": "passed", "fail": "FAILED", "not_run": "not run"}


def _failed(checks: list[dict], what: str) -> list[dict]:
    return [c for c in checks if c["status"] == "fail" and (ALL in c["affects"] or what in c["affects"])]


def _why(checks: list[dict]) -> str:
    return "; ".join(f"{c['name'].replace('_', ' ')}: {c['summary']}" for c in checks)


def compose(result: dict, baseline: str) -> tuple[list[str], list[str]]:
    """(lead sentences, 'not in the answer' items with reasons)."""
    lead, out = [], []
    form = result.get("form", {})
    checks = result.get("checks", [])
    if not form.get("supported", True):
        lead.append("**The runs do not support the fitted form**: " + _why(form.get("failed_full", [])) + ". "
                    + (form["trim_note"] + ". " if form.get("trim_note") else "")
                    + "No ranking or multiplier is given as an answer; the tables below rest on a form these runs "
                      "reject")
        out.append("every data multiplier, decision and compute multiplier below: the form does not describe the "
                   "runs (see Checks)")
        return lead, out
    if form.get("dropped"):
        d = form["dropped"]
        lead.append(f"**The runs at the smallest budget{'s' if d['levels'] > 1 else ''} (D <= {d['up_to']:.3g}, "
                    f"{d['n_points']} runs) do not follow the fitted form**: {_why(form.get('failed_full', []))}. "
                    f"This is what an early-training plateau looks like. Without them the form passes its checks, "
                    f"and the answer below comes from the other runs")
    data_bad = _failed(checks, DATA)
    dec = result.get("decisions") or {}
    if data_bad:
        out.append(f"data multipliers and the ranking: {_why(data_bad)}")
    else:
        if dec.get("tiers"):
            pairs = dec["pairs"]
            und = [p for p in pairs if p["decision"] == "undecided"]
            s = (f"Ranking (95% decisions from the joint bootstrap of multiplier ratios): {ranking_text(dec['tiers'])}"
                 f"; {len(pairs) - len(und)} of {len(pairs)} pairs decided")
            if und:
                s += "; undecided: " + ", ".join(
                    f"`{p['a']}` vs `{p['b']}` ({_f(p['ratio'])}x, 95% {_f(p['ci_low'])}-{_f(p['ci_high'])})"
                    for p in und)
            lead.append(s)
        lead += _multiplier_sentences(result, baseline)
        res = dec.get("resolution")
        if res:
            noise = result.get("noise") or {}
            sig = noise.get("sigma")
            lead.append(f"Resolution: with this grid and noise ({'sigma ' + format(100 * sig, '.2g') + '% per run' if sig else 'noise'}"
                        f"{', floor from seeds ' + format(100 * noise['floor'], '.2g') + '%' if noise.get('floor') else ''})"
                        f" multiplier ratios beyond about {res['ratio_50']:.2f}x are decided half the time, "
                        f"beyond {res['ratio_80']:.2f}x 80% of the time")
    lead.append("Checks: " + "; ".join(f"{CHECK_NAMES.get(c['name'], c['name'])} {STATUS[c['status']]}"
                                       + ("" if c["status"] == "pass" and c["name"] == "bounds" else
                                          f" ({_short(c)})") for c in checks))
    _target(result, checks, lead, out)
    cmp = result.get("model_comparison")
    if cmp and cmp.get("verdict"):
        lead.append(cmp["verdict"][0].upper() + cmp["verdict"][1:])
    _crossovers(result, checks, baseline, lead, out)
    comp_bad = _failed(checks, COMPUTE)
    if comp_bad and not data_bad:
        out.append(f"compute multipliers (and the frontier plots): {_why(comp_bad)}")
    return [s + "." if not s.endswith(".") else s for s in lead], out


def _short(c: dict) -> str:
    d = c.get("details", {})
    if c["name"] == "goodness_of_fit" and "p" in d:
        return f"lack-of-fit p = {_f(d['p'])} against a seed-noise floor of {100 * d['floor']:.2g}%"
    if c["name"] == "held_out" and d.get("levels"):
        w = max(d["levels"], key=lambda r: abs(r["z"]))
        return (f"{len(d['levels'])} budgets/sizes each predicted from the others; farthest: {w['dim']} = "
                f"{w['value']:.3g}, {100 * w['mean_obs_minus_pred']:+.2g}% ({w['z']:+.1f} sd); p = {_f(d['p'])}"
                + (f"; {d['plateau_blind']}" if d.get("plateau_blind") else ""))
    return c["summary"]


def _multiplier_sentences(result: dict, baseline: str) -> list[str]:
    out = []
    for a, e in result["arms"].items():
        if a == baseline:
            continue
        dm = e["data_multiplier"]
        if dm["value"] is not None:
            ci = f" ({_f(dm['ci_low'])}-{_f(dm['ci_high'])})" if dm["ci_low"] is not None else \
                " (no interval: bootstrap off)"
            verdict = ""
            if dm["ci_low"] is not None:
                verdict = ("; better data than" if dm["ci_low"] > 1 else "; worse data than" if dm["ci_high"] < 1
                           else "; not distinguishable at 95% from") + f" `{baseline}`"
            s = f"one token of `{a}` is worth {_f(dm['value'])}x{ci} tokens of `{baseline}`{verdict}"
        else:
            cm = [r for r in e["compute_multiplier"] if r["value"] is not None and math.isfinite(r["value"])]
            if cm:
                mid = cm[len(cm) // 2]
                s = (f"`{a}` needs {_f(1 / mid['value'])}x the compute of `{baseline}` to reach loss "
                     f"{mid['target_loss']:.4g} (compute multiplier {_f(mid['value'])}, 95% "
                     f"{_f(mid['ci_low'])}-{_f(mid['ci_high'])}); no single data multiplier (beta per arm)")
            else:
                s = f"`{a}`: no data multiplier (beta per arm) and no common reachable loss for a compute multiplier"
        if "planted" in e:
            p = e["planted"]
            m = p["measured"]
            s += (f"; planted {p['value']:g}x against `{p['source']}`: "
                  + ("recovered (inside the interval)" if p["recovered"] else "NOT recovered (outside the interval)"
                     if p["recovered"] is not None else "no interval to check"))
            if m.get("ci_low") is not None and p["source"] == baseline:
                s += "; its interval " + ("excludes 1" if m["ci_high"] < 1 or m["ci_low"] > 1 else "contains 1")
        out.append(s)
    return out


def _target(result: dict, checks: list[dict], lead: list[str], out: list[str]) -> None:
    t = result.get("target")
    if not t:
        return
    where = f"N = {t['n']:.3g}, D = {t['d']:.3g}"
    bad = _failed(checks, TARGET)
    if bad:
        out.append(f"predictions at the target ({where}): {_why(bad)}")
        return
    if t["extrapolation"] > EXTRAPOLATION_LIMIT:
        out.append(f"predictions at the target ({where}): {t['extrapolation']:.3g}x beyond the largest model size or "
                   f"token budget of the runs (the limit is {EXTRAPOLATION_LIMIT:g}x): an extrapolation of the form, "
                   "not a measurement" + ("; with alpha, beta, E and A shared the order of the arms is the same at "
                                          "every scale, so the ranking above is the form's answer there too"
                                          if set(result.get("share_fit", ())) >= {"alpha", "beta", "E", "A"} else ""))
        return
    losses = ", ".join(f"`{a}` {v['loss']:.4g} ({_f(v['ci_low'])}-{_f(v['ci_high'])})" for a, v in t["arms"].items())
    decided = [r for r in t["order"] if r["decision"] != "undecided"]
    lead.append(f"At the target {where} ({t['extrapolation']:.3g}x the largest run): predicted loss {losses}; "
                f"{len(decided)} of {len(t['order'])} pairwise orders decided at 95%")


def _crossovers(result: dict, checks: list[dict], baseline: str, lead: list[str], out: list[str]) -> None:
    rows = result.get("crossovers", [])
    if rows and all(r["compute"] is None for r in rows) and not any(e.get("pool") for e in result["arms"].values()):
        lead.append("No arm overtakes another at any compute up to "
                    f"{result['compute_range'][1]:.2g} FLOPs: without pool sizes (unique_tokens) every arm is assumed "
                    "to have unlimited fresh data" + (", and arms sharing alpha, beta and E never cross"
                                                     if set(result.get("share_fit", ())) >= {"alpha", "beta", "E"}
                                                     else ""))
        return
    bad = _failed(checks, CROSSOVERS)
    limit = EXTRAPOLATION_LIMIT ** 2
    shown = other = 0
    for row in rows:
        if row["compute"] is None:
            continue
        lo = "below range" if row["ci_low"] is None else f"{row['ci_low']:.2g}"
        hi = "beyond range" if row["ci_high"] is None else f"{row['ci_high']:.2g}"
        ex = row.get("extrapolated_x") or 0
        s = (f"`{row['overtaken_by']}` overtakes `{row['leader']}` at {row['compute']:.2g} FLOPs (95% {lo} to {hi})"
             + (f", {ex:.3g}x beyond the largest run" if ex > 1 else ""))
        if bad:
            out.append(f"{s}: {_why(bad)}")
        elif ex > limit:
            out.append(f"{s}: an extrapolation beyond {limit:g}x the largest run's compute")
        elif baseline in (row["leader"], row["overtaken_by"]):
            lead.append(s)
            shown += 1
        else:
            other += 1
    if shown and other:
        lead.append(f"{other} more arm pair(s) in the crossover table below")
