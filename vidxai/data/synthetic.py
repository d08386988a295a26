"""Procedural action clips with exact ground truth.

Every clip shows a textured, noisy background (one of :data:`BACKGROUND_NAMES`, the label of the
``"background"`` task), one ACTOR and 1-2 DISTRACTORS. The actor and the distractors have exactly the
same shape, size, texture, colours and initial orientation, and sit on integer pixel positions in the
first frame, so a single frame cannot tell them apart and cannot reveal the class. Only the actor's
MOTION decides the action class (:data:`CLASS_NAMES`): it translates right/left/up/down or rotates
clockwise/anticlockwise, during ``[action_start, action_end)`` only, and stands still outside that
interval. Distractors either stand still or jitter by one pixel around a fixed position (zero-mean,
direction-free motion that no class is defined by).

Ground truth is exact because it is the rendering itself: ``actor_masks`` are the pixels the actor's
colour was written to (pixel ``(r, c)`` is inside when its centre ``(c+0.5, r+0.5)`` falls inside the
actor's rotated rectangle), ``actor_boxes`` are the tight ``xyxy`` boxes of those masks (``x2``/``y2``
exclusive, NaN rows for frames without actor pixels) and ``distractor_masks`` the distractors' pixels.
Objects never overlap (their trajectories are placed apart), so the masks are disjoint.

Frame ``t`` differs from frame ``t-1`` by the actor's motion exactly when ``action_start <= t <
action_end`` (distractor jitter and background noise aside).

Everything is vectorised numpy over ``(T, H, W)``; a clip is a pure function of its seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ..core.tensor import minmax_per_clip
from ..errors import InputError
# The class names belong to the models trained on these clips (vidxai.models.synthetic), which sit below
# the data layer; the generator reuses them.
from ..models.synthetic import BACKGROUND_NAMES, CLASS_NAMES

DISTRACTOR_MOTIONS: tuple[str, ...] = ("static", "jitter")

# Geometry at the reference size of 112 pixels; everything scales linearly with ``size``.
_REF_SIZE = 112.0
_HALF_LONG = (11.0, 15.0)  # half length of the actor rectangle (pixels at 112)
_ASPECT = (0.5, 0.7)  # half width / half length
_SPEED = (2.0, 3.5)  # translation, pixels per frame at 112
_ANG_SPEED = (10.0, 16.0)  # rotation, degrees per frame (far from the 90/180 degree aliasing of a rectangle)
_MIN_ACTION = 0.4  # shortest action, as a fraction of the clip
_NOISE = 10  # background pixel noise: uniform in [-10, 10] uint8 levels, fresh every frame


@dataclass
class SyntheticClip:
    """One rendered clip and its exact ground truth."""

    frames: np.ndarray  # uint8 (T, H, W, 3) RGB
    label: int  # index into CLASS_NAMES
    class_name: str
    actor_masks: np.ndarray  # bool (T, H, W)
    actor_boxes: np.ndarray  # float32 (T, 4) xyxy, x2/y2 exclusive, NaN rows where the actor is absent
    distractor_masks: np.ndarray  # bool (T, H, W), union of all distractors
    action_start: int  # first frame of the class-deciding motion
    action_end: int  # one past its last frame
    background_label: int  # index into BACKGROUND_NAMES
    seed: int
    background_name: str = ""
    distractor_motions: tuple[str, ...] = ()

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])

    def action_mask(self) -> np.ndarray:
        """bool (T,): True for frames inside ``[action_start, action_end)``."""
        t = np.arange(self.num_frames)
        return (t >= self.action_start) & (t < self.action_end)


def item_seed(seed: int, index: int) -> int:
    """The clip seed of item ``index`` of a dataset seeded with ``seed`` (a hash of both, 31 bits)."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0] & 0x7FFFFFFF)


def masks_to_boxes_np(masks: np.ndarray) -> np.ndarray:
    """Tight ``xyxy`` boxes (x2/y2 exclusive) of bool masks ``(T, H, W)`` -> float32 ``(T, 4)``, NaN when empty."""
    rows = masks.any(axis=2)  # (T, H)
    cols = masks.any(axis=1)  # (T, W)
    h, w = masks.shape[1:]
    present = rows.any(axis=1)
    y1 = rows.argmax(axis=1)
    y2 = h - rows[:, ::-1].argmax(axis=1)
    x1 = cols.argmax(axis=1)
    x2 = w - cols[:, ::-1].argmax(axis=1)
    boxes = np.stack([x1, y1, x2, y2], axis=1).astype(np.float32)
    boxes[~present] = np.nan
    return boxes


