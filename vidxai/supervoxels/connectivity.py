"""Connected components of label volumes, small-fragment merging and contiguous relabelling.

All functions take batched ``(B, T, H, W)`` integer volumes (6-connectivity in t, y, x) and return
tensors on the input's device.

* :func:`connected_components` has two backends giving identical results:
  ``"torch"``, a vectorised union-find over the same-label face edges (each round hooks the larger root
  of every edge that joins two trees under the smaller one with ``scatter_reduce`` amin, so parents always
  have smaller ids and no cycle forms, then pointer jumping ``parent = parent[parent]`` flattens the
  trees; a handful of rounds suffice and it runs on GPUs), and ``"skimage"``, one call of
  :func:`skimage.measure.label` per clip (Cython union-find: about 15 ms for 16 x 112 x 112 on one core,
  several times faster than the torch backend on CPU, so ``"auto"`` uses it for CPU tensors).
  ``scipy.ndimage.label`` is not an option: it labels a binary mask, so it would take one call per
  supervoxel per clip.
* :func:`enforce_connectivity` merges components smaller than ``min_size`` into their largest
  neighbouring component (the role of scikit-image's ``_enforce_label_connectivity_cython``), fully
  vectorised, and returns labels 0..K_b-1 per clip in which every label is one connected component.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["connected_components", "enforce_connectivity", "relabel_contiguous", "count_labels"]


def _check(labels: torch.Tensor, name: str) -> None:
    if labels.ndim != 4:
        raise ValueError(f"{name} expects (B, T, H, W) labels, got {tuple(labels.shape)}")


def _components_torch(labels: torch.Tensor) -> torch.Tensor:
    """Component id = smallest flat index (over the batch) of the component's voxels."""
    n = labels.numel()
    ids = torch.arange(n, device=labels.device, dtype=torch.long).view(labels.shape)
    us, vs = [], []
    for dim in (1, 2, 3):
        length = labels.shape[dim]
        if length > 1:
            same = labels.narrow(dim, 0, length - 1) == labels.narrow(dim, 1, length - 1)
            us.append(ids.narrow(dim, 0, length - 1)[same])
            vs.append(ids.narrow(dim, 1, length - 1)[same])
    parent = ids.reshape(-1).clone()
    if not us:
        return parent.view(labels.shape)
    u, v = torch.cat(us), torch.cat(vs)
    while u.numel():
        pu, pv = parent[u], parent[v]
        cross = pu != pv
        if not bool(cross.any()):
            break
        u, v, pu, pv = u[cross], v[cross], pu[cross], pv[cross]
        parent.scatter_reduce_(0, torch.maximum(pu, pv), torch.minimum(pu, pv), reduce="amin")
        while True:
            jumped = parent[parent]
            if torch.equal(jumped, parent):
                break
            parent = jumped
    return parent.view(labels.shape)


def _components_skimage(labels: torch.Tensor) -> torch.Tensor:
    """Component ids from skimage.measure.label, made unique over the batch (clip b uses ids >= b*N)."""
    from skimage.measure import label

    arr = labels.detach().cpu().numpy()
    n = arr[0].size
    out = np.empty(arr.shape, dtype=np.int64)
    for i, clip in enumerate(arr):
        lab = clip.astype(np.int64, copy=False)
        # background must be a value that never occurs, so that every label value is a region.
        out[i] = label(lab, background=int(lab.min()) - 1, connectivity=1) - 1 + i * n
    return torch.from_numpy(out).to(labels.device)


def _skimage_available() -> bool:
    try:
        import skimage.measure  # noqa: F401
    except ImportError:  # pragma: no cover - scikit-image is a dependency
        return False
    return True


def _raw_components(labels: torch.Tensor, backend: str) -> torch.Tensor:
    if backend == "auto":
        backend = "skimage" if labels.device.type == "cpu" and _skimage_available() else "torch"
    if backend == "skimage":
        return _components_skimage(labels)
    if backend == "torch":
        return _components_torch(labels)
    raise ValueError(f"backend must be 'auto', 'torch' or 'skimage', got {backend!r}")


def connected_components(labels: torch.Tensor, backend: str = "auto") -> torch.Tensor:
    """6-connected components of each label of a ``(B, T, H, W)`` integer volume.

    Returns ``(B, T, H, W)`` long component ids, contiguous 0..M_b-1 in each clip and numbered in order of
    each component's first voxel (raster order t, y, x), whatever the backend: two voxels share an id iff
    they have the same label and are connected through same-label face neighbours.
    """
    _check(labels, "connected_components")
    return _compact(_raw_components(labels, backend))


