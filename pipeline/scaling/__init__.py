"""Scaling-law fits (Chinchilla Approach 3, per arm or joint across arms with shared parameters), checks of the
fitted form, run-to-run noise, repetition-aware effective data, compute-optimal frontiers, data and compute
multipliers, pairwise decisions and predictions at a target scale, quality-quantity crossovers, plots and reports."""

from pipeline.scaling.crossover import pool_frontier, repeat_compute
from pipeline.scaling.fit import FitResult, fit_chinchilla, predict
from pipeline.scaling.joint import DEFAULT_SHARE, JointFit, fit_joint, make_points, parse_share
from pipeline.scaling.multiplier import (
    compute_for_loss, frontier_loss, multiplier, multiplier_with_ci, optimal_allocation,
)
from pipeline.scaling.repetition import RSTAR_PUBLISHED, effective_tokens

__all__ = ["FitResult", "fit_chinchilla", "predict", "compute_for_loss", "frontier_loss", "multiplier",
           "multiplier_with_ci", "optimal_allocation", "DEFAULT_SHARE", "JointFit", "fit_joint", "make_points",
           "parse_share", "pool_frontier", "repeat_compute", "RSTAR_PUBLISHED", "effective_tokens"]
