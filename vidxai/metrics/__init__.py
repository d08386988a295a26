"""Evaluation metrics for video explanations (see docs/metrics.md).

Every metric is a plain function on a batch plus a streaming accumulator (``update`` / ``summary``) with
``higher_is_better``: deletion/insertion (:mod:`.deletion`), weak localisation against boxes
(:mod:`.localization`), pointing games (:mod:`.pointing`), temporal localisation (:mod:`.temporal`),
sanity checks (:mod:`.sanity`) and timing (:mod:`.timing`). Boxes use one convention: :mod:`.boxes`.
"""
from __future__ import annotations

from . import boxes
from .base import Metric, nanmean
from .deletion import CurveResult, DeletionInsertion, auc, deletion_insertion, grid_segmentation, voxel_ranks
from .localization import (THRESHOLDS, Localization, localization_accuracy, localization_iou, saliency_boxes,
                           value_thresholds)
from .pointing import PointingGame, default_tolerance, energy_pointing, pointing_game
from .sanity import (SanityResult, cascading_randomization, class_randomization, independent_randomization,
                     map_similarity, model_randomization, spearman, ssim)
from .temporal import TemporalLocalization, frame_importance, temporal_iou, temporal_localization
from .timing import Timer, Timing, time_per_clip

#: The metrics a run's ``evaluate`` section can name, with their accumulators (whose ``directions`` say which
#: way every score goes). The runner stores per-clip results under its own keys, mapped below to the
#: accumulator key that has the same meaning, so the direction of every key is declared once, on the metric.
REGISTRY = {"deletion": DeletionInsertion, "localization": Localization, "pointing": PointingGame,
            "temporal": TemporalLocalization, "timing": Timing}
RESULT_KEYS = {"deletion_auc": ("deletion", "deletion_auc"), "insertion_auc": ("deletion", "insertion_auc"),
               "combined": ("deletion", "combined"), "localization_error": ("localization", "error"),
               "pointing_hit": ("pointing", "pointing_game"), "energy_in_gt": ("pointing", "energy_pointing"),
               "temporal_mass_in_interval": ("temporal", "mass_in_interval"), "temporal_tiou": ("temporal", "tiou"),
               "temporal_peak_hit": ("temporal", "peak_hit"), "seconds_per_clip": ("timing", "seconds_per_clip")}


def higher_is_better(key: str) -> bool:
    """Which way a score goes, from the metric that defines it (a runner result key or ``metric.score``).

    Example::

        higher_is_better("deletion_auc")        # False (lower is better)
        higher_is_better("pointing.pointing_game")  # True
    """
    metric, score = RESULT_KEYS[key] if key in RESULT_KEYS else key.split(".", 1)
    return REGISTRY[metric].directions[score]


__all__ = ["REGISTRY", "RESULT_KEYS", "higher_is_better", "Metric", "nanmean", "boxes", "CurveResult", "DeletionInsertion", "auc", "deletion_insertion",
           "grid_segmentation", "voxel_ranks", "THRESHOLDS", "Localization", "localization_accuracy",
           "localization_iou", "saliency_boxes", "value_thresholds", "PointingGame", "default_tolerance",
           "energy_pointing", "pointing_game", "TemporalLocalization", "frame_importance", "temporal_iou",
           "temporal_localization", "SanityResult", "cascading_randomization", "class_randomization",
           "independent_randomization", "map_similarity", "model_randomization", "spearman", "ssim", "Timer", "Timing", "time_per_clip"]
