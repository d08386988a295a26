"""Dense optical flow of a clip with OpenCV, and DeepMind's I3D flow preprocessing.

::

    from vidxai.io.flow import optical_flow, i3d_flow_scale, flow_to_rgb
    flow = optical_flow(frames)          # frames: uint8 (T, H, W, 3) RGB -> float32 (2, T, H, W) pixels
    x = i3d_flow_scale(flow)             # clipped to [-20, 20] pixels, scaled to [-1, 1] (DeepMind's I3D)
    picture = flow_to_rgb(flow)          # uint8 (T, H, W, 3): hue = direction, brightness = speed

Conventions (used by every flow model in vidxai):

- channel 0 is the horizontal displacement ``dx`` (positive = to the right), channel 1 the vertical ``dy``
  (positive = down, rows grow downwards), both in pixels of the frames given;
- ``flow[:, t]`` is the motion **from frame t to frame t+1** (where the content of frame ``t`` at ``(x, y)`` is
  found in frame ``t+1``: at ``(x + dx, y + dy)``). A clip of ``T`` frames has ``T - 1`` such fields; ``last=``
  says what fills index ``T - 1`` so the flow keeps the clip's length: ``"zero"`` (default: no next frame, no
  motion), ``"repeat"`` (a copy of ``T - 2``) or ``"drop"`` (return ``T - 1`` fields).

Methods: ``"farneback"`` (``cv2.calcOpticalFlowFarneback``, Farneback 2003; default), ``"dis"`` (dense inverse
search, ``cv2.DISOpticalFlow``, Kroeger et al. 2016; fast), ``"tvl1"`` (TV-L1, Zach et al. 2007, what DeepMind
used for I3D; needs ``cv2.optflow`` from opencv-contrib-python, which opencv-python-headless does not ship).
Flow is computed on the grey image (``0.299 R + 0.587 G + 0.114 B``, OpenCV's weights). OpenCV computes one
frame pair per call, so the frames are looped over; everything around the calls is vectorised numpy.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError, ShapeError, UnknownNameError, UnsupportedModelError

METHODS = ("farneback", "dis", "tvl1")
LAST = ("zero", "repeat", "drop")
#: DeepMind's I3D flow preprocessing: displacements truncated to +-20 pixels, then divided by 20.
I3D_FLOW_BOUND = 20.0
#: OpenCV's luma weights (cv2.COLOR_RGB2GRAY).
GREY_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)
#: cv2.calcOpticalFlowFarneback's usual settings (OpenCV's sample): pyramid scale, levels, window, iterations,
#: polynomial neighbourhood and its sigma.
FARNEBACK_DEFAULTS = {"pyr_scale": 0.5, "levels": 3, "winsize": 15, "iterations": 3, "poly_n": 5,
                      "poly_sigma": 1.2, "flags": 0}


def to_grey(frames: np.ndarray) -> np.ndarray:
    """uint8 or float ``(T, H, W, 3)`` RGB (or already grey ``(T, H, W)``) -> uint8 ``(T, H, W)`` grey.

    Float frames are taken to be in [0, 1]. The weights are OpenCV's, so the result equals
    ``cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)`` up to rounding.

    Example:
        >>> int(to_grey(np.full((2, 4, 4, 3), 255, np.uint8))[0, 0, 0])
        255
    """
    frames = np.asarray(frames)
    if frames.ndim == 4 and frames.shape[-1] == 3:
        scale = 255.0 if np.issubdtype(frames.dtype, np.floating) else 1.0
        frames = frames.astype(np.float32) @ GREY_WEIGHTS * np.float32(scale)
    elif frames.ndim != 3:
        raise ShapeError(f"expected frames (T, H, W, 3) RGB or (T, H, W) grey, got shape {tuple(frames.shape)}")
    elif np.issubdtype(frames.dtype, np.floating):
        frames = frames * np.float32(255.0)
    return np.clip(np.rint(frames), 0, 255).astype(np.uint8)


def _calculator(method: str, params: dict):
    """A function ``(prev, next) -> (H, W, 2) float32`` for ``method``."""
    import cv2  # imported here: `import vidxai` must not load OpenCV

    if method == "farneback":
        kw = {**FARNEBACK_DEFAULTS, **params}
        return lambda a, b: cv2.calcOpticalFlowFarneback(a, b, None, **kw)
    if method == "dis":
        dis = cv2.DISOpticalFlow_create(int(params.get("preset", cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)))
        return lambda a, b: dis.calc(a, b, None)
    if not hasattr(cv2, "optflow"):
        raise UnsupportedModelError(
            f"TV-L1 flow needs cv2.optflow, which this OpenCV ({cv2.__version__}, opencv-python-headless) does not "
            "have; install opencv-contrib-python-headless instead, or use method='farneback' or 'dis'")
    tvl1 = cv2.optflow.DualTVL1OpticalFlow_create(**params)
    return lambda a, b: tvl1.calc(a, b, None)


def optical_flow(frames: np.ndarray, method: str = "farneback", last: str = "zero", **params) -> np.ndarray:
    """Dense optical flow between consecutive frames.

    Args:
        frames: ``(T, H, W, 3)`` RGB (uint8, or float in [0, 1]) or ``(T, H, W)`` grey, ``T >= 2``.
        method: ``"farneback"`` (default), ``"dis"`` or ``"tvl1"`` (needs ``cv2.optflow``).
        last: what fills the last index (no next frame): ``"zero"``, ``"repeat"`` or ``"drop"`` (see the module
            docstring).
        **params: passed to the OpenCV method (e.g. ``winsize=9`` for Farneback, ``preset=`` for DIS).

    Returns:
        float32 ``(2, T, H, W)`` (``(2, T-1, H, W)`` with ``last="drop"``): ``[dx, dy]`` in pixels, ``flow[:, t]`` the
        motion from frame ``t`` to ``t+1``.

    Raises:
        ShapeError: frames are not ``(T, H, W[, 3])`` with ``T >= 2``.
        UnknownNameError: an unknown ``method`` or ``last``.
        UnsupportedModelError: ``"tvl1"`` without ``cv2.optflow``.

    Example:
        >>> frames = np.zeros((3, 32, 32), np.uint8)
        >>> optical_flow(frames).shape
        (2, 3, 32, 32)
    """
    if method not in METHODS:
        raise UnknownNameError(method, METHODS, hint="optical flow method")
    if last not in LAST:
        raise UnknownNameError(last, LAST, hint="what fills the last flow frame")
    grey = to_grey(frames)
    if grey.shape[0] < 2:
        raise ShapeError(f"optical flow needs at least 2 frames, got {grey.shape[0]}")
    calc = _calculator(method, params)
    fields = np.stack([calc(grey[t], grey[t + 1]) for t in range(len(grey) - 1)])  # (T-1, H, W, 2)
    flow = np.ascontiguousarray(fields.transpose(3, 0, 1, 2), dtype=np.float32)
    if last == "drop":
        return flow
    pad = np.zeros_like(flow[:, -1:]) if last == "zero" else flow[:, -1:]
    return np.concatenate([flow, pad], axis=1)


def optical_flow_batch(clips: np.ndarray, method: str = "farneback", last: str = "zero", **params) -> np.ndarray:
    """:func:`optical_flow` of every clip of a batch ``(B, T, H, W, 3)`` -> float32 ``(B, 2, T, H, W)``.

    Example:
        >>> optical_flow_batch(np.zeros((2, 3, 16, 16, 3), np.uint8)).shape
        (2, 2, 3, 16, 16)
    """
    clips = np.asarray(clips)
    if clips.ndim not in (4, 5):
        raise ShapeError(f"expected clips (B, T, H, W, 3) or (B, T, H, W), got shape {tuple(clips.shape)}")
    return np.stack([optical_flow(c, method, last, **params) for c in clips])


def i3d_flow_scale(flow, bound: float = I3D_FLOW_BOUND):
    """DeepMind's I3D flow input: displacements clipped to ``[-bound, bound]`` pixels, divided by ``bound``.

    Works on numpy arrays and torch tensors alike (any shape); the result is in ``[-1, 1]``.

    Example:
        >>> i3d_flow_scale(np.array([-30.0, -10.0, 0.0, 5.0, 40.0])).tolist()
        [-1.0, -0.5, 0.0, 0.25, 1.0]
    """
    if bound <= 0:
        raise InputError(f"the flow bound must be positive, got {bound}")
    return flow.clip(-bound, bound) / bound


def flow_to_rgb(flow: np.ndarray, max_magnitude: float | None = None) -> np.ndarray:
    """Colour-code a flow ``(2, T, H, W)``: hue = direction, saturation 1, value = speed / ``max_magnitude``.

    Args:
        flow: ``[dx, dy]`` per pixel (pixels, or any consistent unit such as :func:`i3d_flow_scale`'s).
        max_magnitude: the speed shown at full brightness (default: the clip's largest).

    Returns:
        uint8 ``(T, H, W, 3)`` RGB. Right is red, down is yellow-green, left is cyan, up is violet.

    Example:
        >>> flow = np.zeros((2, 1, 1, 2)); flow[0, 0, 0, 1] = 1.0   # one pixel moving right
        >>> flow_to_rgb(flow)[0, 0].tolist()
        [[0, 0, 0], [255, 0, 0]]
    """
    flow = np.asarray(flow, dtype=np.float32)
    if flow.ndim != 4 or flow.shape[0] != 2:
        raise ShapeError(f"expected a flow (2, T, H, W), got shape {tuple(flow.shape)}")
    mag = np.hypot(flow[0], flow[1])
    top = float(mag.max()) if max_magnitude is None else float(max_magnitude)
    value = np.clip(mag / top, 0.0, 1.0) if top > 0 else np.zeros_like(mag)
    hue = (np.arctan2(flow[1], flow[0]) % (2 * np.pi)) / (np.pi / 3)  # sector 0..6, 0 = right
    # HSV -> RGB with saturation 1, vectorised: each channel is a clipped triangle wave of the hue.
    k = (np.array([5.0, 3.0, 1.0], dtype=np.float32)[:, None, None, None] + hue) % 6
    rgb = value * (1 - np.clip(np.minimum(k, 4 - k), 0, 1))
    return np.rint(rgb.transpose(1, 2, 3, 0) * 255).astype(np.uint8)


__all__ = ["optical_flow", "optical_flow_batch", "i3d_flow_scale", "flow_to_rgb", "to_grey", "METHODS",
           "I3D_FLOW_BOUND", "FARNEBACK_DEFAULTS"]
