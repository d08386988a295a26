"""Wrap a user's own ``nn.Module`` as a :class:`VideoModel`.

vidxai's methods always feed ``(B, C, T, H, W)`` clips and expect ``(B, K)`` logits back. :func:`wrap` adapts a
network that wants something else:

- ``layout="BTCHW"``: the clip is permuted to ``(B, T, C, H, W)`` before the network sees it;
- ``output=``: where the logits are in what the network returns (a tensor, a dict, a tuple/list, or a
  Hugging Face-style ``ModelOutput`` with ``.logits``); found automatically by default;
- ``frames_in_batch=``: the network folds frames into the batch (TSN/TSM-style 2-D networks), so a CAM layer's
  ``(B*T, K, H', W')`` output is read as ``(B, K, T, H', W')``; detected automatically by default.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from ..errors import InputError, ModelOutputError
from .base import InputSpec, VideoModel

LAYOUTS = ("BCTHW", "BTCHW")
OutputSpec = str | int | Callable[[object], torch.Tensor] | None


def wrap(net: nn.Module, spec: InputSpec | None = None, class_names: Sequence[str] | None = None,
         num_classes: int | None = None, target_layers: Sequence[str] | None = None,
         name: str = "custom", layout: str = "BCTHW", output: OutputSpec = None,
         frames_in_batch: bool | None = None) -> VideoModel:
    """Wrap any video classifier so every vidxai method can explain it.

    Missing facts are inferred: the number of classes from the last ``nn.Linear`` (or a 1x1x1 conv),
    the default CAM layer from the last 3-D (or 2-D) convolutional module with a kernel over 1.

    Args:
        net: the network.
        spec: its input specification (default :class:`InputSpec`: 16x112x112, [0, 1]).
        class_names: one name per logit (or give ``num_classes``).
        num_classes: number of logits when ``class_names`` is not given (inferred when neither is).
        target_layers: default CAM layers (module paths relative to ``net``).
        name: a name for messages and outputs.
        layout: ``"BCTHW"`` (default) or ``"BTCHW"``: the clip layout ``net`` takes.
        output: where the logits are in ``net``'s output: ``None`` (automatic: a tensor; a dict's or an object's
            ``"logits"``; the first tensor of a tuple/list), a dict key / attribute name, a tuple index, or a
            callable ``output(raw_output) -> (B, K) tensor``.
        frames_in_batch: ``True`` when ``net`` folds frames into the batch (its 2-D layers see ``B*T``
            images), ``False`` to never read a layer that way, ``None`` (default) to detect it at the CAM layer
            (a 4-D output whose batch is ``B*T``).

    Returns:
        A :class:`VideoModel` taking ``(B, C, T, H, W)`` and returning logits ``(B, K)``.

    Raises:
        InputError: ``net`` is not an ``nn.Module``, an unknown ``layout``, or the number of classes cannot be inferred.

    Example:
        >>> import torch, vidxai
        >>> class HFStyle(torch.nn.Module):  # (B, T, C, H, W) in, {"logits": ...} out
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.conv = torch.nn.Conv3d(3, 4, 3, padding=1)
        ...         self.fc = torch.nn.Linear(4, 2)
        ...     def forward(self, x):
        ...         return {"logits": self.fc(self.conv(x.transpose(1, 2)).mean((2, 3, 4)))}
        >>> model = vidxai.wrap(HFStyle(), layout="BTCHW", spec=vidxai.InputSpec(num_frames=4, crop=(8, 8)))
        >>> model(torch.zeros(1, 3, 4, 8, 8)).shape
        torch.Size([1, 2])
    """
    if isinstance(net, VideoModel):
        return net
    if not isinstance(net, nn.Module):
        raise InputError(f"expected a model (a vidxai VideoModel, a torch nn.Module or a registered model name), "
                         f"got {type(net).__name__} {net!r:.40}")
    if layout not in LAYOUTS:
        raise InputError(f"unknown layout {layout!r}; choose from {', '.join(LAYOUTS)} (the layout net takes)")
    if not (output is None or isinstance(output, (str, int)) or callable(output)):
        raise InputError(f"output= must be None, a key, an index or a callable, got {type(output).__name__}")
    spec = spec or InputSpec()
    if class_names is None and num_classes is None:
        num_classes = _infer_num_classes(net)
    if target_layers is None:
        target_layers = [default_cam_layer(net)] if default_cam_layer(net) else []
    model = WrappedModel(net, spec, class_names, target_layers, name=name, weights="user", num_classes=num_classes,
                         layout=layout, output=output)
    model.frames_in_batch = frames_in_batch
    model.training = net.training  # the wrapper mirrors the user's mode instead of resetting it
    return model


class WrappedModel(VideoModel):
    """A :class:`VideoModel` that adapts the clip layout and finds the logits in the network's output.

    Args:
        layout: ``"BCTHW"`` or ``"BTCHW"`` (what ``net`` takes).
        output: see :func:`wrap`.
        *args, **kwargs: as :class:`VideoModel`.
    """

    def __init__(self, *args, layout: str = "BCTHW", output: OutputSpec = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.layout = layout
        self.output = output

    def _to_layout(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 2).contiguous() if self.layout == "BTCHW" else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.spec.pathways == 1:
            out = self.net(self._to_layout(x))
        else:
            out = self.net([self._to_layout(p) for p in self.pathways(x)])
        return find_logits(out, self.output)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, layout={self.layout!r}"


def _describe(out: object) -> str:
    if isinstance(out, Mapping):
        return f"a {type(out).__name__} with keys {', '.join(repr(k) for k in out)}"
    if isinstance(out, (tuple, list)):
        return f"a {type(out).__name__} of {len(out)} ({', '.join(type(v).__name__ for v in out)})"
    return f"a {type(out).__name__}"


def _auto_logits(out: object) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, Mapping):
        return out.get("logits")
    if isinstance(out, (tuple, list)):
        return next((v for v in out if isinstance(v, torch.Tensor)), None)
    return getattr(out, "logits", None)


def _select(out: object, output: str | int) -> object:
    try:
        if isinstance(out, Mapping):
            return out[output]
        if isinstance(out, (tuple, list)) and isinstance(output, int):
            return out[output]
        if isinstance(output, str):
            return getattr(out, output)
    except (KeyError, IndexError, AttributeError):
        pass
    raise ModelOutputError(f"the network's output ({_describe(out)}) has no {output!r}; "
                           f"pass wrap(..., output=<key, index or callable>)")


def find_logits(out: object, output: OutputSpec = None) -> torch.Tensor:
    """The ``(B, K)`` logits in a network's output.

    Args:
        out: what the network returned: a tensor, a dict, a tuple/list or an object such as a Hugging Face
            ``ModelOutput``.
        output: ``None`` (a tensor as is; a dict's / an object's ``"logits"``; the first tensor of a tuple/list),
            a key or attribute name, a tuple index, or a callable ``output(out) -> tensor``.

    Returns:
        The logits tensor.

    Raises:
        ModelOutputError: no logits where ``output`` says, or they are not a ``(B, K)`` tensor.

    Example:
        >>> import torch
        >>> find_logits({"logits": torch.zeros(2, 5), "features": torch.zeros(2, 8)}).shape
        torch.Size([2, 5])
        >>> find_logits((torch.ones(1, 3), None), output=0).shape
        torch.Size([1, 3])
    """
    if output is None:
        logits = _auto_logits(out)
        if logits is None:
            raise ModelOutputError(f"cannot find the logits in the network's output ({_describe(out)}); "
                                   f"pass wrap(..., output=<key, index or callable>)")
    elif callable(output):
        logits = output(out)
    else:
        logits = _select(out, output)
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        got = tuple(logits.shape) if isinstance(logits, torch.Tensor) else type(logits).__name__
        raise ModelOutputError(f"the logits selected from the network's output must be a (B, K) tensor, got {got}; "
                               f"pass wrap(..., output=<key, index or callable>)")
    return logits


def unfold_frames(acts: torch.Tensor, batch: int, frames: int, frames_in_batch: bool | None = None) -> torch.Tensor:
    """Read a layer output with frames folded into the batch, ``(B*T, K, H', W')``, as ``(B, K, T, H', W')``.

    Args:
        acts: a layer's output (already channels first).
        batch: clips in the batch (``B``).
        frames: frames per clip (``T``).
        frames_in_batch: ``True``: the layer must be folded; ``False``: never unfold; ``None``: unfold a 4-D
            output whose batch is ``B*T``.

    Returns:
        ``acts`` unchanged, or unfolded.

    Raises:
        UnsupportedModelError: ``frames_in_batch=True`` but the layer output is not ``(B*T, K, H', W')``.

    Example:
        >>> unfold_frames(torch.zeros(2 * 8, 4, 7, 7), batch=2, frames=8).shape
        torch.Size([2, 4, 8, 7, 7])
    """
    from ..errors import UnsupportedModelError

    folded = acts.ndim == 4 and acts.shape[0] == batch * frames
    if frames_in_batch is False or (frames_in_batch is None and not (folded and frames > 1)):
        return acts
    if not folded:
        raise UnsupportedModelError(f"frames_in_batch=True, but the CAM target layer outputs {tuple(acts.shape)}, "
                                    f"not (B*T, K, H', W') = ({batch}*{frames}, ...)")
    return acts.reshape(batch, frames, *acts.shape[1:]).transpose(1, 2)


def _infer_num_classes(net: nn.Module) -> int:
    last = None
    for m in net.modules():
        if isinstance(m, nn.Linear):
            last = m.out_features
        elif isinstance(m, (nn.Conv3d, nn.Conv2d)) and all(k == 1 for k in m.kernel_size):
            last = m.out_channels
    if last is None:
        raise InputError("cannot infer the number of classes; pass num_classes= or class_names=")
    return last


def default_cam_layer(net: nn.Module) -> str | None:
    """Path of the last convolution with a kernel over 1 (3-D or 2-D): the last layer that still sees space.

    Example:
        >>> default_cam_layer(nn.Sequential(nn.Conv3d(3, 4, 3), nn.ReLU(), nn.Conv3d(4, 2, 1)))
        '0'
    """
    last = None
    for name, m in net.named_modules():
        if isinstance(m, (nn.Conv3d, nn.Conv2d)) and not all(k == 1 for k in m.kernel_size):
            last = name
    return last
