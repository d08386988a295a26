"""Phase 2: per-clip metrics of one cached batch of explanations.

Every array returned has the batch as its first axis, so the report can concatenate batches. Which metrics
run follows the config's ``evaluate`` section and what the data holds (localisation needs boxes, the
pointing game masks or boxes, temporal localisation an action interval).
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..metrics.localization import SCHEMES  # the threshold schemes, declared once by the metric


def evaluate_batch(model, x: torch.Tensor, targets: torch.Tensor, maps: dict[str, np.ndarray],
                   gt: dict[str, np.ndarray], settings: dict[str, dict[str, Any]], seed: int = 0
                   ) -> dict[str, np.ndarray]:
    """Metrics of the cached ``maps`` of one batch.

    Args:
        model: the explained model (deletion/insertion re-run it).
        x: the batch of clips ``(B, C, T, H, W)`` on the model's device.
        targets: explained classes ``(B,)``.
        maps: the explanation shard (``saliency`` and maybe ``segmentation``).
        gt: the ground-truth shard (``boxes``, ``masks``, ``distractor_masks``, ``action_interval``).
        settings: the config's ``evaluate`` section, ``{metric: options}``.
        seed: seeds the deletion/insertion tie-breaking order and the pointing game's choice among tied maxima.
    """
    from .. import metrics

    device = x.device
    sal = torch.as_tensor(maps["saliency"], dtype=torch.float32, device=device)
    out: dict[str, np.ndarray] = {}
    if "deletion" in settings:
        opts = dict(settings["deletion"])
        mode = opts.get("mode", "voxel")
        seg = None
        if mode == "supervoxel":
            if "segmentation" not in maps:
                mode = "voxel"  # methods without a segmentation are ranked voxel by voxel
            else:
                seg = torch.as_tensor(maps["segmentation"], dtype=torch.long, device=device)
        res = metrics.deletion_insertion(model, x, sal, targets, steps=int(opts.get("steps", 28)),
                                         baseline=opts.get("baseline", "zero"), mode=mode, segmentation=seg,
                                         chunk_size=opts.get("chunk_size", "auto"), seed=seed)
        out.update(deletion_auc=_np(res.deletion_auc), insertion_auc=_np(res.insertion_auc),
                   combined=_np(res.combined), deletion_curve=_np(res.deletion), insertion_curve=_np(res.insertion))
    boxes = torch.as_tensor(gt["boxes"], dtype=torch.float32, device=device) if "boxes" in gt else None
    masks = torch.as_tensor(gt["masks"], device=device).bool() if "masks" in gt else None
    if "localization" in settings and boxes is not None:
        opts = settings["localization"]
        extra = {k: opts[k] for k in ("largest_component", "normalize") if k in opts}
        for scheme in opts.get("schemes", SCHEMES):
            out[f"loc_iou_{scheme}"] = _np(metrics.localization_iou(sal, boxes, scheme=scheme, **extra))
    if "pointing" in settings and (masks is not None or boxes is not None):
        region = masks if masks is not None else boxes
        opts = settings["pointing"]
        # every option is passed on: an option that was accepted but ignored would be keyed but not applied
        out["pointing_hit"] = _np(metrics.pointing_game(sal, region, tolerance=opts.get("tolerance", 0),
                                                        per=opts.get("per", "frame"), ties=opts.get("ties", "random"),
                                                        seed=seed))
        if masks is None:
            from ..metrics.boxes import boxes_to_masks

            masks = boxes_to_masks(boxes, sal.shape[-2:]).to(device)
        out["energy_in_gt"] = _np(metrics.energy_pointing(sal, masks))
        if "distractor_masks" in gt:
            distractors = torch.as_tensor(gt["distractor_masks"], device=device).bool()
            out["energy_on_distractors"] = _np(metrics.energy_pointing(sal, distractors))
    if "temporal" in settings and "action_interval" in gt:
        interval = torch.as_tensor(gt["action_interval"], device=device)
        res = metrics.temporal_localization(sal, interval[:, 0], interval[:, 1])
        for key, val in res.items():
            out[f"temporal_{key}"] = _np(val)
    return out


def _np(t: torch.Tensor) -> np.ndarray:
    t = torch.as_tensor(t)
    return t.detach().float().cpu().numpy() if t.is_floating_point() or t.dtype == torch.bool else t.cpu().numpy()
