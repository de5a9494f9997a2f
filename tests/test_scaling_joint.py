"""Joint fits across arms, repetition-aware effective data, the quality-quantity crossover, refusals of what the
runs cannot answer, and `assay fit --share` end to end.  Synthetic points with planted parameters throughout."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from pipeline.errors import UserError
from pipeline.scaling import lm
from pipeline.scaling.crossover import crossover_table, pool_frontier, refine_crossing, repeat_compute
from pipeline.scaling.fit import fit_chinchilla, predict
from pipeline.scaling.joint import (
    DEFAULT_SHARE, fit_joint, make_layout, make_points, parse_share,
)
from pipeline.scaling.repetition import effective_tokens, log_effective_tokens
from pipeline.scaling.report import fit_runs

CHINCHILLA = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
PLANTED = {"raw": 1.0, "filtered": 2.0, "control": 0.5}   # data multiplier k against raw: B_arm = B k^-beta


def _arm_params(k, base=CHINCHILLA):
    return dict(base, B=base["B"] * k ** -base["beta"])


def _grid(n_sizes, n_budgets):
    n, d = np.meshgrid(np.geomspace(1e7, 1e9, n_sizes), np.geomspace(2e8, 2e10, n_budgets))
    return n.ravel(), d.ravel()


def _draw(rng, arms, noise, sizes=3, budgets=3):
    """Points of every arm on a sizes x budgets grid, multiplicative log-normal noise."""
    idx, ns, ds, ls = [], [], [], []
    for k, (arm, mult) in enumerate(arms.items()):
        n, d = _grid(sizes, budgets)
        ls.append(predict(_arm_params(mult), n, d) * np.exp(rng.normal(0, noise, n.size)))
        idx += [k] * n.size
        ns.append(n)
        ds.append(d)
    return make_points(idx, np.concatenate(ns), np.concatenate(ds), np.concatenate(ls))


def _runs_csv(path, arms=PLANTED, noise=0.005, sizes=3, budgets=4, seed=0, pools=None):
    rng = np.random.default_rng(seed)
    rows = []
    for arm, mult in arms.items():
        n, d = _grid(sizes, budgets)
        u = (pools or {}).get(arm, np.nan)
        d_eff = effective_tokens(d, np.full(d.size, u), 15.4)
        loss = predict(_arm_params(mult), n, d_eff) * np.exp(rng.normal(0, noise, n.size))
        rows += [{"arm": arm, "model": f"m{a:.0e}", "params": a, "tokens": b, "flops": 6 * a * b, "seed": 0,
                  "loss": c, "unique_tokens": u} for a, b, c in zip(n, d, loss)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


# -- model pieces ------------------------------------------------------------------------------------------------

def test_share_parsing_and_layout():
    assert parse_share(None) == DEFAULT_SHARE and parse_share("none") == () and parse_share([]) == ()
    assert parse_share("E, alpha") == ("alpha", "E") and parse_share(["beta", "e"]) == ("beta", "E")
    with pytest.raises(ValueError, match="unknown parameter 'B'"):
        parse_share("B,beta")
    assert parse_share("A,beta") == ("beta", "A")
    assert make_layout(["x", "y"], ("alpha", "beta", "E", "A")).names == ["A", "E", "alpha", "beta", "B[x]", "B[y]"]
    lay = make_layout(["x", "y"], ("alpha", "beta", "E"), fit_rstar=True)
    assert lay.names == ["E", "alpha", "beta", "A[x]", "B[x]", "A[y]", "B[y]", "R*"] and lay.n_free == 8


def test_effective_tokens_and_gradient():
    u = np.array([1e9, 1e9, 1e9, np.nan])
    d = np.array([5e8, 1e9, 1e12, 1e12])
    de = effective_tokens(d, u, 15.4)
    assert de[0] == 5e8 and de[1] == 1e9 and de[3] == 1e12          # within one epoch / no pool: D' = D
    assert de[2] == pytest.approx(1e9 * (1 + 15.4 * (1 - math.exp(-999 / 15.4))))   # ~ U (1 + R*)
    _, dld = log_effective_tokens(np.log(d), u, math.log(15.4))
    eps = 1e-6
    num = (log_effective_tokens(np.log(d), u, math.log(15.4) + eps)[0] -
           log_effective_tokens(np.log(d), u, math.log(15.4) - eps)[0]) / (2 * eps)
    np.testing.assert_allclose(dld, num, rtol=1e-6, atol=1e-12)
    # the joint model's analytic Jacobian (shared exponents, R* fitted) matches finite differences, batched
    rng = np.random.default_rng(0)
    pts = make_points([0] * 6 + [1] * 6, np.repeat([1e7, 1e8, 1e9], 4), np.tile([1e9, 3e9, 1e10, 5e10], 3),
                      rng.uniform(2, 4, 12), np.r_[np.full(6, 2e9), np.full(6, np.nan)])
    lay = make_layout(["a", "b"], ("alpha", "E"), fit_rstar=True)
    V = rng.normal(0, 0.2, (3, lay.n_free)) + np.array([0.3, 0.35, 5, 6, 0.3, 5, 6, 0.3, 2.5])
    pred, jac = lm.predict(V, lay, pts, with_jac=True)
    num = np.stack([(lm.predict(V + eps * e, lay, pts) - lm.predict(V - eps * e, lay, pts)) / (2 * eps)
                    for e in np.eye(lay.n_free)], axis=-1)
    np.testing.assert_allclose(jac, num, rtol=1e-5, atol=1e-8)
    # and the batched Levenberg-Marquardt reaches scipy's least-squares optimum on the same problem
    from scipy.optimize import least_squares

    truth = np.array([0.5, 0.35, 5, 6, 0.3, 5.5, 6.3, 0.3, 2.5])   # an interior optimum
    y = lm.predict(truth, lay, pts)[0] + rng.normal(0, 0.003, 12)
    v, cost, ok = lm.best_of(V, lay, pts.__class__(pts.arm, pts.log_n, pts.log_d, y, pts.unique, pts.log_deff))
    ref = least_squares(lambda x: lm.predict(x, lay, pts)[0] - y, V[0], jac=lambda x: lm.predict(
        x, lay, pts, with_jac=True)[1][0], bounds=tuple(np.array(b) for b in zip(*lay.bounds)), xtol=1e-15,
        ftol=1e-15, gtol=1e-15)
    assert ok and cost <= ref.cost * (1 + 1e-9) + 1e-15
    # a batch of bootstrap-like problems near a well-conditioned optimum: every one converges to scipy's optimum
    y_rep = lm.predict(v, lay, pts)[0] + rng.normal(0, 0.003, (4, 12))
    Vb, cb, okb = lm.solve(lay, pts, Y=y_rep, V0=v)
    for yi, ci in zip(y_rep, cb):
        ref = least_squares(lambda x: lm.predict(x, lay, pts)[0] - yi, v, bounds=tuple(
            np.array(b) for b in zip(*lay.bounds)), xtol=1e-15, ftol=1e-15, gtol=1e-15)
        assert ci <= ref.cost * (1 + 1e-6) + 1e-15


# -- recovery and coverage ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("noise,sizes,budgets", [(0.002, 5, 6), (0.01, 3, 3), (0.02, 4, 5)])
def test_joint_recovers_planted_parameters_and_multiplier(noise, sizes, budgets):
    pts = _draw(np.random.default_rng(7), PLANTED, noise, sizes, budgets)
    fit = fit_joint(list(PLANTED), pts, bootstrap=40, seed=1, top_k=4, progress=False)
    assert fit.converged and fit.n_points == {a: sizes * budgets for a in PLANTED}
    tol = 0.02 + 9 * noise   # point estimates: relative tolerance grows with the noise; intervals: must cover
    p = fit.params("raw")
    assert p["alpha"] == pytest.approx(0.34, rel=tol) and p["beta"] == pytest.approx(0.28, rel=tol)
    assert p["E"] == pytest.approx(1.69, rel=tol)
    for name, true in (("alpha", 0.34), ("beta", 0.28), ("E", 1.69)):
        lo, hi = fit.arm_fit("raw").intervals[name]
        assert lo <= true <= hi, (name, lo, hi)
    for a in PLANTED:  # shared parameters are one value for all arms
        assert fit.params(a)["alpha"] == p["alpha"] and fit.params(a)["E"] == p["E"]
    for arm, k in PLANTED.items():
        dm = fit.data_multiplier(arm, "raw")
        assert dm["value"] == pytest.approx(k, rel=2 * tol)   # log k = (b_base - b_arm) / beta: amplified
        assert dm["ci_low"] <= k <= dm["ci_high"], (arm, dm["ci_low"], dm["ci_high"])
        if arm != "raw":   # a real effect: the interval excludes 1
            assert not dm["ci_low"] <= 1.0 <= dm["ci_high"]


def test_interval_coverage_over_repeated_draws():
    """95% stratified-bootstrap intervals of the data multiplier cover the planted value in >= 24 of 30 fresh
    draws (2 arms x 9 points, 1% noise) without being uselessly wide."""
    rng = np.random.default_rng(2024)
    arms = {"raw": 1.0, "filtered": 2.0}
    hits, ratios, beta_hits = 0, [], 0
    for i in range(30):
        fit = fit_joint(list(arms), _draw(rng, arms, 0.01), bootstrap=25, seed=i, top_k=2, progress=False)
        dm = fit.data_multiplier("filtered", "raw")
        hits += dm["ci_low"] <= 2.0 <= dm["ci_high"]
        ratios.append(dm["ci_high"] / dm["ci_low"])
        lo, hi = fit.arm_fit("raw").intervals["beta"]
        beta_hits += lo <= 0.28 <= hi
    assert hits >= 24, f"data multiplier covered in {hits}/30 draws"
    assert beta_hits >= 24, f"beta covered in {beta_hits}/30 draws"
    assert np.median(ratios) < 2.5, f"intervals uselessly wide: median hi/lo {np.median(ratios):.2f}"


def test_repetition_aware_fit_recovers_planted_rstar():
    """A small-pool arm trained up to 100 epochs next to a fresh-data arm: R* = 6 planted, fitted back."""
    rng = np.random.default_rng(3)
    idx, ns, ds, us, ls = [], [], [], [], []
    u_small = 1e9
    for k, (arm, u) in enumerate((("fresh", np.nan), ("small", u_small))):
        n, d = np.meshgrid(np.geomspace(1e7, 1e9, 3), np.geomspace(2e8, 1e11, 7))
        n, d = n.ravel(), d.ravel()
        d_eff = effective_tokens(d, np.full(d.size, u), 6.0)
        ls.append(predict(CHINCHILLA, n, d_eff) * np.exp(rng.normal(0, 0.002, n.size)))
        idx += [k] * n.size
        ns.append(n), ds.append(d), us.append(np.full(n.size, u))
    pts = make_points(idx, np.concatenate(ns), np.concatenate(ds), np.concatenate(ls), np.concatenate(us))
    fit = fit_joint(["fresh", "small"], pts, rstar_mode="fit", bootstrap=30, top_k=4, progress=False)
    assert fit.rstar == pytest.approx(6.0, rel=0.2)
    lo, hi = fit.rstar_interval()
    assert lo <= 6.0 <= hi and hi / lo < 3
    # the pool arm's data is as good as the fresh arm's: multiplier ~1 once repetition is modelled
    assert fit.data_multiplier("small", "fresh")["value"] == pytest.approx(1.0, abs=0.05)


# -- crossover ---------------------------------------------------------------------------------------------------

def test_crossover_hand_checked():
    """alpha = beta = 1/2, A = B = 1, E = 0.  Raw (unlimited pool): L = 2 x^(-1/4), x = C/6.  Quality arm: B = 1/2
    (4x the data value) but a pool of U = 1 token that is worthless to repeat (R* -> 0), so past its pool it puts
    all compute into N: L = x^(-1/2) + 1/2.  Equal when y^2 - 2y + 1/2 = 0, y = x^(-1/4) = 1 - 1/sqrt(2):
    x* = (2 + sqrt 2)^4 = 68 + 48 sqrt 2, C* = 408 + 288 sqrt 2 ~ 815.29.  It starts repeating where its
    unconstrained D_opt = x^(1/2) / 2 reaches 1: C = 24."""
    raw = dict(E=0.0, A=1.0, B=1.0, alpha=0.5, beta=0.5)
    q = dict(raw, B=0.5)
    exact = 408 + 288 * math.sqrt(2)
    assert repeat_compute(q, 1.0) == pytest.approx(24.0)
    assert pool_frontier(q, 100.0, 1.0, 1e-9)[0] == pytest.approx((6 / 100) ** 0.5 + 0.5, rel=1e-3)
    assert pool_frontier(q, 10.0, 1.0, 1e-9)[0] == pytest.approx(math.sqrt(2) * (10 / 6) ** -0.25, rel=1e-6)
    assert refine_crossing(q, raw, 1.0, None, 1e-9, 100, 5000) == pytest.approx(exact, rel=1e-4)

    c = np.geomspace(1, 1e6, 200)
    pools = {"q": 1.0, "raw": None}
    curves = {a: pool_frontier(p, c, pools[a], 1e-9) for a, p in (("q", q), ("raw", raw))}
    # replicates with B_q = 0.4, 0.5, 0.6 cross at x* = (1 - sqrt(1 - B_q))^-4
    reps = [{"q": pool_frontier(dict(q, B=b), c, 1.0, 1e-9), "raw": curves["raw"]} for b in (0.4, 0.5, 0.6)]
    (row,) = crossover_table({"q": q, "raw": raw}, curves, reps, c, pools, 1e-9)
    assert row["leader"] == "q" and row["overtaken_by"] == "raw"
    assert row["compute"] == pytest.approx(exact, rel=1e-4) and row["share_crossing"] == 1.0
    expect = [6 * (1 - math.sqrt(1 - b)) ** -4 for b in (0.6, 0.4)]
    assert row["ci_low"] == pytest.approx(expect[0], rel=0.01) and row["ci_high"] == pytest.approx(expect[1], rel=0.01)
    # no crossing when the pool is never exhausted inside the range
    (none,) = crossover_table({"q": q, "raw": raw}, {"q": pool_frontier(q, c[:20], 1e9, 1e-9),
                                                     "raw": curves["raw"][:20]}, [], c[:20], {"q": 1e9}, 1e-9)
    assert none["leader"] == "q" and none["compute"] is None


def test_degenerate_fits_overflow_to_inf_not_an_error():
    """A bootstrap replicate with B ~ 0 and a tiny alpha (seen in a CI run of the tiny ablation) puts the repeat
    compute far past float range: it is +inf (an open interval end), never an OverflowError."""
    p = {"E": 1.58, "A": 3.48, "B": 5.0e-09, "alpha": 0.0688, "beta": 5.0}
    assert repeat_compute(p, 14790.0) == math.inf
    from pipeline.scaling.analysis import _q
    assert _q([1.0, 2.0, 3.0, math.inf, math.nan] * 10) == (1.0, None)


# -- refusals ----------------------------------------------------------------------------------------------------

def _csv(tmp_path, rows, name="runs.csv"):
    path = tmp_path / name
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_refuses_what_the_runs_cannot_answer(tmp_path):
    three = _csv(tmp_path, [{"params": 1e8, "tokens": d, "loss": predict(CHINCHILLA, 1e8, d)} for d in (1e9, 2e9, 4e9)])
    with pytest.raises(UserError, match=r"3 points for 5 free parameters") as e:
        fit_runs(three, tmp_path / "o", bootstrap=10, strict=True)
    assert "\n" not in str(e.value)
    one_size = _csv(tmp_path, [{"arm": a, "params": 1e8, "tokens": d, "loss": predict(_arm_params(k), 1e8, d)}
                               for a, k in (("raw", 1), ("filtered", 2)) for d in np.geomspace(1e9, 1e11, 6)],
                    "one.csv")
    with pytest.raises(UserError, match=r"every run has the same model size \(N = 1e\+08\): alpha cannot be fitted"):
        fit_runs(one_size, tmp_path / "o", bootstrap=10, strict=True)
    with pytest.raises(UserError, match=r"arm 'raw': every run has N = 1e\+08, so its alpha cannot be fitted"):
        fit_runs(one_size, tmp_path / "o", bootstrap=10, strict=True, share="beta,E")
    two_sizes = _runs_csv(tmp_path / "two.csv", {"raw": 1, "filtered": 2}, sizes=2, budgets=4)
    with pytest.raises(UserError, match=r"cannot separate .*alpha"):
        fit_runs(two_sizes, tmp_path / "o", bootstrap=10, strict=True, share="none")
    no_repeat = _runs_csv(tmp_path / "fresh.csv", {"raw": 1, "filtered": 2}, pools={"raw": 1e15, "filtered": 1e15})
    with pytest.raises(UserError, match=r"R\*.*no run trains past one epoch"):
        fit_runs(no_repeat, tmp_path / "o", bootstrap=10, strict=True, repetition="fit")
    # not strict (the ablation's default): fitted, but the report and fit.json lead with the reason
    res = fit_runs(three, tmp_path / "lenient", bootstrap=5, compare=False)
    assert res["unfittable"] and "3 points for 5 free parameters" in res["unfittable"][0]
    assert "**The data cannot answer:**" in (tmp_path / "lenient" / "report.md").read_text()


def test_cli_refusal_is_one_line(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    three = _csv(tmp_path, [{"params": 1e8, "tokens": d, "loss": 3.0 - 0.1 * i} for i, d in enumerate((1e9, 2e9, 4e9))])
    r = CliRunner().invoke(app, ["fit", str(three), "-o", str(tmp_path / "o"), "--bootstrap", "5"])
    assert r.exit_code == 2, r.output
    err = [ln for ln in r.output.splitlines() if ln.startswith("error:")]
    assert len(err) == 1 and "3 points for 5 free parameters" in err[0]
    assert not (tmp_path / "o" / "fit.json").exists()


# -- the report end to end ---------------------------------------------------------------------------------------

def test_cli_joint_fit_writes_multipliers_crossover_and_plots(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    runs = _runs_csv(tmp_path / "runs.csv", noise=0.004, pools={"filtered": 3e9, "raw": 1e13, "control": 1e13})
    out = tmp_path / "fit"
    r = CliRunner().invoke(app, ["fit", str(runs), "-o", str(out), "--share", "alpha,beta,E", "--bootstrap", "20",
                                 "--repetition", "fixed", "--no-compare"])
    assert r.exit_code == 0, r.output
    assert "bootstrap replicates: 20/20" in r.output                       # progress on stderr
    assert "epochs over its pool, past 4" in r.output                      # the >4-epoch runs, on the terminal
    res = json.loads((out / "fit.json").read_text())
    assert res["mode"] == "joint" and res["share"] == ["alpha", "beta", "E"]
    assert res["repetition"]["mode"] == "fixed" and res["repetition"]["r_star"]["value"] == 15.4
    for arm, k in PLANTED.items():
        dm = res["arms"][arm]["data_multiplier"]
        assert set(dm) >= {"value", "ci_low", "ci_high"}
        assert dm["ci_low"] <= k <= dm["ci_high"] and dm["value"] == pytest.approx(k, rel=0.15)
    cm = res["arms"]["filtered"]["compute_multiplier"]
    assert cm and all(set(row) >= {"target_loss", "value", "ci_low", "ci_high"} for row in cm)
    assert res["arms"]["filtered"]["pool"]["unique_tokens"] == 3e9
    assert {f["arm"] for f in res["over_four_epochs"]} == {"filtered"} and len(res["over_four_epochs"]) == 3
    cross = [c for c in res["crossovers"] if {c["leader"], c["overtaken_by"]} == {"filtered", "raw"}]
    assert cross and cross[0]["leader"] == "filtered" and cross[0]["compute"] > res["max_run_flops"] / 10
    for stem in ("loss_vs_compute", "data_multiplier", "crossover", "multiplier", "loss_vs_tokens"):
        for ext in ("png", "svg"):
            assert (out / f"{stem}.{ext}").stat().st_size > 1000
    md = (out / "report.md").read_text()
    lead = md.split("## Answer", 1)[1].strip().splitlines()
    assert lead[0].startswith("- Ranking") and "`filtered` > `raw` > `control`; 3 of 3 pairs decided" in lead[0]
    assert lead[1].startswith("- one token of `filtered` is worth ") and "tokens of `raw`" in lead[1]
    assert "## Runs past four epochs" in md
    # positive controls (the ablation's planted arms): the report says whether the interval holds the planted value
    res = fit_runs(runs, tmp_path / "planted", bootstrap=20, repetition="fixed", compare=False, progress=False,
                   planted={"control": {"source": "raw", "value": 0.5}, "filtered": {"source": "control", "value": 9}})
    assert res["arms"]["control"]["planted"]["recovered"] is True
    assert res["arms"]["filtered"]["planted"]["recovered"] is False   # 4x against control, not 9x
    assert res["arms"]["filtered"]["planted"]["measured"]["value"] == pytest.approx(4.0, rel=0.2)
    md = (tmp_path / "planted" / "report.md").read_text()
    assert "planted 0.5x against `raw`: recovered" in md and "NOT recovered" in md


def test_per_arm_mode_reproduces_approach3(tmp_path):
    runs = _runs_csv(tmp_path / "runs.csv", {"raw": 1.0, "filtered": 2.0}, noise=0.004, sizes=3, budgets=4)
    for kw in ({"share": "none"}, {"mode": "per-arm"}):
        per_arm = fit_runs(runs, tmp_path / "pa", bootstrap=5, compare=False, progress=False, **kw)
        assert per_arm["mode"] == "per-arm" and per_arm["share"] == []
        df = pd.read_csv(runs)
        for i, arm in enumerate(("raw", "filtered")):
            g = df[df.arm == arm]
            alone = fit_chinchilla(g.params, g.tokens, g.loss, bootstrap=5, seed=i)
            assert per_arm["arms"][arm]["params"] == alone.params        # exactly the per-arm Approach 3 fit
            assert per_arm["arms"][arm]["ci95"] == {k: list(v) for k, v in alone.intervals.items()}
        assert per_arm["arms"]["filtered"]["data_multiplier"]["value"] is None   # beta per arm: no single k
        assert "beta is fitted per arm" in per_arm["arms"]["filtered"]["data_multiplier"]["reason"]


def test_model_comparison_prefers_the_truth():
    from pipeline.scaling.compare import compare_models

    rng = np.random.default_rng(1)
    arms = {"raw": 1.0, "filtered": 2.0}
    pts = _draw(rng, arms, 0.004, sizes=3, budgets=4)
    shared = fit_joint(list(arms), pts, bootstrap=0, top_k=2, progress=False)
    cmp = compare_models(shared, pts, progress=False)
    assert cmp["preferred"] == "shared" and "leave-one-out" in cmp["verdict"]
    assert cmp["models"]["free"]["log_lik"] >= cmp["models"]["shared"]["log_lik"]   # nested: free fits better
    assert cmp["models"]["shared"]["loo_rmse"] < cmp["models"]["free"]["loo_rmse"]     # but predicts worse
    # arms that really differ in their exponents and E: the free model wins
    n, d = _grid(3, 4)
    ls = [predict(p, n, d) * np.exp(rng.normal(0, 0.003, n.size))
          for p in (CHINCHILLA, dict(CHINCHILLA, alpha=0.6, beta=0.5, E=1.2))]
    pts = make_points([0] * n.size + [1] * n.size, np.r_[n, n], np.r_[d, d], np.concatenate(ls))
    shared = fit_joint(["a", "b"], pts, bootstrap=0, top_k=2, progress=False)
    assert compare_models(shared, pts, progress=False)["preferred"] == "free"
