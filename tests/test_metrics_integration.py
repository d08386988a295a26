"""The metrics on the shipped synthetic model: where the evidence is known, they rank a real explanation
above a random one (insertion, pointing game, energy pointing, localisation)."""
from __future__ import annotations

import pytest
import torch

import vidxai
from vidxai.errors import MissingCheckpointError
from vidxai.metrics import deletion_insertion, energy_pointing, localization_iou, pointing_game


@pytest.fixture(scope="module")
def trained():
    try:
        model = vidxai.models.load("synthetic-tiny")
    except MissingCheckpointError as e:
        pytest.skip(str(e))
    from vidxai.data.synthetic import SyntheticActions

    ds = SyntheticActions(2, seed=123, spec=model.spec)
    items = [ds[i] for i in range(2)]
    x = torch.stack([it["video"] for it in items])
    y = torch.tensor([it["label"] for it in items])
    boxes = torch.stack([torch.as_tensor(it["boxes"]) for it in items]).float()
    masks = torch.stack([torch.as_tensor(it["masks"]) for it in items]).bool()
    return model, x, y, boxes, masks


def test_gradient_beats_random_on_synthetic(trained):
    model, x, y, boxes, masks = trained
    grad = vidxai.methods.get("gradient")(model).attribute(x, target=y).saliency.detach()
    rand = torch.rand(grad.shape, generator=torch.Generator().manual_seed(0))
    rg = deletion_insertion(model, x, grad, target=y, steps=8)
    rr = deletion_insertion(model, x, rand, target=y, steps=8)
    assert torch.equal(rg.target, y)
    assert rg.insertion_auc.mean() > rr.insertion_auc.mean() + 0.2
    assert pointing_game(grad, masks).mean() > pointing_game(rand, masks).mean() + 0.3
    assert energy_pointing(grad, boxes).mean() > 2 * energy_pointing(rand, boxes).mean()
    best = lambda s: localization_iou(s, boxes, "energy").mean(0).max()  # noqa: E731
    assert best(grad) > best(rand) + 0.1
