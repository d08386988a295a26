"""Rendering explanations: colour maps, display normalisation, overlays on the original frames, labels,
supervoxel boundaries, method grids, colour bars, curve plots, video/GIF/PNG output and the static HTML report.

Videos are uint8 RGB numpy arrays ``(T, H, W, 3)``; maps are ``(T, H, W)`` floats in [0, 1] (numpy or torch):
:func:`normalize_maps` brings raw saliency there (``"auto"``: percentile clipping for pixel-level methods,
min-max for CAM, supervoxel and perturbation maps).
"""
from __future__ import annotations

from .colorbars import add_colorbar, colorbar, colorbar_css, colorbar_labels
from .colormaps import available as available_colormaps
from .colormaps import (colorize, default_normalization, describe_normalization, lut, normalize,
                        normalize_maps)
from .layout import grid
from .output import FORMATS, save_video
from .overlay import (blend, boundary_mask, draw_boundaries, draw_boxes, label_frames, labels_to_original,
                      overlay, resize_maps)
from .plots import plot_curves, plot_frame_importance
from .report import render_html, write_report

__all__ = ["colorize", "lut", "normalize", "normalize_maps", "default_normalization", "describe_normalization",
           "available_colormaps", "overlay", "blend", "draw_boundaries", "boundary_mask", "draw_boxes",
           "label_frames", "labels_to_original", "resize_maps", "grid", "colorbar", "add_colorbar",
           "colorbar_css", "colorbar_labels", "plot_curves", "plot_frame_importance", "save_video", "FORMATS",
           "write_report", "render_html"]