def _check_args(num_frames: int, size: int) -> None:
    if int(num_frames) < 4:
        raise InputError(f"synthetic clips need at least 4 frames, got num_frames={num_frames}")
    if int(size) < 24:
        raise InputError(f"synthetic clips need frames of at least 24x24 pixels, got size={size}")


def _random_colour(rng: np.random.Generator, saturation: float, value: tuple[float, float]) -> np.ndarray:
    """An RGB colour in [0, 1] from a random hue with the given saturation and value range."""
    h = rng.uniform(0, 6)
    v = rng.uniform(*value)
    c = v * saturation
    x = c * (1 - abs(h % 2 - 1))
    rgb = [(c, x, 0), (x, c, 0), (0, c, x), (0, x, c), (x, 0, c), (c, 0, x)][int(h) % 6]
    return np.asarray(rgb) + (v - c)


def _background(rng: np.random.Generator, kind: int, size: int) -> np.ndarray:
    """Static background texture of class ``kind``: float (H, W, 3) in [0, 1], muted colours."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    scale = size / _REF_SIZE
    period = rng.uniform(7.0, 14.0) * scale
    phase = rng.uniform(0, 2 * math.pi)
    if kind == 0:  # horizontal stripes: intensity varies with the row
        pattern = 0.5 + 0.5 * np.sin(2 * math.pi * yy / period + phase)
    elif kind == 1:  # vertical stripes: varies with the column
        pattern = 0.5 + 0.5 * np.sin(2 * math.pi * xx / period + phase)
    elif kind == 2:  # checkerboard
        phase2 = rng.uniform(0, 2 * math.pi)
        pattern = 0.5 + 0.5 * np.sign(np.sin(2 * math.pi * xx / period + phase) * np.sin(2 * math.pi * yy / period + phase2))
    else:  # blotches: smooth isotropic noise (coarse random grid, bilinear upsampling)
        coarse = rng.random((1, 1, 9, 9))
        up = torch.nn.functional.interpolate(torch.from_numpy(coarse), size=(size, size), mode="bilinear",
                                             align_corners=False)[0]
        pattern = minmax_per_clip(up, eps=1e-6)[0].numpy()
    base = _random_colour(rng, rng.uniform(0.1, 0.4), (0.35, 0.65))
    other = _random_colour(rng, rng.uniform(0.1, 0.4), (0.35, 0.65))
    contrast = rng.uniform(0.5, 1.0)
    other = base + contrast * (other - base)
    return base + pattern[..., None] * (other - base)


def _trajectory(label: int, start: int, end: int, num_frames: int, speed: float, ang_speed: float
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Offsets (dx, dy) in pixels and rotation (radians) per frame relative to frame-0 pose, before placement.

    ``progress(t) = clip(t - start + 1, 0, end - start)``: frames before ``start`` are at rest, each frame of
    ``[start, end)`` has moved one step further than its predecessor, frames from ``end`` on hold the final pose.
    """
    t = np.arange(num_frames)
    progress = np.clip(t - start + 1, 0, end - start).astype(np.float64)
    dx = np.zeros(num_frames)
    dy = np.zeros(num_frames)
    angle = np.zeros(num_frames)
    if label == 0:
        dx = speed * progress
    elif label == 1:
        dx = -speed * progress
    elif label == 2:
        dy = -speed * progress  # up on screen = decreasing row
    elif label == 3:
        dy = speed * progress
    elif label == 4:
        angle = math.radians(ang_speed) * progress  # with rows growing downwards a positive angle turns clockwise
    else:
        angle = -math.radians(ang_speed) * progress
    return dx, dy, angle


def _segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """Distance from point ``p`` to the segment ``a``-``b``."""
    ab = b - a
    denom = float(ab @ ab)
    s = 0.0 if denom == 0 else float(np.clip((p - a) @ ab / denom, 0.0, 1.0))
    return float(np.linalg.norm(p - (a + s * ab)))


@dataclass(frozen=True)
class _Look:
    """The appearance every object of a clip shares: a striped rectangle."""

    half_a: float
    half_b: float
    stripe_period: float
    stripe_phase: float
    colour_a: np.ndarray
    colour_b: np.ndarray


