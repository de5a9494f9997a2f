"""Which model do the runs support: parameters shared across arms, or every arm with its own five?

Two criteria, both on the log-loss residuals of least-squares fits (`pipeline.scaling.joint`):

- Leave-one-out cross-validation (the primary criterion): each point is dropped in turn, both models are refitted
  without it (one batch of Levenberg-Marquardt refits from the full-data optimum) and predict it; the model with
  the smaller root-mean-square held-out log error predicts unseen runs better.  No likelihood is assumed.
- Information criteria on the Gaussian likelihood of the log residuals, sigma profiled out: k = free parameters + 1,
  AIC = 2k - 2 log L, AICc = AIC + 2k(k+1)/(n-k-1), BIC = k log n - 2 log L.  (The free model nests the shared
  one, so it never has the lower likelihood.)

The verdict follows LOO when it is available (every arm of the free model keeps at least 6 points when one is
dropped): the model with the smaller mean squared held-out error when the difference exceeds 2 standard errors of
the per-point differences; within 2 SE the data do not distinguish them and the shared model (fewer parameters) is
kept.  Without LOO it follows AICc (AIC when AICc is undefined).  A per-arm Approach 3 fit (Huber) is refitted by
least squares first, so both models are compared under one loss.
"""

from __future__ import annotations

import math

import numpy as np

from pipeline.scaling.checks import problems
from pipeline.scaling.joint import DEFAULT_SHARE, JointFit, Points, convert, fit_joint, make_layout, predict_log
from pipeline.scaling.lm import predict as lm_predict
from pipeline.scaling.lm import solve


def information_criteria(resid: np.ndarray, k_free: int) -> dict:
    """AIC, AICc, BIC on the Gaussian likelihood of the log residuals, sigma profiled out (k = free parameters +
    sigma)."""
    n = len(resid)
    rss = float(np.sum(resid ** 2))
    ll = -0.5 * n * (math.log(2 * math.pi * max(rss, 1e-300) / n) + 1.0)
    k = k_free + 1
    aic = 2 * k - 2 * ll
    return {"n_params": k_free, "rss": rss, "log_lik": ll, "aic": aic,
            "aicc": aic + 2 * k * (k + 1) / (n - k - 1) if n - k - 1 > 0 else None,
            "bic": k * math.log(n) - 2 * ll, "rmse": math.sqrt(rss / n)}


def loo_errors(fit: JointFit, pts: Points) -> np.ndarray:
    """Held-out log-loss errors, one per point (all n refits without one point each, from the full-data optimum,
    in one batch)."""
    n = len(pts.log_l)
    V, _, _ = solve(fit.layout, pts, W=1.0 - np.eye(n), V0=fit.vector)
    pred = lm_predict(V, fit.layout, pts)
    return pred[np.arange(n), np.arange(n)] - pts.log_l


