"""Reproducible and finite: every method that uses randomness gives bit-identical maps for the same seed (with torch on
2 threads, where thread-order-dependent reductions show) and other maps for another seed; extremal perturbation's
gradient path holds no op whose CPU backward accumulates in a thread-dependent order; NaN/inf logits are an error."""
from __future__ import annotations


import pytest
import torch

import vidxai
from vidxai import methods
from vidxai.attribution.perturbation import area_penalty, blur_perturbation, blur_stack, smooth_mask
from vidxai.models.base import NonFiniteOutputError

#: Small settings per method so each call takes well under a second on the tiny model.
def blocks(t: int = 8, h: int = 32, w: int = 32) -> torch.Tensor:
    """A given segmentation of 2 x 2 x 2 blocks (``(1, T, H, W)``): the surrogates skip the supervoxels."""
    ids = torch.arange(8).view(2, 2, 2)
    return ids.repeat_interleave(t // 2, 0).repeat_interleave(h // 2, 1).repeat_interleave(w // 2, 2)[None]


FAST = {
    "rise": {"n_masks": 16, "grid": (2, 4, 4)},
    "lime": {"n_samples": 16, "segmentation": blocks()},
    "kernelshap": {"n_samples": 16, "segmentation": blocks()},
    "feature-occlusion": {"segmentation": blocks(), "fill": "noise"},  # the seed drives the noise fill
    "occlusion": {"window": (4, 16, 16), "stride": (4, 16, 16), "fill": "noise"},  # the seed drives the noise fill
    "smoothgrad": {"n_samples": 3},
    "extremal-perturbation": {"iterations": 3, "areas": (0.1, 0.3), "grid": (2, 4, 4), "sigma_max": 4.0, "blur_levels": 4},
    "random": {},
}
#: Seeded methods whose maps do not depend on the seed, by design (documented in their docstrings).
SEED_FREE = {
    "extremal-perturbation": "masks start at 0.5 everywhere: nothing is drawn",
}


def seeded_methods() -> list[str]:
    """Every registered method whose settings include a ``seed`` (read from its declared capabilities, which come
    from its ``compute()`` signature; not listed by hand)."""
    return sorted(name for name in methods.list() if methods.get(name).capabilities()["stochastic"])


@pytest.fixture(scope="module")
def model():
    return vidxai.models.load("synthetic-tiny")


@pytest.fixture(scope="module")
def clip():
    g = torch.Generator().manual_seed(0)
    return torch.rand(1, 3, 8, 32, 32, generator=g)


@pytest.fixture(autouse=True)
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # parallel kernels with thread-dependent summation order show their nondeterminism here
    yield
    torch.set_num_threads(before)


def test_the_seeded_methods_are_found():
    found = seeded_methods()
    assert {"rise", "lime", "kernelshap", "smoothgrad", "random", "extremal-perturbation", "occlusion"} <= set(found)
    assert set(found) <= set(FAST), f"give {sorted(set(found) - set(FAST))} small settings in FAST"


@pytest.mark.parametrize("name", seeded_methods())
def test_same_seed_same_map_other_seed_other_map(name, model, clip):
    cls = methods.get(name)

    def explain(seed: int) -> torch.Tensor:
        torch.manual_seed(1234 + seed)  # the global generator differs between calls: only `seed` may matter
        return cls(model).attribute(clip.clone(), target=1, seed=seed, **FAST[name]).saliency

    first, again, other = explain(0), explain(0), explain(7)
    assert torch.isfinite(first).all()
    assert torch.equal(first, again), f"{name}: max difference {(first - again).abs().max().item():g}"
    if name in SEED_FREE:
        assert torch.equal(first, other), SEED_FREE[name]
    else:
        assert not torch.equal(first, other), f"{name}: the seed changes nothing"


def _backward_nodes(t: torch.Tensor) -> set[str]:
    seen, todo, names = set(), [t.grad_fn], set()
    while todo:
        fn = todo.pop()
        if fn is None or fn in seen:
            continue
        seen.add(fn)
        names.add(type(fn).__name__)
        todo += [f for f, _ in fn.next_functions]
    return names


def test_extremal_mask_gradient_has_no_thread_order_dependent_accumulation():
    # torch documents the CPU backward of advanced indexing (__getitem__ with index tensors) and of
    # index_put_/put_ with accumulate=True as nondeterministic: several threads add into the same cell in
    # whatever order they run. The old smooth_mask gathered the 27 neighbouring cells that way, and extremal
    # perturbation's maps differed between runs with 2 threads.
    params = torch.full((2, 1, 2, 4, 4), 0.5, requires_grad=True)
    clip = torch.rand(1, 3, 8, 32, 32)
    m = smooth_mask(params, (8, 32, 32))
    loss = blur_perturbation(blur_stack(clip, 10.0, 4), m).sum() + area_penalty(m, torch.tensor([0.1, 0.3])).sum()
    nodes = _backward_nodes(loss)
    assert not nodes & {"IndexBackward0", "IndexPutBackward0", "PutBackward0"}, sorted(nodes)


def test_smooth_mask_values_are_those_of_the_indexed_gather():
    # the one-hot selection adds exact zeros to one exact term: the forward values did not change
    torch.manual_seed(0)
    params = torch.rand(3, 1, 2, 3, 5)
    size = (5, 9, 11)
    grid = params.shape[2:]
    idx, wts = [], []
    for axis, (s, g) in enumerate(zip(size, grid)):
        c = (torch.arange(s, dtype=torch.float32) + 0.5) * g / s - 0.5
        near = c.round()[:, None] + torch.tensor([-1.0, 0.0, 1.0])
        shape = [1] * 6
        shape[axis], shape[3 + axis] = s, 3
        idx.append(near.clamp(0, g - 1).long().view(shape))
        wts.append(torch.exp(-((c[:, None] - near) ** 2) / 2).view(shape))
    v = (params[:, 0][:, idx[0], idx[1], idx[2]] * (wts[0] * wts[1] * wts[2])).flatten(4)
    expected = (torch.softmax(v / (1 / 20), dim=-1) * v).sum(-1).unsqueeze(1).clamp(0, 1)
    assert torch.equal(smooth_mask(params, size, voxels_per_cell=None), expected)


# -- model outputs ----------------------------------------------------------------------------------------------
def test_nan_or_inf_logits_are_an_error_that_names_the_problem(clip):
    model = vidxai.models.load("synthetic-tiny", weights=None)
    assert torch.isfinite(model(clip)).all()
    fc = [m for m in model.modules() if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        fc.bias[2] = float("nan")
    with pytest.raises(NonFiniteOutputError, match=r"synthetic-tiny returned NaN logits for 1 of 1 clip\(s\) from a "
                                                   r"finite input; its weights hold NaN/inf"):
        model(clip)
    with torch.no_grad():
        fc.bias[2] = float("inf")
    with pytest.raises(NonFiniteOutputError, match="returned inf logits"):
        vidxai.methods.get("gradient")(model).attribute(clip, target=0)  # through a method: an error, not NaN maps
    assert isinstance(NonFiniteOutputError("x"), vidxai.errors.VidxaiError)