def _place_distractors(rng: np.random.Generator, count: int, actor0: np.ndarray, path_end: np.ndarray,
                       clearance: float, margin: float, size: int) -> list[np.ndarray]:
    """Distractor centres clear of the actor's path and of each other (up to 200 draws each)."""
    centres: list[np.ndarray] = []
    lo, hi = math.ceil(margin + 1), math.floor(size - margin - 1)
    for _ in range(count):
        for _try in range(200):
            c = rng.integers(lo, hi + 1, size=2).astype(np.float64)
            if _segment_distance(c, actor0, path_end) > clearance and all(np.linalg.norm(c - o) > clearance
                                                                          for o in centres):
                centres.append(c)
                break
    return centres


def _paint(frames: np.ndarray, look: _Look, paths: list[tuple[np.ndarray, np.ndarray, np.ndarray]]
           ) -> tuple[np.ndarray, np.ndarray]:
    """Paint striped rectangles along ``paths`` (per-frame centre x, y and angle; the actor last, on top) into
    ``frames`` in place; returns the actor's masks and the union of the distractors' (disjoint from the actor)."""
    t_count, size = frames.shape[:2]
    grid_y, grid_x = np.mgrid[0:size, 0:size].astype(np.float32) + np.float32(0.5)  # pixel centres

    def render(cx: np.ndarray, cy: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mask (T, H, W) and stripe selector of a rectangle at per-frame centre and angle."""
        rx = grid_x[None] - cx.astype(np.float32)[:, None, None]
        ry = grid_y[None] - cy.astype(np.float32)[:, None, None]
        cos = np.cos(theta).astype(np.float32)[:, None, None]
        sin = np.sin(theta).astype(np.float32)[:, None, None]
        u = cos * rx + sin * ry  # coordinates in the object's own frame (inverse rotation)
        v = -sin * rx + cos * ry
        mask = (np.abs(u) < look.half_a) & (np.abs(v) < look.half_b)
        stripes = np.sin(2 * math.pi * u / look.stripe_period + look.stripe_phase) > 0
        return mask, stripes

    distractor_masks = np.zeros((t_count, size, size), dtype=bool)
    objects = [render(*p) for p in paths]
    palette = (np.stack([look.colour_b, look.colour_a]) * 255.0).astype(np.float32)
    for i, (mask, stripes) in enumerate(objects):
        frames[mask] = palette[stripes[mask].astype(np.intp)]  # later objects (the actor last) paint on top
        if i < len(objects) - 1:
            distractor_masks |= mask
    actor_mask = objects[-1][0]
    distractor_masks &= ~actor_mask  # disjoint by placement; kept exact even if they ever touched
    return actor_mask, distractor_masks


def make_clip(seed: int, label: int | None = None, num_frames: int = 16, size: int = 112,
              background: int | None = None, num_distractors: int | None = None) -> SyntheticClip:
    """Render the synthetic clip of ``seed``.

    Args:
        seed: the clip's seed; the same seed (and arguments) always gives the same clip.
        label: force the action class (index into :data:`CLASS_NAMES`); drawn from the seed when None.
        num_frames: T (>= 4).
        size: H = W (>= 24); shapes, speeds and textures scale with it (reference 112).
        background: force the background class (index into :data:`BACKGROUND_NAMES`).
        num_distractors: force 0, 1 or 2 distractors (default: 1 or 2 drawn from the seed).
    """
    _check_args(num_frames, size)
    rng = np.random.default_rng(int(seed))
    k = len(CLASS_NAMES)
    drawn_label = int(rng.integers(k))
    drawn_bg = int(rng.integers(len(BACKGROUND_NAMES)))
    label = drawn_label if label is None else int(label)
    background = drawn_bg if background is None else int(background)
    if not 0 <= label < k:
        raise InputError(f"label {label} is out of range for {k} synthetic classes")
    if not 0 <= background < len(BACKGROUND_NAMES):
        raise InputError(f"background {background} is out of range for {len(BACKGROUND_NAMES)} backgrounds")
    n_dis = int(rng.integers(1, 3))
    n_dis = n_dis if num_distractors is None else int(num_distractors)
    if not 0 <= n_dis <= 2:
        raise InputError(f"num_distractors must be 0, 1 or 2, got {num_distractors}")

    scale = size / _REF_SIZE
    t_count = int(num_frames)
    # Action interval: at least 40% of the clip, anywhere in it.
    min_len = max(2, math.ceil(_MIN_ACTION * t_count))
    length = int(rng.integers(min_len, t_count + 1))
    start = int(rng.integers(0, t_count - length + 1))
    end = start + length

    # Object appearance, shared by the actor and every distractor.
    half_a = rng.uniform(*_HALF_LONG) * scale
    half_b = half_a * rng.uniform(*_ASPECT)
    stripe_period = rng.uniform(0.45, 0.7) * half_a
    stripe_phase = rng.uniform(0, 2 * math.pi)
    colour_a = _random_colour(rng, 1.0, (0.85, 1.0))
    colour_b = colour_a * rng.uniform(0.1, 0.3)
    theta0 = rng.uniform(0, math.pi)
    radius = math.hypot(half_a, half_b)

    speed = rng.uniform(*_SPEED) * scale
    # Keep the whole path inside the frame even for small sizes / long clips.
    speed = min(speed, max(size - 2 * (radius + 2.0), 1.0) / length)
    ang_speed = rng.uniform(*_ANG_SPEED)
    dx, dy, dtheta = _trajectory(label, start, end, t_count, speed, ang_speed)

    # Placement: the actor's whole path stays inside the frame; distractors keep clear of it and of each other.
    margin = radius + 1.0
    lo_x = math.ceil(margin - min(dx.min(), 0))
    hi_x = math.floor(size - margin - max(dx.max(), 0))
    lo_y = math.ceil(margin - min(dy.min(), 0))
    hi_y = math.floor(size - margin - max(dy.max(), 0))
    hi_x, hi_y = max(hi_x, lo_x), max(hi_y, lo_y)
    actor0 = np.array([rng.integers(lo_x, hi_x + 1), rng.integers(lo_y, hi_y + 1)], dtype=np.float64)
    path_end = actor0 + np.array([dx[-1], dy[-1]])
    clearance = 2 * radius + 3.0 * scale + 2.0  # jitter is at most one pixel each way
    centres = _place_distractors(rng, n_dis, actor0, path_end, clearance, margin, size)
    motions = tuple(DISTRACTOR_MOTIONS[int(rng.integers(len(DISTRACTOR_MOTIONS)))] for _ in centres)
    # Jitter: on about half of the frames a one-pixel shift (each axis -1/0/+1) away from the fixed place.
    jitters = [(rng.integers(-1, 2, size=(t_count, 2)) * (rng.random((t_count, 1)) < 0.5)).astype(np.float64)
               if m == "jitter" else np.zeros((t_count, 2)) for m in motions]

    # Render: background (static texture + fresh per-frame noise), then the objects on top.
    bg = _background(rng, background, size)
    # Uniform integer noise in [-_NOISE, _NOISE] levels (std ~6): as good as Gaussian here and 10x cheaper.
    noise = rng.integers(-_NOISE, _NOISE + 1, size=(t_count, size, size, 3), dtype=np.int8).astype(np.float32)
    noise += (bg * 255.0).astype(np.float32)[None]
    frames = noise  # float32 in uint8 levels

    look = _Look(half_a, half_b, stripe_period, stripe_phase, colour_a, colour_b)
    paths = [(c[0] + jit[:, 0], c[1] + jit[:, 1], np.full(t_count, theta0)) for c, jit in zip(centres, jitters)]
    paths.append((actor0[0] + dx, actor0[1] + dy, theta0 + dtheta))
    actor_mask, distractor_masks = _paint(frames, look, paths)

    frames_u8 = np.rint(np.clip(frames, 0.0, 255.0, out=frames)).astype(np.uint8)
    return SyntheticClip(
        frames=frames_u8,
        label=label,
        class_name=CLASS_NAMES[label],
        actor_masks=actor_mask,
        actor_boxes=masks_to_boxes_np(actor_mask),
        distractor_masks=distractor_masks,
        action_start=start,
        action_end=end,
        background_label=background,
        seed=int(seed),
        background_name=BACKGROUND_NAMES[background],
        distractor_motions=motions,
    )


def normalize_frames(frames: np.ndarray | torch.Tensor, spec=None) -> torch.Tensor:
    """uint8 ``(T, H, W, 3)`` -> model-ready float ``(3, T, H, W)`` with ``spec``'s value range, mean and std."""
    if spec is None:
        spec = default_spec()
    x = torch.as_tensor(frames).permute(3, 0, 1, 2).float().div_(255.0)
    lo, hi = spec.value_range
    mean = torch.tensor(spec.mean, dtype=x.dtype).view(3, 1, 1, 1)
    std = torch.tensor(spec.std, dtype=x.dtype).view(3, 1, 1, 1)
    return (x * (hi - lo) + lo - mean) / std


def default_spec():
    """The input spec of the ``synthetic-tiny`` models: 16x112x112, value range (0, 1), mean 0, std 1."""
    from ..models.base import InputSpec

    return InputSpec(num_frames=16, crop=(112, 112), short_side=112, min_frames=4)


class SyntheticActions(torch.utils.data.Dataset):
    """``n`` synthetic clips as a torch Dataset (deterministic: item ``i`` uses ``item_seed(seed, i)``).

    Labels are balanced: item ``i`` has task label ``i % num_classes`` (the action class for
    ``task="action"``, the background class for ``task="background"``); everything else is drawn from the
    item seed.

    Each item is a dict: ``video`` (3, T, H, W) float normalised with ``spec`` (default: the synthetic-tiny
    spec), ``label`` (the task's label), ``action_label``, ``background_label``, ``boxes`` (T, 4) xyxy float
    (NaN where absent), ``masks`` (T, H, W) bool actor masks, ``distractor_masks`` (T, H, W) bool,
    ``action_start``, ``action_end``, ``clip_id`` (``"synthetic-{seed}-{i}"``).
    """

    TASKS = ("action", "background")

    def __init__(self, n: int, seed: int = 0, task: str = "action", spec=None, num_frames: int = 16,
                 size: int = 112) -> None:
        if task not in self.TASKS:
            from ..errors import UnknownNameError

            raise UnknownNameError(task, self.TASKS, hint="synthetic task")
        if int(n) < 0:
            raise InputError(f"n must be >= 0, got {n}")
        _check_args(num_frames, size)
        self.n = int(n)
        self.seed = int(seed)
        self.task = task
        self.spec = spec if spec is not None else default_spec()
        self.num_frames = int(num_frames)
        self.size = int(size)
        self.class_names = CLASS_NAMES if task == "action" else BACKGROUND_NAMES

    def __len__(self) -> int:
        return self.n

    def clip(self, i: int) -> SyntheticClip:
        """The raw :class:`SyntheticClip` of item ``i``."""
        if not -self.n <= i < self.n:
            raise IndexError(f"index {i} out of range for {self.n} synthetic clips")
        i = i % self.n
        k = len(self.class_names)
        forced = {"label": i % k} if self.task == "action" else {"background": i % k}
        return make_clip(item_seed(self.seed, i), num_frames=self.num_frames, size=self.size, **forced)

    def __getitem__(self, i: int) -> dict:
        c = self.clip(i)
        i = i % self.n
        return {
            "video": normalize_frames(c.frames, self.spec),
            "label": c.label if self.task == "action" else c.background_label,
            "action_label": c.label,
            "background_label": c.background_label,
            "boxes": torch.from_numpy(c.actor_boxes),
            "masks": torch.from_numpy(c.actor_masks),
            "distractor_masks": torch.from_numpy(c.distractor_masks),
            "action_start": c.action_start,
            "action_end": c.action_end,
            "clip_id": f"synthetic-{self.seed}-{i}",
        }


# ------------------------------------------------------------------------------------------------------------
# Two-stream clips: the class is in the motion only, or in the appearance only
# ------------------------------------------------------------------------------------------------------------
STREAM_KINDS: tuple[str, ...] = ("motion", "appearance")
_STREAM_LUMA = 0.4  # every object colour has this grey level (OpenCV's weights), so flow cannot tell them apart


def _equal_luma(rgb: tuple[float, float, float], luma: float = _STREAM_LUMA) -> np.ndarray:
    """Shift ``rgb`` by the same amount in every channel so its grey level (0.299 R + 0.587 G + 0.114 B) is ``luma``.

    The weights sum to 1, so adding ``d`` to every channel adds exactly ``d`` to the grey level.
    """
    c = np.asarray(rgb, dtype=np.float64)
    return c + (luma - float(c @ np.array([0.299, 0.587, 0.114])))


#: Object colours of the two-stream clips, all of grey level 0.4: grey on motion clips, red (class 0) or blue
#: (class 1) on appearance clips.
STREAM_COLOURS: dict[str, np.ndarray] = {"grey": _equal_luma((0.4, 0.4, 0.4)), "red": _equal_luma((0.85, 0.2, 0.2)),
                                         "blue": _equal_luma((0.15, 0.25, 0.85))}


@dataclass
class StreamClip:
    """One two-stream clip (:func:`make_stream_clip`) and its ground truth."""

    frames: np.ndarray  # uint8 (T, H, W, 3) RGB
    label: int  # index into STREAM_CLASS_NAMES
    class_name: str
    kind: str  # "motion": the class is the direction; "appearance": the class is the colour
    direction: str  # "right", "left", "up" or "down"
    colour: str  # "grey", "red" or "blue"
    object_masks: np.ndarray  # bool (T, H, W): the object's pixels
    seed: int

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])


