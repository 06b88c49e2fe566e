"""Quality metrics for predicted alphas against ground truth (used by ``alphacut eval``)."""

from alphacut.quality.metrics import (
    PRCurve,
    best_f,
    boundary,
    boundary_f_measure,
    contrasting_colour,
    edge_band,
    edge_band_mae,
    edge_colour_error,
    iou,
    mae,
    max_f_measure,
    mean_curve,
    pr_curve,
    reference_foreground,
    to_unit,
)

__all__ = [
    "PRCurve",
    "best_f",
    "boundary",
    "boundary_f_measure",
    "contrasting_colour",
    "edge_band",
    "edge_band_mae",
    "edge_colour_error",
    "iou",
    "mae",
    "max_f_measure",
    "mean_curve",
    "pr_curve",
    "reference_foreground",
    "to_unit",
]
