"""Benchmark: time per clip of every registered attribution method, next to captum's and pytorch-grad-cam's
equivalents measured in the same run (interleaved, the order rotated every repeat; best and median reported).

Pairs (ours vs the reference: same input, same target, same parameters):

- gradient / captum ``Saliency(abs=False)``; guided-backprop / ``GuidedBackprop``; input-x-gradient /
  ``InputXGradient``; integrated-gradients / ``IntegratedGradients`` (same n_steps, Gauss-Legendre, same
  internal batch size); smoothgrad / ``NoiseTunnel(Saliency)`` (same number of samples, captum's
  ``nt_samples_batch_size`` = our internal batch size). Target: ratio <= 1.0.
- gradcam / gradcam++ / xgradcam / layercam against pytorch-grad-cam's ``GradCAM`` / ``GradCAMPlusPlus`` /
  ``XGradCAM`` / ``LayerCAM`` on the same target layer (the model's default), ``ClassifierOutputTarget(target)``;
  the CAM object is built *inside* the timed call with its context manager (so its hooks are removed), its
  ``__call__`` includes its numpy CAM maths and scipy zoom; parameters require grad during its call, as on a
  freshly loaded model (pytorch-grad-cam back-propagates through ``loss.backward()`` into parameter gradients).
  Target for gradcam: ratio <= 0.3. gradcam also gets captum ``LayerGradCam(relu_attributions=True)`` +
  ``LayerAttribution.interpolate(..., "trilinear")`` as a second reference.
- guided-gradcam / captum ``GuidedGradCam(interpolate_mode="trilinear")``.
- Perturbation family (small settings, ``--perturbation-repeats`` repeats, no separate warm-up call):
  occlusion / captum ``Occlusion`` (window 1/2 T x 1/4 H x 1/4 W, same stride: 32 windows); lime / captum ``Lime``
  (``SkLearnLinearRegression``); kernelshap / captum ``KernelShap``; feature-occlusion (``sets=False``: single
  drops only) / captum ``FeatureAblation``.
  Both libraries get the same supervoxel feature mask (``vidxai.supervoxels.slic3d``, computed once, outside the
  timing), the same number of samples, a constant-0 fill / ``baselines=0`` (normalised space) and captum's
  ``perturbations_per_eval`` = our ``chunk_size``. rise and extremal-perturbation are timed alone.
- Everything else (LRP, Saliency Tubes, Jitter-CAM, SWAG-V, the baselines, any method registered later) is
  timed alone with its defaults: no Conv3d equivalent exists.
- Two floor rows per model: ``forward (no grad)`` and ``forward+backward (input grad)``; for models with max
  pools, both are also timed with torch's own max-pool kernel (vidxai's faster pooling switched off).

A method that raises (e.g. a VidxaiError for a head it cannot read) gets its error text in its row.
Random weights by default (timing does not depend on the weights). Writes ``docs/benchmarks/attribution.{json,md}``
(or ``--out DIR``); ``--quick`` is a smoke run (synthetic-tiny 8x56x56, 1 repeat) that writes only with ``--out``.

    python tools/bench_attribution.py                                  # r2plus1d_18 16x112x112, i3d 16x224x224
    python tools/bench_attribution.py --models r2plus1d_18 --methods gradient gradcam --repeats 5
    python tools/bench_attribution.py --no-perturbation --threads 2
    python tools/bench_attribution.py --models i3d --merge               # re-measure i3d, keep the other rows
    python tools/bench_attribution.py --no-perturbation                 # a long run in two parts:
    python tools/bench_attribution.py --families perturbation --merge
    python tools/bench_attribution.py --quick --out /tmp/bench          # < 60 s smoke test
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchlib import count_hooks, interleaved, load_model  # noqa: E402  (tools/ sibling module)

from vidxai.models.layers import MaxPool3d  # noqa: E402

DEFAULT_MODELS = ["r2plus1d_18", "i3d"]
GRADIENT_TARGET = 1.0  # ours / captum, gradient family
GRADCAM_TARGET = 0.3   # ours / pytorch-grad-cam, Grad-CAM
FAMILY_ORDER = {f: i for i, f in enumerate(("gradient", "cam", "relevance", "supervoxel", "baseline", "perturbation"))}
PGC_CLASSES = {"gradcam": "GradCAM", "gradcam++": "GradCAMPlusPlus", "xgradcam": "XGradCAM", "layercam": "LayerCAM"}


@dataclass
class Reference:
    library: str
    name: str
    run: Callable[[], object]
    target: float | None = None  # ratio ours / this reference that the issue asks for


TORCH_POOL = "torch's max-pool kernel"


@contextlib.contextmanager
def _fast_pools_off():
    """vidxai's gradient-free max pooling switched off (``nn.MaxPool3d``'s own kernel everywhere)."""
    saved = MaxPool3d._fast_path
    MaxPool3d._fast_path = lambda self, x: False
    try:
        yield
    finally:
        MaxPool3d._fast_path = saved


@dataclass
class Case:
    method: str
    family: str
    params: dict
    refs: list[Reference] = field(default_factory=list)
    note: str = ""


def _param_grads(model: torch.nn.Module, flag: bool) -> None:
    for p in model.parameters():
        p.requires_grad_(flag)


def _printable(params: dict) -> dict:
    """Parameters as JSON-able values (tensors, e.g. a segmentation, by their description)."""
    out = {}
    for k, v in params.items():
        if isinstance(v, torch.Tensor):
            out[k] = f"tensor{tuple(v.shape)}" if k != "segmentation" else f"supervoxels (K={int(v.max()) + 1})"
        elif isinstance(v, tuple):
            out[k] = list(v)
        else:
            out[k] = v
    return out


def build_cases(model, x: torch.Tensor, target: int, methods: list[str], args) -> tuple[list[Case], dict]:
    """One :class:`Case` per method: our parameters and the reference callables, all on the same input."""
    import captum.attr as ca

    import vidxai
    from vidxai.attribution.cam import resolve_layers

    t, h, w = x.shape[2:]
    tt = torch.tensor([target], device=x.device)
    ibs = args.internal_batch_size
    info: dict = {}

    def cap(fn):
        def run():
            _param_grads(model, False)  # captum would accumulate parameter gradients; ours never computes them
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fn()
        return run

    def pgc(cls_name: str, layers):
        def run():
            import pytorch_grad_cam
            from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget

            _param_grads(model, True)  # pytorch-grad-cam's backward needs them (loss.backward(), no input grad)
            try:
                with getattr(pytorch_grad_cam, cls_name)(model=model, target_layers=layers) as cam:
                    cam(input_tensor=x, targets=[ClassifierOutputTarget(target)])
            finally:
                model.zero_grad(set_to_none=True)
                _param_grads(model, False)
        return run

    seg = None
    if any(m in methods for m in ("lime", "kernelshap", "feature-occlusion")):
        from vidxai.supervoxels import slic3d

        with torch.no_grad():
            seg = slic3d(model.to_unit_rgb(x), n_segments=args.supervoxels)
        info["supervoxels"] = int(seg.max()) + 1
    mask = None if seg is None else seg[:, None].expand(x.shape[0], x.shape[1], t, h, w).contiguous()
    window = (max(1, t // 2), max(1, h // 4), max(1, w // 4))
    if "occlusion" in methods:
        from vidxai.attribution.perturbation import window_starts

        info["occlusion_windows"] = (len(window_starts(t, window[0], window[0]))
                                     * len(window_starts(h, window[1], window[1]))
                                     * len(window_starts(w, window[2], window[2])))

    cases: list[Case] = []
    for m in methods:
        family = getattr(vidxai.methods.get(m), "family", "")
        params: dict = {}
        refs: list[Reference] = []
        note = ""
        if m == "gradient":
            refs = [Reference("captum", "Saliency(abs=False)", cap(lambda: ca.Saliency(model).attribute(
                x.clone(), target=tt, abs=False)), GRADIENT_TARGET)]
        elif m == "guided-backprop":
            params = {"strict": False}
            refs = [Reference("captum", "GuidedBackprop", cap(lambda: ca.GuidedBackprop(model).attribute(
                x.clone(), target=tt)), GRADIENT_TARGET)]
        elif m == "input-x-gradient":
            refs = [Reference("captum", "InputXGradient", cap(lambda: ca.InputXGradient(model).attribute(
                x.clone(), target=tt)), GRADIENT_TARGET)]
        elif m == "integrated-gradients":
            params = {"n_steps": args.ig_steps, "internal_batch_size": ibs}
            refs = [Reference("captum", f"IntegratedGradients(n_steps={args.ig_steps}, internal_batch_size={ibs})",
                              cap(lambda: ca.IntegratedGradients(model).attribute(
                                  x.clone(), target=tt, n_steps=args.ig_steps, internal_batch_size=ibs)),
                              GRADIENT_TARGET)]
        elif m == "smoothgrad":
            params = {"n_samples": args.sg_samples, "internal_batch_size": ibs}
            refs = [Reference("captum", f"NoiseTunnel(Saliency, nt_samples={args.sg_samples}, "
                              f"nt_samples_batch_size={ibs})",
                              cap(lambda: ca.NoiseTunnel(ca.Saliency(model)).attribute(
                                  x.clone(), target=tt, nt_samples=args.sg_samples, nt_samples_batch_size=ibs,
                                  stdevs=0.15, abs=False)), GRADIENT_TARGET)]
        elif m in PGC_CLASSES or m == "guided-gradcam":
            try:
                layers = resolve_layers(model, None)
            except vidxai.errors.VidxaiError:
                layers = []  # ours records the same error in its row
            if m == "guided-gradcam":
                params = {"strict": False}
                if layers:
                    refs = [Reference("captum", "GuidedGradCam(interpolate_mode='trilinear')", cap(
                        lambda: ca.GuidedGradCam(model, layers[0]).attribute(
                            x.clone(), target=tt, interpolate_mode="trilinear")))]
            elif layers:
                refs = [Reference("pytorch-grad-cam", PGC_CLASSES[m], pgc(PGC_CLASSES[m], layers),
                                  GRADCAM_TARGET if m == "gradcam" else None)]
                if m == "gradcam":
                    def layer_gradcam(layer=layers[0]):
                        cam = ca.LayerGradCam(model, layer).attribute(x.clone(), target=tt, relu_attributions=True)
                        ca.LayerAttribution.interpolate(cam, (t, h, w), "trilinear")
                    refs.append(Reference("captum", "LayerGradCam + interpolate(trilinear)", cap(layer_gradcam)))
        elif m == "occlusion":
            chunk = 16
            params = {"window": window, "stride": window, "fill": "constant", "value": 0.0, "chunk_size": chunk}
            refs = [Reference("captum", f"Occlusion(perturbations_per_eval={chunk})", cap(
                lambda: ca.Occlusion(model).attribute(
                    x.clone(), target=tt, sliding_window_shapes=(x.shape[1], *window), strides=(x.shape[1], *window),
                    baselines=0, perturbations_per_eval=chunk)))]
        elif m in ("lime", "kernelshap"):
            chunk = 32
            params = {"segmentation": seg, "n_samples": args.lime_samples, "fill": "constant", "value": 0.0,
                      "chunk_size": chunk}
            if m == "lime":
                def captum_lime():
                    from captum._utils.models.linear_model import SkLearnLinearRegression

                    ca.Lime(model, interpretable_model=SkLearnLinearRegression()).attribute(
                        x.clone(), target=tt, baselines=0, feature_mask=mask, n_samples=args.lime_samples,
                        perturbations_per_eval=chunk)
                refs = [Reference("captum", f"Lime(SkLearnLinearRegression, perturbations_per_eval={chunk})",
                                  cap(captum_lime))]
            else:
                refs = [Reference("captum", f"KernelShap(perturbations_per_eval={chunk})", cap(
                    lambda: ca.KernelShap(model).attribute(
                        x.clone(), target=tt, baselines=0, feature_mask=mask, n_samples=args.lime_samples,
                        perturbations_per_eval=chunk)))]
        elif m == "feature-occlusion":
            chunk = 32
            # sets=False: the single-feature drops only, what FeatureAblation computes (the default also searches
            # the deleting and restoring sets, about 2K more forwards).
            params = {"segmentation": seg, "fill": "constant", "value": 0.0, "chunk_size": chunk, "sets": False}
            refs = [Reference("captum", f"FeatureAblation(perturbations_per_eval={chunk})", cap(
                lambda: ca.FeatureAblation(model).attribute(x.clone(), target=tt, baselines=0, feature_mask=mask,
                                                            perturbations_per_eval=chunk)))]
            note = "sets=False (single drops, like FeatureAblation); the default sets=True adds ~2K forwards"
        elif m == "rise":
            params = {"n_masks": args.rise_masks}
        elif m == "extremal-perturbation":
            params = {"areas": (0.1,), "iterations": args.extremal_iterations}
        elif m.startswith("swagv"):
            params = {"strict": False}
        cases.append(Case(m, family, params, refs, note))
    return cases, info


def _row(method: str, family: str, params: dict, seconds: dict, errors: dict, refs: list[Reference],
         note: str = "") -> dict:
    row: dict = {"method": method, "family": family, "params": _printable(params)}
    if note:
        row["note"] = note
    if "vidxai" in errors:
        row["error"] = errors["vidxai"]
        return row
    ours = seconds["vidxai"]
    row["vidxai_s"] = ours
    row["references"] = []
    met = None
    for ref in refs:
        entry: dict = {"library": ref.library, "name": ref.name, "target_ratio": ref.target}
        if ref.name in errors:
            entry["error"] = errors[ref.name]
        else:
            theirs = seconds[ref.name]
            entry["seconds"] = theirs
            entry["best_ratio"] = min(ours) / min(theirs)
            entry["median_ratio"] = statistics.median(a / b for a, b in zip(ours, theirs))
            if ref.target is not None:
                entry["met"] = entry["best_ratio"] <= ref.target
                met = entry["met"]
        row["references"].append(entry)
    row["met"] = met
    return row


def _say(model_name: str, row: dict) -> None:
    if "error" in row:
        print(f"{model_name} {row['method']}: error: {row['error']}", flush=True)
        return
    text = f"{model_name} {row['method']}: ours {min(row['vidxai_s']):.3f}s"
    for ref in row.get("references", []):
        if "error" in ref:
            text += f" | {ref['library']} {ref['name']}: error: {ref['error'][:80]}"
        else:
            text += f" | {ref['library']} {min(ref['seconds']):.3f}s ratio {ref['best_ratio']:.2f}"
    print(text, flush=True)


def bench_model(name: str, methods: list[str], args) -> dict:
    import vidxai

    model, weights = load_model(name, args.device, args.weights)
    model.eval()
    _param_grads(model, False)
    t = args.frames or model.spec.num_frames
    h, w = (args.size, args.size) if args.size else tuple(model.spec.crop)
    x = torch.randn(1, 3, t, h, w, generator=torch.Generator().manual_seed(0)).to(args.device)
    target = 0

    def forward():
        with torch.no_grad():
            model(x)

    def forward_backward():
        xi = x.detach().requires_grad_(True)
        torch.autograd.grad(model(xi)[:, target].sum(), xi)

    rows = []
    floors = {"forward (no grad)": forward, "forward+backward (input grad)": forward_backward}
    pool_refs: dict[str, str] = {}  # floor -> the same floor through torch's own max-pool kernel
    if any(isinstance(m, MaxPool3d) for m in model.modules()):
        # What vidxai's max pooling saves (models/layers.py), measured side by side.
        for label, fn in list(floors.items()):
            def torch_pool(fn=fn):
                with _fast_pools_off():
                    fn()
            pool_refs[label] = f"{label}, {TORCH_POOL}"
            floors[pool_refs[label]] = torch_pool
    sec, err = interleaved(floors, args.repeats, args.device)
    for label in ("forward (no grad)", "forward+backward (input grad)"):
        ref = pool_refs.get(label)
        refs = [Reference("torch", ref, floors[ref])] if ref else []
        secs = {"vidxai": sec.get(label), **({ref: sec.get(ref)} if ref else {})}
        errors = {k: _error_text(err[k2]) for k, k2 in (("vidxai", label), (ref, ref)) if k2 in err}
        row = _row(label, "floor", {}, secs, errors, refs)
        rows.append(row)
        _say(name, row)

    cases, info = build_cases(model, x, target, methods, args)
    for case in cases:
        method_cls = vidxai.methods.get(case.method)

        def ours(cls=method_cls, params=case.params):
            return cls(model).attribute(x, target=target, **params)

        fns = {"vidxai": ours, **{r.name: r.run for r in case.refs}}
        slow = case.family == "perturbation"
        seconds, errors = interleaved(fns, args.perturbation_repeats if slow else args.repeats, args.device,
                                      warmup=not slow)
        bug = errors.get("vidxai")
        if bug is not None and not isinstance(bug, vidxai.errors.VidxaiError):
            # not a clear one-line refusal but a crash: keep the traceback for whoever fixes it
            traceback.print_exception(bug, file=sys.stderr)
        row = _row(case.method, case.family, case.params, seconds, {k: _error_text(v) for k, v in errors.items()},
                   case.refs, case.note)
        rows.append(row)
        _say(name, row)
    return {"model": name, "weights": weights, "clip": [3, t, h, w], "target": target,
            "hooks_left": count_hooks(model), **info, "rows": rows}


def _error_text(e: BaseException) -> str:
    """One line: the message of a VidxaiError, ``Type: message`` of anything else."""
    import vidxai

    text = str(e) if isinstance(e, vidxai.errors.VidxaiError) else f"{type(e).__name__}: {e}"
    return text.strip().split("\n")[0]


# ---------------------------------------------------------------------------------------------------- output
def _fmt(seconds: list[float]) -> str:
    return f"{min(seconds):.3f} / {statistics.median(seconds):.3f}"


def _settings_text(s: dict) -> str:
    return (f"{s['repeats']} repeats ({s['perturbation_repeats']} for the perturbation family), integrated gradients "
            f"{s['ig_steps']} steps, SmoothGrad {s['sg_samples']} samples, internal batch size "
            f"{s['internal_batch_size']}, LIME / KernelSHAP {s['lime_samples']} samples, {s['supervoxels']} "
            f"requested supervoxels, RISE {s['rise_masks']} masks, extremal perturbation 1 area x "
            f"{s['extremal_iterations']} iterations")


def markdown(data: dict) -> str:
    """The Markdown report of a results file (``{"runs": [...], "results": [...]}``)."""
    runs, results = data["runs"], data["results"]
    lines = ["# Attribution methods: time per clip, vidxai vs captum / pytorch-grad-cam", ""]
    for i, run in enumerate(runs):
        label = f"Run {i}: " if len(runs) > 1 else ""
        lines += [f"{label}`{run['command']}` ({run['date']}, torch {run['torch']}, {run['device']}, "
                  f"{run['threads']} thread(s), {run['machine']}, load average {run['load_before']} before / "
                  f"{run['load_after']} after; {_settings_text(run['settings'])}).", ""]
    lines += ["One clip of seeded noise, target class 0, random weights. Ours and the references run interleaved in "
              "the same process, the order rotated every repeat, after one warm-up call each (the perturbation "
              "family gets no separate warm-up call: the model is warm from the rows before). Times are best / "
              "median seconds; ratio = ours / reference: the ratio of the best times, and the median of the "
              "per-repeat ratios. On a CPU shared with other processes single repeats vary widely; the ratio of "
              "the best times is the least disturbed estimate.", "",
              "Same parameters for both libraries. CAMs on the model's default target layer; pytorch-grad-cam's CAM "
              "object is built inside the timed call (its context manager, so its hooks go), with parameter "
              "gradients on during its call as on a freshly loaded model (its backward is `loss.backward()`); "
              "captum runs with parameter gradients off, like ours. Guided methods `strict=False`. Occlusion: "
              "window = stride = 1/2 T x 1/4 H x 1/4 W, chunk 16. LIME / KernelSHAP (chunk 32) and feature "
              "occlusion (chunk 32) on the same SLIC supervoxel feature mask, computed once outside the timing. "
              "Perturbation fill: constant 0 in normalised space (captum `baselines=0`); captum's "
              "`perturbations_per_eval` = our chunk. Other methods use their defaults. Targets from issue 5: "
              f"gradient methods ratio <= {GRADIENT_TARGET} against captum; Grad-CAM <= {GRADCAM_TARGET} against "
              "pytorch-grad-cam.", ""]
    multi = len(runs) > 1
    for res in results:
        c = res["clip"]
        extra = "".join(f", {res[k]} {k.replace('_', ' ')}" for k in ("supervoxels", "occlusion_windows") if k in res)
        lines += [f"## {res['model']} ({c[1]}x{c[2]}x{c[3]}, {res['weights']} weights{extra}; hooks left on the "
                  f"model after the run: {res['hooks_left']})", "",
                  "| method | family | vidxai s (best / median) | reference library | reference s (best / median) "
                  "| ratio of bests | median ratio | target | met? |" + (" run |" if multi else ""),
                  "|---|---|---|---|---|---|---|---|---|" + ("---|" if multi else "")]
        for r in res["rows"]:
            head = f"| {r['method']} | {r['family']} |"
            tail = f" {r.get('run', 0)} |" if multi else ""
            if "error" in r:
                lines.append(f"{head} error: {r['error'][:140]} | | | | | | |{tail}")
                continue
            ours = _fmt(r["vidxai_s"])
            refs = r.get("references", [])
            if not refs:
                what = "(floor)" if r["family"] == "floor" else "no Conv3d equivalent"
                lines.append(f"{head} {ours} | {what} | | | | | |{tail}")
                continue
            for ref in refs:
                lib = f"{ref['library']} `{ref['name']}`"
                target = f"<= {ref['target_ratio']}" if ref["target_ratio"] is not None else ""
                if "error" in ref:
                    lines.append(f"{head} {ours} | {lib}: no equivalent ({ref['error'][:100]}) | | | | {target} | "
                                 f"|{tail}")
                    continue
                met = "" if "met" not in ref else ("yes" if ref["met"] else "**no**")
                lines.append(f"{head} {ours} | {lib} | {_fmt(ref['seconds'])} | **{ref['best_ratio']:.2f}** | "
                             f"{ref['median_ratio']:.2f} | {target} | {met} |{tail}")
        notes = [f"{r['method']}: {r['note']}" for r in res["rows"] if r.get("note")]
        lines += [""] + [f"Note: {n}." for n in notes] + ([""] if notes else [])
    return "\n".join(lines)


def _row_order(row: dict) -> tuple[int, str]:
    # Floors first, then by family, then by name (merged runs keep the table in one order).
    return (-1, "") if row["family"] == "floor" else (FAMILY_ORDER.get(row["family"], 99), row["method"])


def merge(old: dict, new: dict) -> dict:
    """``old`` results updated with ``new`` ones (one new run): rows of a re-measured (model, method) are replaced,
    the others kept, so a long measurement can be split into several commands (``--merge``). A model measured
    at another clip size replaces the old entry. Runs no row refers to any more are dropped."""
    runs = old.get("runs", []) + new["runs"]
    shift = len(old.get("runs", []))
    results = {r["model"]: r for r in old.get("results", [])}
    for res in new["results"]:
        for row in res["rows"]:
            row["run"] = row.get("run", 0) + shift
        prev = results.get(res["model"])
        if prev is None or prev["clip"] != res["clip"]:
            results[res["model"]] = res
            continue
        measured = {r["method"] for r in res["rows"]}
        merged = dict(prev, **{k: v for k, v in res.items() if k != "rows"})
        merged["hooks_left"] = max(prev.get("hooks_left", 0), res["hooks_left"])
        merged["rows"] = sorted([r for r in prev["rows"] if r["method"] not in measured] + res["rows"], key=_row_order)
        results[res["model"]] = merged
    used = sorted({r.get("run", 0) for res in results.values() for r in res["rows"]})
    renumber = {old_i: i for i, old_i in enumerate(used)}
    for res in results.values():
        for r in res["rows"]:
            r["run"] = renumber[r.get("run", 0)]
    return {"runs": [runs[i] for i in used], "results": list(results.values())}


def main(argv: list[str] | None = None) -> int:
    import vidxai

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--models", nargs="+", default=None, help=f"default: {' '.join(DEFAULT_MODELS)}")
    p.add_argument("--methods", nargs="+", default=None, help="subset of `vidxai methods` (default: all)")
    p.add_argument("--frames", type=int, default=None, help="clip length (default 16; --quick 8)")
    p.add_argument("--size", type=int, default=None, help="square crop (default: the model's; --quick 56)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats per method (default 3; --quick 1)")
    p.add_argument("--perturbation-repeats", type=int, default=1)
    p.add_argument("--no-perturbation", action="store_true", help="skip the perturbation family (slow)")
    p.add_argument("--families", nargs="+", default=None, choices=list(FAMILY_ORDER),
                   help="only methods of these families")
    p.add_argument("--ig-steps", type=int, default=8)
    p.add_argument("--sg-samples", type=int, default=4)
    p.add_argument("--internal-batch-size", type=int, default=4)
    p.add_argument("--lime-samples", type=int, default=32, help="LIME / KernelSHAP samples")
    p.add_argument("--supervoxels", type=int, default=32, help="requested SLIC supervoxels for feature methods")
    p.add_argument("--rise-masks", type=int, default=64)
    p.add_argument("--extremal-iterations", type=int, default=20)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: leave torch's default)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--weights", choices=["random", "default"], default="random")
    p.add_argument("--quick", action="store_true",
                   help="smoke run: synthetic-tiny 8x56x56, 1 repeat; writes files only with --out")
    p.add_argument("--out", type=Path, default=None, help="output folder (default docs/benchmarks)")
    p.add_argument("--merge", action="store_true",
                   help="keep the rows of an existing attribution.json that this run does not re-measure")
    args = p.parse_args(argv)
    if args.quick:
        args.models = args.models or ["synthetic-tiny"]
        args.frames = args.frames or 8
        args.size = args.size or 56
        args.repeats = args.repeats or 1
    args.models = args.models or DEFAULT_MODELS
    args.frames = args.frames or 16
    args.repeats = args.repeats or 3
    if args.threads:
        torch.set_num_threads(args.threads)

    available = vidxai.methods.list()
    methods = args.methods or available
    unknown = [m for m in methods if m not in available]
    if unknown:
        p.error(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(available)}")
    if args.families:
        methods = [m for m in methods if getattr(vidxai.methods.get(m), "family", "") in args.families]
    if args.no_perturbation:
        methods = [m for m in methods if getattr(vidxai.methods.get(m), "family", "") != "perturbation"]
    methods = sorted(methods, key=lambda m: FAMILY_ORDER.get(getattr(vidxai.methods.get(m), "family", ""), 99))

    command = "python tools/bench_attribution.py " + " ".join(argv if argv is not None else sys.argv[1:])
    load_before = [round(v, 2) for v in os.getloadavg()]
    if any(m in methods for m in ("lime", "kernelshap")):
        import sklearn.linear_model  # noqa: F401  (captum imports it on its first fit: keep that out of its time)
    results = [bench_model(m, methods, args) for m in args.models]
    run = {"command": command.strip(), "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
           "torch": torch.__version__, "device": args.device, "threads": torch.get_num_threads(),
           "machine": platform.machine(), "load_before": load_before,
           "load_after": [round(v, 2) for v in os.getloadavg()],
           "settings": {k: getattr(args, k) for k in ("repeats", "perturbation_repeats", "ig_steps", "sg_samples",
                                                      "internal_batch_size", "lime_samples", "supervoxels",
                                                      "rise_masks", "extremal_iterations", "frames", "size",
                                                      "weights")}}
    for res in results:
        for row in res["rows"]:
            row["run"] = 0
    data = {"runs": [run], "results": results}
    out = args.out if args.out is not None else (None if args.quick else REPO / "docs" / "benchmarks")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        path = out / "attribution.json"
        if args.merge and path.exists():
            data = merge(json.loads(path.read_text()), data)
        path.write_text(json.dumps(data, indent=1))
        (out / "attribution.md").write_text(markdown(data))
        print(f"wrote {path} and {out / 'attribution.md'}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
