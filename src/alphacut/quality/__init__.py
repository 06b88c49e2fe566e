"""Quality metrics for predicted alphas against ground truth (used by ``make eval``)."""

from alphacut.quality.metrics import (
    PRCurve,
    best_f,
    boundary,
    boundary_f_measure,
    edge_band_mae,
    iou,
    mae,
    max_f_measure,
    mean_curve,
    pr_curve,
    to_unit,
)

__all__ = [
    "PRCurve",
    "best_f",
    "boundary",
    "boundary_f_measure",
    "edge_band_mae",
    "iou",
    "mae",
    "max_f_measure",
    "mean_curve",
    "pr_curve",
    "to_unit",
]
