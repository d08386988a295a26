"""attention-rollout and transformer-attribution: a hand-computed 2-layer case with known attention matrices
(numpy reference), the tiny VideoMAE / ViViT against the attentions transformers itself returns
(``output_attentions=True``), TimeSformer's divided attention written as full token matrices (checked cell by cell),
hooks / flags / the attention kernel restored also on errors, clear errors on non-transformers."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from conftest import TinyNet3D
from torch import nn

import vidxai
from vidxai.attribution.attention import full_matrix
from vidxai.errors import InputError, UnsupportedModelError
from vidxai.models.hf_models import TokenLayout

GRID = (2, 2, 2)  # (T', H', W') of the toy transformer: 4x16x16 clips, tubelets 2x8x8
HEADS, N = 2, 1 + 8


def _known_attention(seed: int) -> np.ndarray:
    """Row-stochastic attention (heads, N, N) from fixed random scores."""
    scores = np.random.default_rng(seed).normal(size=(HEADS, N, N)) * 2
    e = np.exp(scores - scores.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


class FixedAttention(nn.Module):
    """Mixes tokens with known attention probabilities and returns ``(tokens, probs)`` as transformers does."""

    def __init__(self, probs: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("probs", torch.tensor(probs, dtype=torch.float32)[None])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        p = self.probs.expand(x.shape[0], -1, -1, -1) + 0 * x.sum()  # known values, still in the graph
        return p.mean(1) @ x, p


class ToyTransformer(nn.Module):
    """Tubelet embedding, a class token, two fixed attentions with residuals, a linear head on the class token."""

    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Conv3d(3, 8, (2, 8, 8), stride=(2, 8, 8))
        self.cls = nn.Parameter(torch.randn(1, 1, 8))
        self.att0, self.att1 = FixedAttention(_known_attention(0)), FixedAttention(_known_attention(1))
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).flatten(2).transpose(1, 2)  # (t, h, w) order
        tokens = torch.cat([self.cls.expand(x.shape[0], -1, -1), tokens], 1)
        for att in (self.att0, self.att1):
            tokens = tokens + att(tokens)[0]
        return self.head(tokens[:, 0])


@pytest.fixture(scope="module")
def toy():
    torch.manual_seed(0)
    model = vidxai.wrap(ToyTransformer().eval(), spec=vidxai.InputSpec(num_frames=4, crop=(16, 16)), num_classes=3)
    model.token_layout = TokenLayout(GRID, cls_token=True, order="thw", attention=(("att0", "joint"), ("att1", "joint")))
    return model


def _need_transformers():
    pytest.importorskip("transformers", reason="transformers is not installed: pip install 'vidxai[transformers]' "
                        "(or the dev extra)")


@pytest.fixture(scope="module")
def tiny():
    _need_transformers()
    torch.manual_seed(0)
    return {n: vidxai.models.load(n, weights=None) for n in ("videomae-tiny", "timesformer-tiny", "vivit-tiny")}


@pytest.fixture(scope="module")
def clip():
    return torch.randn(2, 3, 8, 32, 32, generator=torch.Generator().manual_seed(3))


def _np_rollout(attentions: list[np.ndarray]) -> np.ndarray:
    """Abnar & Zuidema by hand: mean over heads, + I, rows normalised, multiplied over layers."""
    r = np.eye(attentions[0].shape[-1])
    for a in attentions:
        a = a.mean(0) + np.eye(a.shape[-1])
        a = a / a.sum(-1, keepdims=True)
        r = a @ r
    return r


def _np_relevance(attentions: list[np.ndarray], grads: list[np.ndarray]) -> np.ndarray:
    """Chefer et al. by hand: R = I; R += mean_heads(max(grad * attn, 0)) @ R."""
    r = np.eye(attentions[0].shape[-1])
    for a, g in zip(attentions, grads):
        r = r + np.maximum(g * a, 0).mean(0) @ r
    return r


def test_rollout_of_a_hand_computed_two_layer_case(toy):
    x = torch.randn(1, 3, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    res = vidxai.methods.get("attention-rollout")(toy).attribute(x, target=1)
    expected = _np_rollout([_known_attention(0), _known_attention(1)])[0, 1:].reshape(GRID)
    assert res.raw.shape == (1, *GRID) and res.saliency.shape == (1, 4, 16, 16)
    np.testing.assert_allclose(res.raw[0].numpy(), expected, rtol=1e-5)
    # a uniform-attention sanity value: two layers of uniform attention over N tokens
    uniform = np.full((1, N, N), 1 / N)
    r = _np_rollout([uniform, uniform])
    assert np.isclose(r[0, 0], ((1 / N + 1) / 2) ** 2 + (N - 1) * (1 / (2 * N)) ** 2)


def test_transformer_attribution_of_the_hand_case(toy):
    x = torch.randn(1, 3, 4, 16, 16, generator=torch.Generator().manual_seed(0))
    res = vidxai.methods.get("transformer-attribution")(toy).attribute(x, target=2)
    # reference gradients d logit_2 / d probs through an explicit re-run of the toy's forward
    net = toy.net
    probs = [net.att0.probs.clone().requires_grad_(True), net.att1.probs.clone().requires_grad_(True)]
    tokens = torch.cat([net.cls, net.embed(x).flatten(2).transpose(1, 2)], 1)
    for p in probs:
        tokens = tokens + p.mean(1) @ tokens
    grads = torch.autograd.grad(net.head(tokens[:, 0])[0, 2], probs)
    expected = _np_relevance([p[0].detach().numpy() for p in probs], [g[0].numpy() for g in grads])
    np.testing.assert_allclose(res.raw[0].numpy(), expected[0, 1:].reshape(GRID), rtol=1e-4, atol=1e-7)
    assert not any(p.grad is not None for p in net.parameters())


@pytest.mark.parametrize("name", ["videomae-tiny", "vivit-tiny"])
def test_methods_match_the_attentions_transformers_returns(name, tiny, clip):
    model = tiny[name]
    target = [5, 9]
    pixel = clip.transpose(1, 2).clone().requires_grad_(True)
    out = model.net(pixel_values=pixel, output_attentions=True)
    attn = list(out.attentions)
    grads = torch.autograd.grad(out.logits[torch.arange(2), torch.tensor(target)].sum(), attn)
    rollout = vidxai.methods.get("attention-rollout")(model).attribute(clip, target=target)
    chefer = vidxai.methods.get("transformer-attribution")(model).attribute(clip, target=target)
    grid = model.token_layout.grid
    for i in range(2):
        a = [t[i].detach().numpy().astype(np.float64) for t in attn]
        g = [t[i].numpy().astype(np.float64) for t in grads]
        r, c = _np_rollout(a), _np_relevance(a, g)
        if model.token_layout.cls_token:  # ViViT: the class token's row
            exp_r, exp_c = r[0, 1:], c[0, 1:]
        else:  # VideoMAE's mean-pooled head: the mean of the rows
            exp_r, exp_c = r.mean(0), c.mean(0)
        np.testing.assert_allclose(rollout.raw[i].numpy(), exp_r.reshape(grid), rtol=1e-4)
        np.testing.assert_allclose(chefer.raw[i].numpy(), exp_c.reshape(grid), rtol=1e-4, atol=1e-8)
    assert rollout.saliency.shape == chefer.saliency.shape == (2, 8, 32, 32)


def test_divided_attention_as_full_matrices_cell_by_cell():
    t, h, w = 3, 1, 2
    s, n, b = h * w, 1 + 3 * 2, 2
    lay = TokenLayout((t, h, w), cls_token=True, order="hwt")
    rng = np.random.default_rng(0)
    temporal = rng.dirichlet(np.ones(t), size=(b * s, t))  # (B*S, T, T), rows sum to 1
    spatial = rng.dirichlet(np.ones(s + 1), size=(b * t, s + 1))  # (B*T, 1+S, 1+S)
    ft = full_matrix(torch.tensor(temporal), "temporal", lay, cls_identity=True).numpy()
    fs = full_matrix(torch.tensor(spatial), "spatial", lay, cls_identity=True).numpy()
    et, es = np.zeros((b, n, n)), np.zeros((b, n, n))
    tok = lambda pos, f: 1 + pos * t + f  # noqa: E731  TimeSformer's (h, w, t) token order
    for i in range(b):
        et[i, 0, 0] = 1
        es[i, 0, 0] = np.mean([spatial[i * t + f, 0, 0] for f in range(t)])
        for pos, f, f2 in itertools.product(range(s), range(t), range(t)):
            et[i, tok(pos, f), tok(pos, f2)] = temporal[i * s + pos, f, f2]
        for f, p, q in itertools.product(range(t), range(s), range(s)):
            es[i, tok(p, f), tok(q, f)] = spatial[i * t + f, 1 + p, 1 + q]
        for f, p in itertools.product(range(t), range(s)):
            es[i, tok(p, f), 0] = spatial[i * t + f, 1 + p, 0]
            es[i, 0, tok(p, f)] = spatial[i * t + f, 0, 1 + p] / t
    np.testing.assert_allclose(ft, et)
    np.testing.assert_allclose(fs, es)
    np.testing.assert_allclose(fs.sum(-1), 1)  # still a mixing of tokens


def test_timesformer_rollout_through_its_own_dropout_modules(tiny, clip):
    """Capture the probabilities a second way (outputs of the attn_drop modules) and roll out in numpy."""
    model = tiny["timesformer-tiny"]
    layout = model.token_layout
    seen, handles = {}, []
    for path, _ in layout.attention:
        drop = model.layer(path + ".attn_drop")
        handles.append(drop.register_forward_hook(lambda m, a, o, path=path: seen.__setitem__(path, o.detach())))
    try:
        with torch.no_grad():
            model(clip)
    finally:
        for handle in handles:
            handle.remove()
    res = vidxai.methods.get("attention-rollout")(model).attribute(clip)
    r = np.broadcast_to(np.eye(1 + layout.num_patches), (2, 1 + layout.num_patches, 1 + layout.num_patches))
    for path, kind in layout.attention:
        a = full_matrix(seen[path].mean(1).double(), kind, layout, cls_identity=True).numpy()
        a = a + np.eye(a.shape[-1])
        r = (a / a.sum(-1, keepdims=True)) @ r
    t, h, w = layout.grid
    expected = r[:, 0, 1:].reshape(2, h, w, t).transpose(0, 3, 1, 2)
    np.testing.assert_allclose(res.raw.numpy(), expected, rtol=1e-4)
    chefer = vidxai.methods.get("transformer-attribution")(model).attribute(clip, target=[1, 2])
    assert chefer.raw.shape == (2, t, h, w) and float(chefer.raw.amax()) > 0


def test_sdpa_runs_eager_and_everything_is_restored_after_an_error(tiny, clip):
    _need_transformers()
    from vidxai.models.hf_models import build_network, wrap_transformer

    net = build_network("vivit", tiny=True, attn_implementation="sdpa")
    net.load_state_dict(tiny["vivit-tiny"].net.state_dict())
    model = wrap_transformer(net)
    res = vidxai.methods.get("attention-rollout")(model).attribute(clip[:1])
    ref = vidxai.methods.get("attention-rollout")(tiny["vivit-tiny"]).attribute(clip[:1])
    torch.testing.assert_close(res.raw, ref.raw)
    assert net.config._attn_implementation == "sdpa"

    model.train()
    boom = net.classifier.register_forward_hook(lambda *a: (_ for _ in ()).throw(RuntimeError("boom")))
    try:
        with pytest.raises(RuntimeError, match="boom"):
            vidxai.methods.get("transformer-attribution")(model).attribute(clip[:1], target=0)
    finally:
        boom.remove()
    assert net.config._attn_implementation == "sdpa"
    assert all(m.training for m in net.modules())
    assert all(p.requires_grad for p in net.parameters())
    assert not any(m._forward_hooks or m._forward_pre_hooks for m in net.modules())


def test_clear_errors(toy, clip):
    for model in (vidxai.models.load("synthetic-tiny", weights=None),
                  vidxai.wrap(TinyNet3D(), spec=vidxai.InputSpec(num_frames=8, crop=(32, 32)))):
        for method in ("attention-rollout", "transformer-attribution"):
            with pytest.raises(UnsupportedModelError, match="need a video transformer"):
                vidxai.methods.get(method)(model).attribute(torch.zeros(1, 3, 8, 32, 32), target=0)
    x = torch.zeros(1, 3, 4, 16, 16)
    with pytest.raises(InputError, match="head_fusion"):
        vidxai.methods.get("attention-rollout")(toy).attribute(x, head_fusion="median")
    with pytest.raises(InputError, match="unknown parameter"):
        vidxai.methods.get("transformer-attribution")(toy).attribute(x, layer="att0")
    assert vidxai.methods.get("attention-rollout").family == "attention"
