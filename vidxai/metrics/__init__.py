"""Evaluation metrics for video explanations (see docs/metrics.md).

Every metric is a plain function on a batch plus a streaming accumulator (``update`` / ``summary``) with
``higher_is_better``: deletion/insertion (:mod:`.deletion`), weak localisation against boxes
(:mod:`.localization`), pointing games (:mod:`.pointing`), temporal localisation (:mod:`.temporal`),
sanity checks (:mod:`.sanity`) and timing (:mod:`.timing`). Boxes use one convention: :mod:`.boxes`.
:mod:`.registry` names the metrics a run can evaluate and the per-clip results the runner stores (direction,
report title and table of each).
"""
from __future__ import annotations

from . import boxes
from .base import Metric, nanmean
from .deletion import CurveResult, DeletionInsertion, auc, deletion_insertion, grid_segmentation, voxel_ranks
from .localization import (THRESHOLDS, Localization, localization_accuracy, localization_iou, saliency_boxes,
                           value_thresholds)
from .pointing import PointingGame, default_tolerance, energy_pointing, pointing_game
from .registry import (REGISTRY, RESULT_KEYS, RESULTS, ResultKey, higher_is_better, register_result,
                       result_keys, unregister_result)
from .sanity import (SanityResult, cascading_randomization, class_randomization, independent_randomization,
                     map_similarity, model_randomization, spearman, ssim)
from .temporal import TemporalLocalization, frame_importance, temporal_iou, temporal_localization
from .timing import Timer, Timing, time_per_clip

__all__ = ["REGISTRY", "RESULT_KEYS", "RESULTS", "ResultKey", "higher_is_better", "register_result",
           "result_keys", "unregister_result", "Metric", "nanmean", "boxes", "CurveResult", "DeletionInsertion", "auc",
           "deletion_insertion", "grid_segmentation", "voxel_ranks", "THRESHOLDS", "Localization", "localization_accuracy",
           "localization_iou", "saliency_boxes", "value_thresholds", "PointingGame", "default_tolerance",
           "energy_pointing", "pointing_game", "TemporalLocalization", "frame_importance", "temporal_iou",
           "temporal_localization", "SanityResult", "cascading_randomization", "class_randomization",
           "independent_randomization", "map_similarity", "model_randomization", "spearman", "ssim", "Timer", "Timing", "time_per_clip"]
