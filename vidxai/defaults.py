"""Defaults the command line needs before anything heavy is imported (this module imports nothing).

``vidxai --help`` must not import torch, so the CLI reads its defaults and choices from here; the pipeline
uses the same values, so the help text and the behaviour cannot drift apart.
"""
from __future__ import annotations

#: the model ``vidxai explain`` uses without ``--model``
DEFAULT_MODEL = "i3d"
#: the output folder of ``vidxai explain`` without ``--out``
DEFAULT_OUT = "vidxai-out"

#: Deletion/insertion protocols of ``vidxai explain --curves``. ``quick`` fits the one-minute budget of the
#: default command on a 2-core CPU (8 steps: 16 forwards of the explained clip); ``thesis`` is the 28-step
#: protocol of Hartley's thesis (zero baseline in the model's normalised input space), which the tables
#: compare against. Both rank voxels with seeded tie-breaking; only the number of steps differs, so
#: ``quick`` AUCs are a coarser trapezoid of the same curve, not comparable digit for digit with the thesis.
CURVE_PROTOCOLS: dict[str, dict[str, object]] = {
    "quick": {"steps": 8, "baseline": "zero", "mode": "voxel"},
    "thesis": {"steps": 28, "baseline": "zero", "mode": "voxel"},
}
DEFAULT_CURVES = "quick"

#: display normalisation of maps in overlays, grids and the report (the saved .npz keeps the raw map)
NORMALIZE_MODES = ("auto", "minmax", "percentile", "none")
DEFAULT_PERCENTILE = 99.5
