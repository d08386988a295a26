"""Gradient family: vanilla gradient (more methods land with the attribution issue)."""
from __future__ import annotations

import torch

from .. import methods
from .base import Attribution, AttributionResult, check_params, input_gradient, model_state, reduce_channels


@methods.register("gradient", description="Vanilla gradient of the class score w.r.t. the clip, max |.| over colour",
                  family="gradient")
class Gradient(Attribution):
    """Vanilla gradient (Simonyan et al. 2014), reduced over colour with ``reduction`` (default max |.|)."""

    def attribute(self, inputs: torch.Tensor, target=None, reduction: str = "max_abs", **params) -> AttributionResult:
        check_params(self.name, params, [])
        x, target, _ = self.prepare(inputs, target)
        with model_state(self.model):
            grad, logits = input_gradient(self.model, x, target, return_logits=True)
        return AttributionResult(reduce_channels(grad, reduction), raw=grad, logits=logits)