def compare_models(fit: JointFit, pts: Points, *, loo: bool = True, progress: bool = True) -> dict:
    """Compare `fit` with the other of {shared, free}: the free model when `fit` shares parameters, the default
    sharing (alpha, beta, E) when it shares none.  Returns a JSON-able dict with `verdict` (one sentence)."""
    arms = list(fit.arms)
    if len(arms) < 2:
        return {"verdict": "one arm: nothing to share, no comparison", "models": {}}
    other_share = () if fit.layout.share else DEFAULT_SHARE
    rstar_mode = fit.rstar_mode
    lay_other = make_layout(arms, other_share, rstar_mode == "fit")
    why = problems(lay_other, pts)
    label = {(): "every arm its own E, A, B, alpha, beta"}
    name_fit = "shared" if fit.layout.share else "free"
    name_other = "free" if fit.layout.share else "shared"
    out = {"criterion": "leave-one-out RMSE of log loss (primary); AIC/AICc/BIC on the Gaussian likelihood of "
                        "the log residuals (sigma profiled)", "models": {}}
    if why:
        out["verdict"] = (f"the {name_other} model cannot be fitted to these runs ({why[0]}), so only the "
                          f"{name_fit} model is reported")
        return out
    if fit.per_arm_results is not None:   # Chinchilla's Huber fits: compare under the one loss of the other model
        fit = fit_joint(arms, pts, share=fit.layout.share, rstar_mode=rstar_mode, rstar=fit.rstar or 15.4,
                        bootstrap=0, progress=False, extra_starts=[fit.vector])
    other = fit_joint(arms, pts, share=other_share, rstar_mode=rstar_mode,
                      rstar=fit.rstar if fit.rstar is not None else 15.4, bootstrap=0, progress=False,
                      extra_starts=[convert(fit, lay_other)])
    models = {}
    for key, f in (("fitted", fit), ("other", other)):
        name = name_fit if key == "fitted" else name_other
        resid = predict_log(f.vector, f.layout, pts) - pts.log_l
        models[name] = {"share": list(f.layout.share) or "none",
                        "description": label.get(f.layout.share, "shared " + ", ".join(f.layout.share)),
                        **information_criteria(resid, f.layout.n_free)}
    counts = [int((pts.arm == k).sum()) for k in range(len(arms))]
    loo_ok = loo and min(counts) - 1 >= 6
    errors = {}
    if loo_ok:
        for key, f in (("fitted", fit), ("other", other)):
            name = name_fit if key == "fitted" else name_other
            errors[name] = e = loo_errors(f, pts)
            models[name]["loo_rmse"] = float(np.sqrt(np.mean(e ** 2)))
            models[name]["loo_mae"] = float(np.mean(np.abs(e)))
    out["models"] = models
    sh, fr = models["shared"], models["free"]
    use_aicc = sh["aicc"] is not None and fr["aicc"] is not None
    aic_name = "AICc" if use_aicc else "AIC"
    aic_s, aic_f = (sh["aicc"], fr["aicc"]) if use_aicc else (sh["aic"], fr["aic"])
    by_bic = "shared" if sh["bic"] <= fr["bic"] else "free"
    by_aic = "shared" if aic_s <= aic_f else "free"
    ics = f"BIC {sh['bic']:.1f} (shared) vs {fr['bic']:.1f} (free), {aic_name} {aic_s:.1f} vs {aic_f:.1f}"
    if loo_ok:
        d = errors["free"] ** 2 - errors["shared"] ** 2         # per point: > 0 where shared predicts better
        diff, se = float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d)))
        out["loo_mse_diff"], out["loo_mse_diff_se"] = diff, se
        strong = abs(diff) > 2 * se
        better = "shared" if diff >= 0 else "free"
        choice = better if strong else "shared"       # within noise: keep the model with fewer parameters
        detail = (f"held-out (leave-one-out) RMSE of log loss {sh['loo_rmse']:.3g} (shared) vs "
                  f"{fr['loo_rmse']:.3g} (free), squared-error difference {abs(diff):.2g} +- {se:.2g} (SE) in "
                  f"favour of the {better} model; {ics}")
        agree = {by_bic, by_aic} == {better}
    else:
        better = choice = by_aic
        strong = by_aic == by_bic
        detail = f"{ics}; no leave-one-out (an arm has fewer than 7 points)"
        agree = by_aic == by_bic
    out["preferred"] = choice
    out["better_predictions"] = better
    out["strong"] = bool(strong)
    out["criteria_agree"] = bool(agree)
    shared_desc = "shared " + ", ".join(sh["share"]) if isinstance(sh["share"], list) else "shared"
    if strong:
        head = (f"the data support the {choice} model ({shared_desc if choice == 'shared' else 'every arm free'})"
                + ("" if choice == "shared" else "; the shared-parameter data multipliers may be biased"))
    else:
        head = (f"the data do not distinguish the shared ({shared_desc}) and the free model (difference within 2 "
                f"standard errors), so the shared one, with fewer parameters, is kept")
    out["verdict"] = f"{head}: {detail}" + ("" if agree else "; the information criteria disagree") + \
        ("" if choice == name_fit else f"; this report shows the {name_fit} fit, as asked (--share)")
    return out
