#!/usr/bin/env python
"""Train the shipped ``synthetic-tiny`` and ``synthetic-tiny-background`` models on CPU.

Clips are generated on the fly (``vidxai.data.synthetic.SyntheticActions``; every training clip is new),
so there is no dataset to download. Three disjoint clip streams are used: training (``--seed``),
validation for early stopping (``--seed + 1``) and the held-out test set whose accuracy is recorded
(``--seed + 2``). Test seeds in tests/test_synthetic.py use yet another stream.

Each model is trained by a two-stage schedule (``SCHEDULE``): stage 1 from a fresh (motion-stem) init at
``--lr`` on seed stream ``--seed``, then stage 2 continues from stage 1's weights at ``--stage2-lr`` on a fresh
seed stream ``--seed + 3`` (its own training/validation/test streams), with a new optimiser and one-cycle
schedule. One command reproduces the shipped weights; the held-out test accuracy of each stage is printed
and recorded.

Writes ``vidxai/models/weights/synthetic_tiny.pt``, ``synthetic_tiny_background.pt`` and ``synthetic.json``
(accuracy, parameters, wall and CPU time, seeds, SHA-256 of each weight file)::

    nice python tools/train_synthetic.py --task action --threads 1     # the shipped action model
    nice python tools/train_synthetic.py --task both                   # both models (also: --task all)
    python tools/train_synthetic.py --task action --steps 800 --stage2-steps 0   # one stage only
    python tools/train_synthetic.py --task action --init w.pt --lr 1e-3 --steps 200 --seed 20263  # continue w.pt
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vidxai.data.synthetic import SyntheticActions  # noqa: E402
from vidxai.models.synthetic import (METADATA_FILE, SPEC, WEIGHT_FILES, WEIGHTS_DIR,  # noqa: E402
                                     SyntheticNet3D, sha256_file)

TASK_MODEL = {"action": "synthetic-tiny", "background": "synthetic-tiny-background"}
DEFAULT_STEPS = {"action": 700, "background": 400}  # stage 1
# Stage 2 (lower learning rate, fresh seed stream): ``steps`` sets the one-cycle length and the training
# stream size; the action model stops early once validation accuracy reaches TARGET_ACC (at step 200).
STAGE2 = {"action": {"steps": 350, "lr": 1e-3, "seed_offset": 3},
          "background": {"steps": 200, "lr": 1e-3, "seed_offset": 3}}
SCHEDULE = {task: {"stage1": {"steps": DEFAULT_STEPS[task], "lr": 3e-3, "seed_offset": 0}, "stage2": STAGE2[task]}
            for task in DEFAULT_STEPS}
TARGET_ACC = {"action": 0.985, "background": 0.99}  # validation accuracy that stops training early


def batches(ds: SyntheticActions, batch_size: int, start: int = 0):
    """Consecutive batches of ``ds`` items from ``start`` on: (video (B,3,T,H,W), label (B,))."""
    i = start
    while i < len(ds):
        items = [ds[j] for j in range(i, min(i + batch_size, len(ds)))]
        yield torch.stack([it["video"] for it in items]), torch.tensor([it["label"] for it in items])
        i += batch_size


@torch.no_grad()
def evaluate(net: nn.Module, ds: SyntheticActions, batch_size: int = 32, desc: str | None = None) -> float:
    """Top-1 accuracy of ``net`` (eval mode) on every item of ``ds`` (a tqdm bar when ``desc`` is given)."""
    net.eval()
    correct = 0
    n_batches = (len(ds) + batch_size - 1) // batch_size
    for x, y in tqdm(batches(ds, batch_size), total=n_batches, desc=desc, disable=desc is None,
                     leave=False, dynamic_ncols=True):
        correct += int((net(x).argmax(1) == y).sum())
    return correct / max(len(ds), 1)


def motion_stem_init(net: SyntheticNet3D) -> None:
    """Initialise half of the stem's filters as temporal differences of a random spatial filter.

    ``w[:, :, 1] = k, w[:, :, 2] = -k``: these units start out responding to change between frames and
    not to static texture, which makes motion learnable in a few hundred steps on CPU.
    """
    conv = net.features[0][0]
    with torch.no_grad():
        w = conv.weight  # (C_out, 3, kT=3, kH, kW)
        half = w.shape[0] // 2
        k = w[:half, :, 1].clone()
        w[:half, :, 0] = 0
        w[:half, :, 1] = k
        w[:half, :, 2] = -k


def train_task(task: str, steps: int, batch_size: int, lr: float, seed: int, val_clips: int, test_clips: int,
               eval_every: int, quiet: bool, stem_init: str = "motion", init: Path | None = None,
               init_state: dict | None = None, desc: str | None = None) -> dict:
    """Train one model (one stage); returns its record, the trained net under ``"net"``.

    ``init`` (a weight file) or ``init_state`` (a state_dict, e.g. the previous stage's) continues training
    from those weights; otherwise the net starts from a fresh init (``stem_init``). The weights are written
    by the caller.
    """
    torch.manual_seed(seed)
    np.random.seed(seed)
    num_classes = len(SyntheticActions(1, task=task).class_names)
    net = SyntheticNet3D(num_classes)
    if init is not None:  # continue from earlier weights (a second stage, e.g. with a lower --lr)
        from vidxai.models.synthetic import load_state_dict_into

        load_state_dict_into(net, init)
        stem_init = f"from {Path(init).name}"
    elif init_state is not None:
        net.load_state_dict(init_state)
        stem_init = "from stage 1"
    elif stem_init == "motion":
        motion_stem_init(net)
    train = SyntheticActions(steps * batch_size, seed=seed, task=task)
    val = SyntheticActions(val_clips, seed=seed + 1, task=task)
    test = SyntheticActions(test_clips, seed=seed + 2, task=task)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    loss_fn = nn.CrossEntropyLoss()
    # Labels of consecutive items cycle through the classes; shuffle item order (seeded) so batches mix.
    order = torch.randperm(len(train), generator=torch.Generator().manual_seed(seed)).tolist()
    t0, c0 = time.time(), time.process_time()
    history = []
    best_val, step = -1.0, 0
    bar = tqdm(range(steps), desc=desc or f"train {TASK_MODEL[task]}", disable=quiet, dynamic_ncols=True)
    for step in bar:
        net.train()
        idx = order[step * batch_size:(step + 1) * batch_size]
        items = [train[j] for j in idx]
        x = torch.stack([it["video"] for it in items])
        y = torch.tensor([it["label"] for it in items])
        loss = loss_fn(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        bar.set_postfix(loss=f"{loss.item():.3f}", val=f"{best_val:.3f}")
        if (step + 1) % eval_every == 0 or step + 1 == steps:
            acc = evaluate(net, val)
            history.append({"step": step + 1, "loss": round(loss.item(), 4), "val_accuracy": round(acc, 4),
                            "seconds": round(time.time() - t0, 1)})
            best_val = max(best_val, acc)
            if not quiet:
                tqdm.write(f"  step {step + 1}: loss {loss.item():.3f}  val acc {acc:.3f}  ({time.time() - t0:.0f}s)")
            if acc >= TARGET_ACC[task]:
                break
    train_seconds = time.time() - t0
    cpu_seconds = time.process_time() - c0
    test_acc = evaluate(net, test, desc=None if quiet else f"test {TASK_MODEL[task]} ({test_clips} held-out clips)")
    net.eval()
    return {
        "net": net,
        "task": task,
        "test_accuracy": round(test_acc, 4),
        "test_clips": test_clips,
        "val_accuracy": history[-1]["val_accuracy"] if history else None,
        "val_clips": val_clips,
        "steps": step + 1,
        "batch_size": batch_size,
        "train_clips": (step + 1) * batch_size,
        "lr": lr,
        "stem_init": stem_init,
        "train_seconds": round(train_seconds, 1),
        "train_cpu_seconds": round(cpu_seconds, 1),
        "params": sum(p.numel() for p in net.parameters()),
        "seeds": {"train": seed, "val": seed + 1, "test": seed + 2},
        "history": history,
    }


def _save(net: nn.Module, path: Path) -> dict:
    """Write ``net``'s state_dict to ``path``; returns the file fields of its record."""
    torch.save(net.state_dict(), path)
    return {"file": path.name, "sha256": sha256_file(path), "bytes": path.stat().st_size}


def train_schedule(task: str, args: argparse.Namespace) -> tuple[nn.Module, dict]:
    """Run the stages for ``task`` (two by default, one with ``--init`` or ``--stage2-steps 0``).

    Returns the final net and its record; the record of stage 1 is kept under ``"previous_stage"``
    (with the SHA-256 its weight file would have), and ``total_seconds`` / ``total_cpu_seconds`` cover
    every stage including the validation and test evaluations.
    """
    name = TASK_MODEL[task]
    sched = SCHEDULE[task]
    stage2_steps = sched["stage2"]["steps"] if args.stage2_steps is None else args.stage2_steps
    two_stage = args.init is None and stage2_steps > 0
    t0, c0 = time.time(), time.process_time()
    rec = train_task(task, args.steps or sched["stage1"]["steps"], args.batch_size,
                     args.lr if args.lr is not None else sched["stage1"]["lr"], args.seed, args.val_clips,
                     args.test_clips, args.eval_every, args.quiet, args.stem_init, args.init,
                     desc=f"{name} stage 1/2" if two_stage else None)
    net = rec.pop("net")
    if two_stage:
        if not args.quiet:
            tqdm.write(f"{name} stage 1: test accuracy {rec['test_accuracy']:.3f} on {rec['test_clips']} "
                       f"held-out clips, {rec['steps']} steps")
        with tempfile.TemporaryDirectory() as tmp:  # same file name -> same bytes as a stand-alone stage 1
            rec.update(_save(net, Path(tmp) / WEIGHT_FILES[name]))
        stage1 = {k: v for k, v in rec.items() if k != "history"}
        stage1["val_history"] = rec["history"]
        s2 = sched["stage2"]
        rec = train_task(task, stage2_steps, args.batch_size, args.stage2_lr or s2["lr"],
                         args.seed + s2["seed_offset"], args.val_clips, args.test_clips, args.eval_every,
                         args.quiet, init_state=net.state_dict(), desc=f"{name} stage 2/2")
        net = rec.pop("net")
        rec["init_sha256"] = stage1["sha256"]
        rec["previous_stage"] = stage1
    rec["total_seconds"] = round(time.time() - t0, 1)
    rec["total_cpu_seconds"] = round(time.process_time() - c0, 1)
    return net, rec


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", choices=["both", "all", "action", "background"], default="both",
                   help="which model(s) to train; both = all = action and background, one after the other")
    p.add_argument("--steps", type=int, default=None,
                   help=f"stage-1 (or single-stage) max steps (default: {DEFAULT_STEPS})")
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=None, help="stage-1 (or single-stage) peak lr (default 3e-3)")
    p.add_argument("--seed", type=int, default=20260,
                   help="stage-1 seed: training stream SEED, validation SEED+1, test SEED+2; stage 2 uses SEED+3..5")
    p.add_argument("--stage2-steps", type=int, default=None,
                   help="stage-2 one-cycle length / max steps (default: action 350, background 200); 0: one stage")
    p.add_argument("--stage2-lr", type=float, default=None, help="stage-2 peak lr (default 1e-3)")
    p.add_argument("--val-clips", type=int, default=120)
    p.add_argument("--test-clips", type=int, default=300)
    p.add_argument("--eval-every", type=int, default=50)
    p.add_argument("--threads", type=int, default=2,
                   help="torch CPU threads (the shipped weights: 1; bit-identical only with the same count)")
    p.add_argument("--out", type=Path, default=WEIGHTS_DIR, help="where to write weights + synthetic.json")
    p.add_argument("--stem-init", choices=["motion", "random"], default="motion",
                   help="motion: half the stem filters start as temporal differences (default)")
    p.add_argument("--init", type=Path, default=None,
                   help="one stage only, starting from these weights instead of a fresh init")
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    meta_path = args.out / METADATA_FILE.name
    tasks = ["action", "background"] if args.task in ("both", "all") else [args.task]
    for task in tasks:
        net, rec = train_schedule(task, args)
        name = TASK_MODEL[task]
        path = args.out / WEIGHT_FILES[name]
        rec.update(_save(net, path))
        rec.update({"spec": SPEC.to_dict(),
                    "trained_at": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "threads": args.threads, "cpu_count": os.cpu_count(), "torch": torch.__version__,
                    "machine": platform.machine(),
                    "command": "python tools/train_synthetic.py " + " ".join(argv if argv is not None else sys.argv[1:])})
        if args.init is not None:  # keep the earlier stage's record next to this one
            prev_meta = args.init.parent / METADATA_FILE.name
            prev = json.loads(prev_meta.read_text()).get("models", {}).get(name) if prev_meta.is_file() else None
            rec["init_sha256"] = sha256_file(args.init)
            if prev and prev.get("sha256") == rec["init_sha256"]:
                rec["previous_stage"] = {k: v for k, v in prev.items() if k not in ("history", "spec")}
        # Re-read just before writing: the two models may be trained by two concurrent invocations.
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
        meta.setdefault("models", {})[name] = rec
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")
        print(f"{name}: test accuracy {rec['test_accuracy']:.3f} on {rec['test_clips']} held-out clips, "
              f"{rec['steps']} steps in the last stage, {rec['total_seconds']:.0f}s wall, "
              f"{rec['total_cpu_seconds']:.0f}s CPU in all, {rec['params']} params -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
