"""Supervoxels: batched 3-D SLIC in torch, CIELAB conversion, connectivity and quality measures."""
from __future__ import annotations

from .color import rgb_to_lab
from .connectivity import connected_components, count_labels, enforce_connectivity, relabel_contiguous
from .quality import achieved_count, adjusted_rand_index, boundary_recall, undersegmentation_error
from .slic import DEFAULT_TEMPORAL_RATIO, SeedGrid, seed_grid, slic3d

__all__ = ["slic3d", "rgb_to_lab", "seed_grid", "SeedGrid", "DEFAULT_TEMPORAL_RATIO", "connected_components",
           "enforce_connectivity", "relabel_contiguous", "count_labels", "boundary_recall",
           "undersegmentation_error", "achieved_count", "adjusted_rand_index"]
