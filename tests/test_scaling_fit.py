"""Chinchilla Approach 3 fitter, compute-optimal frontier, compute multiplier and the `assay fit` report."""

import json

import numpy as np
import pandas as pd
import pytest

from pipeline.scaling.fit import (
    fit_chinchilla,
    init_grid,
    objective,
    objective_and_grad,
    params_to_theta,
    predict,
)
from pipeline.scaling.multiplier import (
    compute_for_loss,
    frontier_loss,
    multiplier,
    multiplier_with_ci,
    optimal_allocation,
)
from pipeline.scaling.report import fit_runs

CHINCHILLA = dict(E=1.69, A=406.4, B=410.7, alpha=0.34, beta=0.28)
SHIFT = 2.0  # the "better" arm's data is worth 2x tokens -> its frontier needs 2x less compute
BETTER = dict(CHINCHILLA, B=CHINCHILLA["B"] * SHIFT ** -CHINCHILLA["beta"])


def _points(p, seed, noise=0.003, sizes=5):
    rng = np.random.default_rng(seed)
    n, d = (x.ravel() for x in np.meshgrid(np.geomspace(1e7, 1e10, sizes), np.geomspace(2e8, 2e11, sizes)))
    return n, d, predict(p, n, d) * np.exp(rng.normal(0, noise, n.size))


@pytest.fixture(scope="module")
def fits():
    return {name: fit_chinchilla(*_points(p, seed), bootstrap=100, seed=0)
            for name, p, seed in (("base", CHINCHILLA, 1), ("better", BETTER, 2))}


def test_grid_is_the_papers():
    g = init_grid()
    assert g.shape == (4500, 5)
    assert [sorted(set(g[:, i])) for i in range(5)] == [
        [0, 5, 10, 15, 20, 25], [0, 5, 10, 15, 20, 25], [-1, -0.5, 0, 0.5, 1], [0, 0.5, 1, 1.5, 2], [0, 0.5, 1, 1.5, 2]]


def test_objective_is_summed_huber_with_exact_gradient():
    n, d, l = _points(CHINCHILLA, 0)
    args = (np.log(n), np.log(d), np.log(l))
    theta = params_to_theta(dict(E=1.5, A=300.0, B=500.0, alpha=0.3, beta=0.3))
    f, g = objective_and_grad(theta, *args)
    assert f == pytest.approx(float(objective(theta, *args)))
    # summed, not averaged: duplicating every point doubles the objective
    f2 = objective_and_grad(theta, *(np.concatenate([a, a]) for a in args))[0]
    assert f2 == pytest.approx(2 * f)
    eps = 1e-6
    num = [(objective(theta + eps * e, *args) - objective(theta - eps * e, *args)) / (2 * eps) for e in np.eye(5)]
    np.testing.assert_allclose(g, num, rtol=1e-5, atol=1e-9)
    # at the true parameters with no noise the objective is ~0
    assert objective(params_to_theta(CHINCHILLA), np.log(n), np.log(d), np.log(predict(CHINCHILLA, n, d))) < 1e-20


def test_recovers_known_parameters_within_ci(fits):
    f = fits["base"]
    assert f.converged and f.n_points == 25 and f.warnings == []
    for k, true in CHINCHILLA.items():
        lo, hi = f.intervals[k]
        assert lo <= true <= hi, (k, true, f.intervals[k], f.params[k])
        assert f.params[k] == pytest.approx(true, rel=0.15)
    assert f.params["E"] == pytest.approx(1.69, rel=0.03) and f.params["alpha"] == pytest.approx(0.34, rel=0.05)
    # seeded: the same inputs give the same fit and the same intervals
    again = fit_chinchilla(*_points(CHINCHILLA, 1), bootstrap=100, seed=0)
    assert again.params == f.params and again.intervals == f.intervals


def test_flags_ill_conditioned_inputs():
    n, d, l = _points(CHINCHILLA, 3)
    few = fit_chinchilla(n[:4], d[:4] * np.arange(1, 5), l[:4], bootstrap=20)
    assert any("too few points: 4 points for 5 parameters" in w for w in few.warnings)
    one_n = np.full(8, 1e8)
    d8 = np.geomspace(1e9, 1e11, 8)
    single = fit_chinchilla(one_n, d8, predict(CHINCHILLA, one_n, d8), bootstrap=20)
    assert any("all points share one N (params) = 1e+08" in w for w in single.warnings)
    # a noisy, narrow design: CIs wider than the estimates get reported with numbers
    rng = np.random.default_rng(0)
    nn, dd = (x.ravel() for x in np.meshgrid([1e7, 1.5e7, 2e7], [1e9, 1.5e9, 2e9]))
    noisy = fit_chinchilla(nn, dd, predict(CHINCHILLA, nn, dd) * np.exp(rng.normal(0, 0.05, 9)), bootstrap=30)
    assert any("narrow N (params) range" in w for w in noisy.warnings)
    assert any("is wider than the estimate" in w or "outside the initialisation grid" in w or "bound" in w
               for w in noisy.warnings)
    # well-conditioned fits are not flagged (see test_recovers_known_parameters_within_ci)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="loss must be finite and > 0; bad value -1.0 at row 2"):
        fit_chinchilla([1e6, 2e6, 3e6], [1e8, 1e8, 1e8], [3.0, 2.9, -1.0], bootstrap=0)
    with pytest.raises(ValueError, match="differ in length"):
        fit_chinchilla([1e6, 2e6], [1e8], [3.0, 2.0], bootstrap=0)