def make_stream_clip(seed: int, kind: str | None = None, label: int | None = None, num_frames: int = 16,
                     size: int = 64) -> StreamClip:
    """Render a clip whose class is defined only by motion, or only by appearance.

    One striped rectangle moves over a textured, noisy background (the textures of :func:`make_clip`) at a
    constant speed for the whole clip. The classes are :data:`~vidxai.models.two_stream.STREAM_CLASS_NAMES`:

    - ``kind="motion"``: the object is grey on every clip; class 0 moves right, class 1 moves left. Appearance
      carries no class information.
    - ``kind="appearance"``: the object is red (class 0) or blue (class 1) and moves up or down (drawn from the
      seed, independent of the class). Motion carries no class information.

    Every object colour has the same grey level (:data:`STREAM_COLOURS`; optical flow is computed on grey
    frames), so the flow of an appearance clip does not depend on its class either.

    Args:
        seed: the clip's seed; the same arguments always give the same clip.
        kind: ``"motion"`` or ``"appearance"`` (drawn from the seed when None).
        label: 0 or 1 (drawn from the seed when None).
        num_frames: T (>= 4).
        size: H = W (>= 24); geometry and speed scale with it (speeds as :func:`make_clip`'s).

    Returns:
        A :class:`StreamClip`.

    Example:
        >>> clip = make_stream_clip(0, kind="motion", label=1)
        >>> clip.frames.shape, clip.direction, clip.colour, clip.class_name
        ((16, 64, 64, 3), 'left', 'grey', 'left or blue')
    """
    from ..models.two_stream import STREAM_CLASS_NAMES

    _check_args(num_frames, size)
    rng = np.random.default_rng(int(seed))
    drawn_kind, drawn_label, vertical = STREAM_KINDS[int(rng.integers(2))], int(rng.integers(2)), int(rng.integers(2))
    kind = drawn_kind if kind is None else kind
    label = drawn_label if label is None else int(label)
    if kind not in STREAM_KINDS:
        from ..errors import UnknownNameError

        raise UnknownNameError(str(kind), STREAM_KINDS, hint="two-stream clip kind")
    if label not in (0, 1):
        raise InputError(f"label must be 0 or 1 for the two-stream clips, got {label}")
    scale, t_count = size / _REF_SIZE, int(num_frames)
    half_a = rng.uniform(*_HALF_LONG) * scale
    half_b = half_a * rng.uniform(*_ASPECT)
    period, phase, theta = rng.uniform(0.45, 0.7) * half_a, rng.uniform(0, 2 * math.pi), rng.uniform(0, math.pi)
    radius = math.hypot(half_a, half_b)
    speed = min(rng.uniform(*_SPEED) * scale, max(size - 2 * (radius + 2.0), 1.0) / max(t_count - 1, 1))
    brightness = rng.uniform(0.8, 1.0)  # same distribution for every colour: brightness says nothing either
    if kind == "motion":
        direction, colour = ("right", "left")[label], "grey"
    else:
        direction, colour = ("down", "up")[vertical], ("red", "blue")[label]
    step = {"right": (1, 0), "left": (-1, 0), "down": (0, 1), "up": (0, -1)}[direction]
    progress = np.arange(t_count, dtype=np.float64)
    dx, dy = step[0] * speed * progress, step[1] * speed * progress
    margin = radius + 1.0
    lo = [math.ceil(margin - min(d.min(), 0)) for d in (dx, dy)]
    hi = [max(math.floor(size - margin - max(d.max(), 0)), low) for d, low in zip((dx, dy), lo)]
    start = np.array([rng.integers(lo[0], hi[0] + 1), rng.integers(lo[1], hi[1] + 1)], dtype=np.float64)

    bg = _background(rng, int(rng.integers(len(BACKGROUND_NAMES))), size)
    frames = rng.integers(-_NOISE, _NOISE + 1, size=(t_count, size, size, 3), dtype=np.int8).astype(np.float32)
    frames += (bg * 255.0).astype(np.float32)[None]
    grid_y, grid_x = np.mgrid[0:size, 0:size].astype(np.float32) + np.float32(0.5)  # pixel centres
    rx = grid_x[None] - (start[0] + dx).astype(np.float32)[:, None, None]
    ry = grid_y[None] - (start[1] + dy).astype(np.float32)[:, None, None]
    u = np.float32(math.cos(theta)) * rx + np.float32(math.sin(theta)) * ry  # the object's own axes
    v = -np.float32(math.sin(theta)) * rx + np.float32(math.cos(theta)) * ry
    mask = (np.abs(u) < half_a) & (np.abs(v) < half_b)
    stripes = np.sin(2 * math.pi * u / period + phase) > 0
    bright = STREAM_COLOURS[colour] * brightness
    palette = (np.stack([bright * 0.3, bright]) * 255.0).astype(np.float32)  # dark and bright stripes
    frames[mask] = palette[stripes[mask].astype(np.intp)]
    return StreamClip(frames=np.rint(np.clip(frames, 0, 255)).astype(np.uint8), label=label,
                      class_name=STREAM_CLASS_NAMES[label], kind=kind, direction=direction, colour=colour,
                      object_masks=mask, seed=int(seed))


