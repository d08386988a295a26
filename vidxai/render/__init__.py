"""Rendering explanations: colour maps, overlays on the original frames, labels, supervoxel boundaries,
method grids, curve plots, video/GIF/PNG output and the static HTML report.

Videos are uint8 RGB numpy arrays ``(T, H, W, 3)``; maps are ``(T, H, W)`` floats in [0, 1] (numpy or torch).
"""
from __future__ import annotations

from .colormaps import available as available_colormaps
from .colormaps import colorize, lut, normalize
from .layout import grid
from .output import FORMATS, save_video
from .overlay import (blend, boundary_mask, draw_boundaries, draw_boxes, label_frames, labels_to_original,
                      overlay, resize_maps)
from .plots import plot_curves, plot_frame_importance
from .report import render_html, write_report

__all__ = ["colorize", "lut", "normalize", "available_colormaps", "overlay", "blend", "draw_boundaries",
           "boundary_mask", "draw_boxes", "label_frames", "labels_to_original", "resize_maps", "grid",
           "plot_curves", "plot_frame_importance", "save_video", "FORMATS", "write_report", "render_html"]