def _compact(ids: torch.Tensor) -> torch.Tensor:
    """Ids unique over the batch (clip b in [b*N, (b+1)*N)) -> 0..M_b-1 per clip, ordered by first voxel."""
    b = ids.shape[0]
    n = ids[0].numel()
    flat = ids.reshape(-1)
    # Order components by their first voxel (the torch backend's ids already are first voxels).
    first = torch.full((b * n,), b * n, dtype=torch.long, device=ids.device)
    first.scatter_reduce_(0, flat, torch.arange(b * n, device=ids.device), reduce="amin")
    present = first < b * n
    rank = torch.zeros(b * n, dtype=torch.long, device=ids.device)
    roots = torch.nonzero(present).squeeze(1)
    order = torch.argsort(first[roots])
    rank[roots[order]] = torch.arange(roots.numel(), device=ids.device)
    per_clip = torch.bincount(first[roots] // n, minlength=b)
    offset = torch.cumsum(per_clip, 0) - per_clip
    return (rank[flat].view(b, n) - offset.view(b, 1)).view(ids.shape)


def relabel_contiguous(labels: torch.Tensor) -> torch.Tensor:
    """Map the labels of each clip of a ``(B, ...)`` integer volume to 0..K_b-1, keeping their order."""
    b = labels.shape[0]
    flat = labels.reshape(b, -1).long()
    lo = flat.amin(dim=1, keepdim=True)
    span = int((flat.amax(dim=1, keepdim=True) - lo).max()) + 1
    keyed = (flat - lo) + torch.arange(b, device=labels.device).view(b, 1) * span
    uniq, inverse = torch.unique(keyed, return_inverse=True)
    # Labels of clip b are numbered after those of clips 0..b-1: subtract how many those used.
    per_clip = torch.bincount(uniq // span, minlength=b)
    offset = torch.cumsum(per_clip, 0) - per_clip
    return (inverse.view(b, -1) - offset.view(b, 1)).view(labels.shape)


def count_labels(labels: torch.Tensor) -> torch.Tensor:
    """Number of distinct labels in each clip of a ``(B, ...)`` volume, as a ``(B,)`` long tensor."""
    flat = labels.reshape(labels.shape[0], -1)
    srt = flat.sort(dim=1).values
    return (srt[:, 1:] != srt[:, :-1]).sum(dim=1) + 1


def enforce_connectivity(labels: torch.Tensor, min_size: int, features: torch.Tensor | None = None,
                         max_rounds: int = 20, backend: str = "auto") -> torch.Tensor:
    """Split labels into connected components and merge those smaller than ``min_size`` voxels.

    With ``features`` ``(B, F, T, H, W)`` a small component joins the touching component whose mean feature
    vector is closest (so a fragment of an object stays with the object instead of being swallowed by the
    background); without, it joins the largest touching component. Ties go to the smaller id, which makes
    the result deterministic. Rounds repeat until no small component touches another.

    Returns ``(B, T, H, W)`` long labels 0..K_b-1 per clip (ordered by first voxel), each one connected
    component.
    """
    _check(labels, "enforce_connectivity")
    b = labels.shape[0]
    n = labels[0].numel()
    comp = _compact(_raw_components(labels, backend))
    # Global ids: clip i's components live in [i*n, i*n + M_i).
    comp = (comp + torch.arange(b, device=comp.device).view(b, 1, 1, 1) * n)
    total = b * n
    ids = torch.arange(total, device=comp.device)
    feat = None
    if features is not None:
        if features.ndim != 5 or features.shape[0] != b or features.shape[2:] != labels.shape[1:]:
            raise ValueError(f"features must be (B, F, T, H, W) matching labels {tuple(labels.shape)}, "
                             f"got {tuple(features.shape)}")
        feat = features.movedim(1, -1).reshape(total, -1).to(torch.float64)
    for _ in range(max_rounds if min_size > 1 else 0):
        flat = comp.view(-1)
        sizes = torch.bincount(flat, minlength=total)
        small = (sizes > 0) & (sizes < min_size)
        if not bool(small.any()):
            break
        # Adjacent pairs (src small, dst any other component), from face neighbours in t, y, x.
        srcs, dsts = [], []
        for dim in (1, 2, 3):
            length = comp.shape[dim]
            if length < 2:
                continue
            a = comp.narrow(dim, 0, length - 1).reshape(-1)
            c = comp.narrow(dim, 1, length - 1).reshape(-1)
            differ = (a != c) & (small[a] | small[c])
            a, c = a[differ], c[differ]
            for src, dst in ((a, c), (c, a)):
                keep = small[src]
                srcs.append(src[keep])
                dsts.append(dst[keep])
        src, dst = torch.cat(srcs), torch.cat(dsts)
        if src.numel() == 0:
            break
        if feat is None:
            # Largest neighbour, packed as (size, -id) in one integer so amax picks it.
            score = -(sizes[dst] * total + (total - 1 - dst)).double()
        else:
            means = torch.zeros(total, feat.shape[1], dtype=torch.float64, device=comp.device)
            means.index_add_(0, flat, feat)
            means /= sizes.clamp_min(1).unsqueeze(1)
            score = (means[src] - means[dst]).pow(2).sum(1)
        best = torch.full((total,), float("inf"), dtype=torch.float64, device=comp.device)
        best.scatter_reduce_(0, src, score, reduce="amin")
        winner = score == best[src]
        target = torch.full((total,), total, dtype=torch.long, device=comp.device)
        target.scatter_reduce_(0, src[winner], dst[winner], reduce="amin")
        mapping = torch.where(target < total, target, ids)
        # Nearest-neighbour choices can only form 2-cycles (a -> b -> a): the smaller id stays a root.
        mutual = (mapping[mapping] == ids) & (mapping != ids) & (ids < mapping)
        mapping = torch.where(mutual, ids, mapping)
        while True:  # chains a -> b -> c: pointer jumping
            nxt = mapping[mapping]
            if torch.equal(nxt, mapping):
                break
            mapping = nxt
        comp = mapping[comp]
    return _compact(comp)