class SyntheticStreams(torch.utils.data.Dataset):
    """``n`` two-stream clips (:func:`make_stream_clip`) as a torch Dataset, deterministic and balanced.

    Item ``i`` has label ``i % 2`` and, with ``kind="both"``, kind ``("motion", "appearance")[(i // 2) % 2]``;
    its seed is ``item_seed(seed, i)``. Each item is a dict: ``video`` (3, T, H, W) float normalised with
    ``spec`` (default: ``two-stream-tiny``'s, [0, 1]), ``label``, ``kind``, ``masks`` (T, H, W) bool object
    masks, ``clip_id``.

    Example:
        >>> ds = SyntheticStreams(4, kind="both")
        >>> [(ds[i]["kind"], ds[i]["label"]) for i in range(4)]
        [('motion', 0), ('motion', 1), ('appearance', 0), ('appearance', 1)]
    """

    def __init__(self, n: int, seed: int = 0, kind: str = "both", spec=None, num_frames: int = 16,
                 size: int = 64) -> None:
        from ..core.checks import check_choice

        check_choice(kind, (*STREAM_KINDS, "both"), hint="two-stream clip kind")
        if int(n) < 0:
            raise InputError(f"n must be >= 0, got {n}")
        _check_args(num_frames, size)
        if spec is None:
            from ..models.two_stream import TINY_SPEC as spec
        self.n, self.seed, self.kind, self.spec = int(n), int(seed), kind, spec
        self.num_frames, self.size = int(num_frames), int(size)

    def __len__(self) -> int:
        return self.n

    def clip(self, i: int) -> StreamClip:
        """The raw :class:`StreamClip` of item ``i``."""
        if not -self.n <= i < self.n:
            raise IndexError(f"index {i} out of range for {self.n} two-stream clips")
        i = i % self.n
        kind = STREAM_KINDS[(i // 2) % 2] if self.kind == "both" else self.kind
        return make_stream_clip(item_seed(self.seed, i), kind=kind, label=i % 2, num_frames=self.num_frames,
                                size=self.size)

    def __getitem__(self, i: int) -> dict:
        c = self.clip(i)
        return {"video": normalize_frames(c.frames, self.spec), "label": c.label, "kind": c.kind,
                "masks": torch.from_numpy(c.object_masks), "clip_id": f"streams-{self.seed}-{i % self.n}"}


__all__ = ["CLASS_NAMES", "BACKGROUND_NAMES", "SyntheticClip", "make_clip", "SyntheticActions", "item_seed",
           "masks_to_boxes_np", "normalize_frames", "default_spec", "StreamClip", "make_stream_clip",
           "SyntheticStreams", "STREAM_KINDS", "STREAM_COLOURS"]
