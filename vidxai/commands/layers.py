"""``vidxai layers MODEL``: candidate CAM target layers with their output shapes (one forward pass)."""
from __future__ import annotations

import argparse
import json
import sys

from ._common import formatter, table

EPILOG = """examples:
  vidxai layers r3d_18                    # default weights if on this machine, else random (shapes are the same)
  vidxai layers tsm-r18 --depth 2         # stages only; frames-in-batch 2-D layers are marked
  vidxai layers slowfast_r50 --weights none --json
then, in Python: vidxai.explain(model, clip, method="gradcam", layer="layer3")
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("layers", help="list a model's candidate CAM target layers",
                              description="List the convolutions and blocks a CAM method can target, with their output "
                                          "shapes from one forward pass on the model's native input; '*' marks the "
                                          "default CAM layer(s).", epilog=EPILOG, formatter_class=formatter())
    p.add_argument("model", help="a registered model name (see `vidxai models`)")
    p.add_argument("--weights", default="default",
                   help="'default' (used only when available offline; otherwise random, and said so), 'none' "
                        "(random init) or a local checkpoint path")
    p.add_argument("--frames", type=int, default=None, help="frames per clip (default: the model's)")
    p.add_argument("--depth", type=int, default=None, help="only modules at most this many path components deep")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..models.candidates import candidate_layers, load_offline

    weights = None if str(args.weights).lower() in ("none", "random") else args.weights
    model, note = load_offline(args.model, weights=weights, num_frames=args.frames)
    layers = candidate_layers(model, max_depth=args.depth)
    if args.json:
        print(json.dumps({"model": model.name, "weights": model.weights, "note": note, "input": model.spec.describe(),
                          "layers": [layer.to_dict() for layer in layers]}, indent=2))
        return 0
    if note:
        print(f"note: {note}", file=sys.stderr)
    print(f"{model.name} ({model.weights} weights), input {model.spec.describe()}; * = default CAM layer")
    multi = any(layer.pathway is not None for layer in layers)
    rows = []
    for layer in layers:
        row = ["*" if layer.default else "", layer.name, layer.kind, "x".join(map(str, layer.shape))]
        if multi:
            name = layer.pathway_name or ("slow" if layer.pathway == 0 else "fast")
            row.append("-" if layer.pathway is None else f"{name} ({layer.pathway})")
        row.append("frames in batch" if layer.frames_in_batch else "")
        rows.append(row)
    header = ["", "layer", "type", "output shape"] + (["pathway"] if multi else []) + ["note"]
    table(rows, header=header)
    return 0
