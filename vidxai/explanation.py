"""The :class:`Explanation` returned by :func:`vidxai.explain`."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .core.runtime import atomic_write, to_jsonable
from .errors import CorruptCheckpointError, VidxaiError

FORMAT_VERSION = 1


@dataclass
class Explanation:
    """One explained clip.

    Attributes:
        saliency: ``(T, H, W)`` float32 map at model-input resolution (CPU tensor).
        method: registered method name; ``params`` its parameters.
        target: explained class index; ``target_name`` its name.
        score: the target's logit; ``probability`` its softmax probability.
        raw: the method's map before upsampling (e.g. CAM resolution), or None.
        segmentation: ``(T, H, W)`` int64 supervoxel labels (SWAG-V, LIME...), or None.
        timing: seconds spent in the method (``explain``), forward passes included.
        model: model name; ``geometry`` maps model-input pixels back to the source video
            (a :class:`vidxai.io.ClipGeometry`, or None for tensor inputs).
        topk: ``[(class index, name, probability), ...]`` of the clip's top predictions.
        metadata: anything else (per-pathway maps, per-feature tables, versions...).
        frames: optional uint8 ``(T, H, W, 3)`` clip frames to draw the map on (display only, not saved): at
            model resolution, or the original frames when ``geometry`` maps back to them.

    In a notebook an Explanation shows itself as an animated overlay (:meth:`_repr_html_`); :meth:`to_video`
    writes it to a file.

    Example::

        exp = vidxai.explain("i3d", "clip.mp4", method="gradcam")
        exp.target_name, exp.probability, exp.saliency.shape   # ('archery', 0.98, (64, 224, 224))
        exp.to_video("gradcam.mp4")
    """

    saliency: torch.Tensor
    method: str
    target: int
    target_name: str = ""
    score: float = float("nan")
    probability: float = float("nan")
    params: dict[str, Any] = field(default_factory=dict)
    raw: torch.Tensor | None = None
    segmentation: torch.Tensor | None = None
    timing: float = float("nan")
    model: str = ""
    geometry: Any = None
    topk: list = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    frames: Any = field(default=None, repr=False, compare=False)

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.saliency.shape)

    def normalized(self) -> torch.Tensor:
        """The saliency min-max normalised to [0, 1]."""
        s = self.saliency
        lo, hi = s.min(), s.max()
        return (s - lo) / (hi - lo).clamp_min(1e-12)

    def to_original(self, normalize: bool = True) -> torch.Tensor:
        """The saliency mapped back onto the source frames: ``(T, H0, W0)`` (0 outside the crop)."""
        if self.geometry is None:
            raise VidxaiError("this explanation has no source-video geometry (it was made from a tensor)")
        return self.geometry.to_original(self.normalized() if normalize else self.saliency)

    def frame_importance(self) -> torch.Tensor:
        """Saliency mass per frame, summing to 1: shape (T,)."""
        m = self.saliency.clamp_min(0).flatten(1).sum(1)
        return m / m.sum().clamp_min(1e-12)

    # -- persistence -----------------------------------------------------------------------------
    def save(self, path: str | os.PathLike) -> Path:
        """Write ``path`` (.npz with the arrays and a JSON metadata entry); returns the path."""
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_suffix(".npz")
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"saliency": self.saliency.detach().cpu().float().numpy()}
        if self.raw is not None:
            arrays["raw"] = self.raw.detach().cpu().float().numpy()
        if self.segmentation is not None:
            arrays["segmentation"] = self.segmentation.detach().cpu().numpy().astype(np.int32)
        meta = {
            "format_version": FORMAT_VERSION,
            "method": self.method, "target": self.target, "target_name": self.target_name,
            "score": self.score, "probability": self.probability, "params": _jsonable(self.params),
            "timing": self.timing, "model": self.model, "topk": _jsonable(self.topk),
            "metadata": _jsonable({k: v for k, v in self.metadata.items() if not isinstance(v, torch.Tensor)}),
            "geometry": self.geometry.to_dict() if self.geometry is not None else None,
        }
        arrays["meta_json"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        # atomic (temporary file, fsync, rename): a crash never leaves a half-written file, nor the temporary one
        return atomic_write(path, lambda f: np.savez_compressed(f, **arrays), single_writer=False)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Explanation:
        """Read an explanation written by :meth:`save`."""
        path = Path(path)
        if not path.exists():
            raise VidxaiError(f"explanation file not found: {path}")
        try:
            with np.load(path) as z:
                data = {k: z[k] for k in z.files}
            meta = json.loads(bytes(data.pop("meta_json")).decode())
        except Exception as e:  # noqa: BLE001 - any failure here means the file is unusable
            raise CorruptCheckpointError(f"cannot read explanation {path}: {e}") from None
        geometry = None
        if meta.get("geometry"):
            from .io.transforms import ClipGeometry

            geometry = ClipGeometry.from_dict(meta["geometry"])
        return cls(
            saliency=torch.from_numpy(data["saliency"]),
            raw=torch.from_numpy(data["raw"]) if "raw" in data else None,
            segmentation=torch.from_numpy(data["segmentation"].astype(np.int64)) if "segmentation" in data else None,
            method=meta["method"], target=meta["target"], target_name=meta.get("target_name", ""),
            score=meta.get("score", float("nan")), probability=meta.get("probability", float("nan")),
            params=meta.get("params", {}), timing=meta.get("timing", float("nan")), model=meta.get("model", ""),
            topk=[tuple(t) for t in meta.get("topk", [])], metadata=meta.get("metadata", {}), geometry=geometry,
        )

    # -- display -----------------------------------------------------------------------------------
    def to_video(self, path: str | os.PathLike, frames=None, colormap: str = "jet", alpha: float = 0.5,
                 normalize: str = "auto", fps: float | None = None, label: bool = True) -> Path:
        """Write the overlay video: ``.mp4`` or ``.gif`` (atomically), or a folder of PNG frames (other names).

        Args:
            path: output file (``.mp4``, ``.gif``) or folder (PNG frames).
            frames: uint8 ``(T, H, W, 3)`` to draw on (model resolution, or the original frames when
                ``geometry`` is set); None: :attr:`frames`, else the colour-mapped map alone.
            colormap, alpha: matplotlib colour map and heat opacity.
            normalize: display scaling (``"auto"``: percentile clipping for pixel-level methods, min-max
                otherwise; ``"minmax"``, ``"percentile"``, ``"none"``).
            fps: frame rate (default: the video's, else 8).
            label: burn in method, class and probability.

        Returns:
            The path written.

        Example::

            exp = vidxai.explain("i3d", "clip.mp4", method="gradcam")
            exp.to_video("gradcam.mp4", frames=clip_frames)
        """
        from .render.display import save_explanation_video

        return save_explanation_video(self, path, frames, colormap, alpha, normalize, fps, label)

    def _repr_html_(self) -> str:
        """Notebook display: the overlay as an inline animated GIF (at most 2 MB) with a colour bar and caption."""
        from .render.display import explanation_html

        return explanation_html(self)

    def summary(self) -> str:
        return (f"{self.method} on {self.model or 'model'}: target {self.target} {self.target_name!r} "
                f"p={self.probability:.3f}, saliency {tuple(self.saliency.shape)}, {self.timing:.2f}s")

    def __repr__(self) -> str:
        return f"Explanation({self.summary()})"


# one implementation, in vidxai.core (kept under the old private name for this module's callers)
_jsonable = to_jsonable
