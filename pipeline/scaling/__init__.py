"""Scaling-law fits (Chinchilla Approach 3), compute-optimal frontiers, compute multipliers, plots and reports."""

from pipeline.scaling.fit import FitResult, fit_chinchilla, predict
from pipeline.scaling.multiplier import compute_for_loss, frontier_loss, multiplier, multiplier_with_ci, optimal_allocation

__all__ = ["FitResult", "fit_chinchilla", "predict", "compute_for_loss", "frontier_loss", "multiplier",
           "multiplier_with_ci", "optimal_allocation"]