def test_frontier_is_compute_optimal_and_inverts():
    p = CHINCHILLA
    c = np.array([1e18, 1e21, 1e24])
    n_opt, d_opt = optimal_allocation(p, c)
    np.testing.assert_allclose(6 * n_opt * d_opt, c)
    for ci, ni, li in zip(c, n_opt, frontier_loss(p, c)):
        ns = ni * np.geomspace(0.25, 4, 401)  # brute force over N at fixed C
        brute = predict(p, ns, ci / (6 * ns))
        assert li == pytest.approx(brute.min(), rel=1e-6) and li <= brute.min() + 1e-12
        assert ns[brute.argmin()] == pytest.approx(ni, rel=0.01)
    # Chinchilla's own fit puts ~70B params / 1.4T tokens near 5.8e23 FLOPs: the right order of magnitude
    n70, d70 = optimal_allocation(p, 5.76e23)
    assert 2e10 < n70 < 2e11 and 5e11 < d70 < 5e12
    targets = np.array([2.0, 2.5, 3.0])
    np.testing.assert_allclose(frontier_loss(p, compute_for_loss(p, targets)), targets, rtol=1e-10)
    assert np.isnan(compute_for_loss(p, [1.69, 1.5])).all()  # at or below E: unreachable
    np.testing.assert_allclose(multiplier(p, BETTER, targets), SHIFT, rtol=1e-9)  # exact for the true params
    assert np.isnan(multiplier(p, dict(p, E=2.2), [2.1])).all()


def test_multiplier_recovers_a_known_compute_shift(fits):
    targets = np.linspace(2.3, 4.0, 8)
    cur = multiplier_with_ci(fits["base"], fits["better"], targets)
    assert cur["valid"].min() == 1.0
    assert np.all(cur["lo"] <= SHIFT) and np.all(SHIFT <= cur["hi"])
    np.testing.assert_allclose(cur["m"], SHIFT, rtol=0.15)
    same = multiplier_with_ci(fits["base"], fits["base"], targets)
    np.testing.assert_allclose(same["m"], 1.0)


def _runs_csv(path, noise_seed=5):
    rows = []
    for arm, p in (("base", CHINCHILLA), ("better", BETTER)):
        n, d, l = _points(p, noise_seed, sizes=4)
        rows += [{"arm": arm, "params": a, "tokens": b, "loss:heldout": c, "bpb:heldout": c / np.log(2) / 4}
                 for a, b, c in zip(n, d, l)]
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_report_files_and_options(tmp_path):
    runs = _runs_csv(tmp_path / "runs.csv")
    res = fit_runs(runs, tmp_path / "fit", bootstrap=20, baseline="base", loss_column="loss:heldout",
                   drop_highest=2)
    fit = json.loads((tmp_path / "fit" / "fit.json").read_text())  # strict JSON: no NaN
    assert fit == json.loads(json.dumps(res))
    assert fit["baseline"] == "base" and fit["loss_column"] == "loss:heldout"
    for arm in ("base", "better"):
        a = fit["arms"][arm]
        assert a["n_points"] == 14  # 16 minus the 2 highest-loss points
        assert set(a["params"]) == set(a["ci95"]) == {"E", "A", "B", "alpha", "beta"}
        assert a["n_bootstrap"] == 20 and len(a["frontier"]) > 0
    mult = [r for r in fit["multipliers"] if r["arm"] == "better"]
    assert mult and all(r["multiplier"] == pytest.approx(SHIFT, rel=0.3) for r in mult if r["multiplier"])
    for stem in ("loss_vs_compute", "multiplier", "loss_vs_tokens"):
        for ext in ("png", "svg"):
            f = tmp_path / "fit" / f"{stem}.{ext}"
            assert f.stat().st_size > 1000
    assert (tmp_path / "fit" / "loss_vs_compute.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (tmp_path / "fit" / "report.md").read_text()
    assert "![loss vs compute](loss_vs_compute.png)" in md and "| better |" in md and "## Warnings" in md
    # bpb column, default baseline = first arm
    res2 = fit_runs(runs, tmp_path / "fit2", bootstrap=0, loss_column="bpb:heldout")
    assert res2["baseline"] == "base" and res2["arms"]["base"]["params"]["E"] < 1.69


def test_report_input_errors(tmp_path):
    runs = _runs_csv(tmp_path / "runs.csv")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['loss'\]"):
        fit_runs(runs, tmp_path / "o", bootstrap=0)
    with pytest.raises(ValueError, match="baseline arm 'nope'"):
        fit_runs(runs, tmp_path / "o", bootstrap=0, loss_column="loss:heldout", baseline="nope")
    df = pd.read_csv(runs)
    df["tokens"] = df["tokens"].astype(object)
    df.loc[3, "tokens"] = "lots"
    df.to_csv(tmp_path / "bad.csv", index=False)
    with pytest.raises(ValueError, match=r"bad.csv: row 5 .* invalid tokens='lots'"):
        fit_runs(tmp_path / "bad.csv", tmp_path / "o", bootstrap=0, loss_column="loss:heldout")


def test_cli_fit(tmp_path):
    from typer.testing import CliRunner

    from pipeline.cli import app

    runs = _runs_csv(tmp_path / "runs.csv")
    r = CliRunner().invoke(app, ["fit", str(runs), "--output", str(tmp_path / "out"), "--bootstrap", "5",
                                 "--loss-column", "loss:heldout", "--baseline", "better"])
    assert r.exit_code == 0, r.output
    assert "base: E=" in r.output and (tmp_path / "out" / "report.md").exists()
    assert json.loads((tmp_path / "out" / "fit.json").read_text())["baseline"] == "better"
    r = CliRunner().invoke(app, ["fit", str(runs), "--output", str(tmp_path / "out")])
    assert r.exit_code != 0 and "missing column" in r.output
