#!/usr/bin/env python
"""Train the shipped ``two-stream-tiny`` model on CPU (a couple of minutes on 2 shared cores).

Data: :class:`vidxai.data.synthetic.SyntheticStreams` clips, half *motion* clips (a grey object moving right =
class 0 / left = class 1) and half *appearance* clips (a red = class 0 / blue = class 1 object moving up or
down). Three disjoint seed streams: training (``--seed``), validation (``--seed + 1``, the epoch with the best
validation accuracy is kept) and the held-out test set (``--seed + 2``) whose accuracies are recorded.

The two streams are trained as two-stream networks usually are (Simonyan & Zisserman 2014; the I3D streams
too): each on its own logits (the loss is the sum of the two streams' cross-entropies), and fused only at
test time by averaging logits (``fusion="logits-mean"``). The flow is computed once per clip with OpenCV
(Farneback), exactly as the model computes it at explanation time (``TwoStream.add_flow``).

Writes ``vidxai/models/weights/two_stream_tiny.pt`` (the ``TwoStreamNet`` state dict) and
``two_stream_tiny.json`` (sha256, accuracies per clip kind and per stream, parameters, seeds, times, load)::

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/train_two_stream_tiny.py
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidxai.data.synthetic import SyntheticStreams  # noqa: E402
from vidxai.models.checkpoint import sha256_file  # noqa: E402
from vidxai.models.two_stream import TINY_METADATA, TINY_WEIGHTS, TwoStream, build_two_stream_tiny_net  # noqa: E402


def dataset(model: TwoStream, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """``n`` clips as model inputs ``(n, 5, T, H, W)`` (RGB + flow), labels and kinds."""
    ds = SyntheticStreams(n, seed=seed)
    items = [ds[i] for i in range(n)]
    rgb = torch.stack([it["video"] for it in items])
    x = torch.cat([model.add_flow(rgb[i:i + 64]) for i in range(0, n, 64)])
    return x, torch.tensor([it["label"] for it in items]), [it["kind"] for it in items]


@torch.no_grad()
def evaluate(model: TwoStream, x: torch.Tensor, y: torch.Tensor, kinds: list[str]) -> dict:
    """Accuracy of the fused model and of each stream alone, per clip kind."""
    model.eval()
    rgb, flow = model.pathways(x)
    logits = {"fused": model(x), "rgb": model.rgb_model(rgb), "flow": model.flow_model(flow)}
    out = {}
    for kind in ("motion", "appearance", "all"):
        keep = torch.tensor([kind in ("all", k) for k in kinds])
        out[kind] = {name: round(float((lg[keep].argmax(1) == y[keep]).float().mean()), 4) for name, lg in logits.items()}
    return out


def train(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    model = build_two_stream_tiny_net()
    t0 = time.perf_counter()
    train_x, train_y, _ = dataset(model, args.train, args.seed)
    val = dataset(model, args.val, args.seed + 1)
    test = dataset(model, args.test, args.seed + 2)
    data_s = time.perf_counter() - t0
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=args.lr)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * (
        (args.train + args.batch - 1) // args.batch))
    loss_fn = nn.CrossEntropyLoss()
    best, best_state, history = -1.0, None, []
    t1 = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(args.train, generator=torch.Generator().manual_seed(args.seed * 1000 + epoch))
        for i in range(0, args.train, args.batch):
            idx = order[i:i + args.batch]
            rgb, flow = model.pathways(train_x[idx])
            # each stream learns on its own logits (two-stream training); the logits are fused at test time
            loss = loss_fn(model.rgb_model(rgb), train_y[idx]) + loss_fn(model.flow_model(flow), train_y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        acc = evaluate(model, *val)["all"]["fused"]
        history.append({"epoch": epoch + 1, "loss": round(float(loss.detach()), 4), "val_acc": acc})
        print(f"epoch {epoch + 1}: loss {float(loss.detach()):.4f} val acc {acc:.4f}", flush=True)
        if acc > best:
            best, best_state = acc, {k: v.detach().clone() for k, v in model.net.state_dict().items()}
    train_s = time.perf_counter() - t1
    model.net.load_state_dict(best_state)
    TINY_WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
    torch.save(best_state, TINY_WEIGHTS)
    return {"test": evaluate(model, *test), "val_best": best, "history": history, "data_s": round(data_s, 1),
            "train_s": round(train_s, 1), "num_params": sum(p.numel() for p in model.net.parameters())}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    p.add_argument("--seed", type=int, default=2024)
    p.add_argument("--train", type=int, default=768)
    p.add_argument("--val", type=int, default=128)
    p.add_argument("--test", type=int, default=256)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    load_before = [round(v, 2) for v in os.getloadavg()]
    cpu0 = time.process_time()
    result = train(args)
    record = {
        "model": "two-stream-tiny", "file": TINY_WEIGHTS.name, "sha256": sha256_file(TINY_WEIGHTS),
        "size_bytes": TINY_WEIGHTS.stat().st_size, "classes": ["right or red", "left or blue"],
        "data": "vidxai.data.synthetic.SyntheticStreams (half motion-only, half appearance-only clips), 16x64x64",
        "training": "each stream on its own cross-entropy (summed), Adam + one-cycle; logits-mean fusion at test time",
        "flow": "OpenCV Farneback on grey uint8 frames, clipped to +-20 px, /20 (TwoStream.add_flow)",
        "args": vars(args), **result, "cpu_s": round(time.process_time() - cpu0, 1),
        "load_before": load_before, "load_after": [round(v, 2) for v in os.getloadavg()],
        "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__},
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": "OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/train_two_stream_tiny.py",
    }
    TINY_METADATA.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record["test"], indent=2))
    print(f"wrote {TINY_WEIGHTS} ({record['size_bytes']} bytes) and {TINY_METADATA}")


if __name__ == "__main__":
    main()
