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
    """Component ids 0..M_b-1 per clip from skimage.measure.label.

    ``label`` numbers components in raster order of their first voxel, which is already the order
    :func:`connected_components` promises, so no re-ranking is needed (tested against the torch backend).
    """
    from skimage.measure import label

    arr = labels.detach().cpu().numpy()
    out = np.empty(arr.shape, dtype=np.int64)
    for i, clip in enumerate(arr):
        # background must be a value that never occurs, so that every label value is a region.
        out[i] = label(clip, background=int(clip.min()) - 1, connectivity=1)
    out -= 1
    return torch.from_numpy(out).to(labels.device)


def _skimage_available() -> bool:
    try:
        import skimage.measure  # noqa: F401
    except ImportError:  # pragma: no cover - scikit-image is a dependency
        return False
    return True


def _component_ids(labels: torch.Tensor, backend: str) -> torch.Tensor:
    """Component ids 0..M_b-1 per clip, ordered by first voxel (see :func:`connected_components`)."""
    if backend == "auto":
        backend = "skimage" if labels.device.type == "cpu" and _skimage_available() else "torch"
    if backend == "skimage":
        return _components_skimage(labels)
    if backend == "torch":
        return _compact(_components_torch(labels))
    raise ValueError(f"backend must be 'auto', 'torch' or 'skimage', got {backend!r}")


def connected_components(labels: torch.Tensor, backend: str = "auto") -> torch.Tensor:
    """6-connected components of each label of a ``(B, T, H, W)`` integer volume.

    Returns ``(B, T, H, W)`` long component ids, contiguous 0..M_b-1 in each clip and numbered in order of
    each component's first voxel (raster order t, y, x), whatever the backend: two voxels share an id iff
    they have the same label and are connected through same-label face neighbours.
    """
    _check(labels, "connected_components")
    return _component_ids(labels, backend)


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
                         max_rounds: int = 50, backend: str = "auto") -> torch.Tensor:
    """Split labels into connected components and merge those smaller than ``min_size`` voxels.

    With ``features`` ``(B, F, T, H, W)`` a small component joins the touching component whose mean feature
    vector is closest (so a fragment of an object stays with the object instead of being swallowed by the
    background); without, it joins the largest touching component. Ties go to the smaller id, which makes
    the result deterministic. Rounds repeat until no small component touches another.

    The voxels are visited only to find the components, their sizes/feature sums and which components
    touch; the merging rounds then work on that small region-adjacency graph.

    Returns ``(B, T, H, W)`` long labels 0..K_b-1 per clip (ordered by first voxel), each one connected
    component.
    """
    _check(labels, "enforce_connectivity")
    b = labels.shape[0]
    device = labels.device
    comp = _component_ids(labels, backend)  # per clip 0..M_b-1, ordered by first voxel
    per_clip = comp.flatten(1).amax(1) + 1
    offset = torch.cumsum(per_clip, 0) - per_clip
    gid = comp + offset.view(b, 1, 1, 1)  # global ids 0..M-1, still ordered by (clip, first voxel)
    m = int(per_clip.sum())
    flat = gid.reshape(-1)
    sizes = torch.bincount(flat, minlength=m)
    ids = torch.arange(m, device=device)
    small0 = sizes < min_size
    if min_size <= 1 or not bool(small0.any()):
        return comp
    sums = None
    if features is not None:
        if features.ndim != 5 or features.shape[0] != b or features.shape[2:] != labels.shape[1:]:
            raise ValueError(f"features must be (B, F, T, H, W) matching labels {tuple(labels.shape)}, "
                             f"got {tuple(features.shape)}")
        # One bincount per channel: no (N, F) channels-last float64 copy of the whole volume.
        chans = features.transpose(0, 1).reshape(features.shape[1], -1)
        sums = torch.stack([torch.bincount(flat, weights=ch.double(), minlength=m) for ch in chans], dim=1)
    # Directed edges "small component -> component it touches", found by visiting only the voxels of small
    # components and their six face neighbours, then deduplicated. Only edges from a small component are
    # ever used: a component is small in a later round only if all its members were small at the start
    # (sizes only grow), so every edge a merge needs was recorded from one of those members.
    # A border of -1 around every clip makes all six neighbours valid indices, so there are no per-axis
    # bound checks.
    padded = torch.nn.functional.pad(gid, (1, 1, 1, 1, 1, 1), value=-1)
    flat_p = padded.reshape(-1)
    hp, wp = padded.shape[2:]
    small_p = torch.zeros(padded.shape, dtype=torch.bool, device=device)
    small_p[:, 1:-1, 1:-1, 1:-1] = small0.index_select(0, flat).view(gid.shape)
    idx = torch.nonzero(small_p.view(-1)).squeeze(1)
    strides = torch.tensor([-1, 1, -wp, wp, -hp * wp, hp * wp], device=device).view(6, 1)
    u = flat_p.index_select(0, idx)
    v = flat_p.index_select(0, (idx.view(1, -1) + strides).view(-1)).view(6, -1)
    touching = (v != u) & (v >= 0)
    keys = u * m + v
    edges = torch.unique(keys[touching])
    edge_src, edge_dst = edges // m, edges % m
    mapping = ids.clone()
    for _ in range(max_rounds):
        small = sizes < min_size
        live = small[edge_src]
        if not bool(live.any()):
            break
        src, dst = edge_src[live], edge_dst[live]
        if sums is None:
            score = -(sizes[dst] * m + (m - 1 - dst)).double()  # largest neighbour, then smaller id
        else:
            means = sums / sizes.clamp_min(1).unsqueeze(1)
            score = (means[src] - means[dst]).pow(2).sum(1)
        best = torch.full((m,), float("inf"), dtype=torch.float64, device=device)
        best.scatter_reduce_(0, src, score, reduce="amin")
        winner = score == best[src]
        target = torch.full((m,), m, dtype=torch.long, device=device)
        target.scatter_reduce_(0, src[winner], dst[winner], reduce="amin")
        step = torch.where(target < m, target, ids)
        # Nearest-neighbour choices can only form 2-cycles (a -> b -> a): the smaller id stays a root.
        mutual = (step[step] == ids) & (step != ids)
        step = torch.where(mutual & (ids < step), ids, step)
        while True:  # chains a -> b -> c: pointer jumping
            nxt = step[step]
            if torch.equal(nxt, step):
                break
            step = nxt
        # Apply the round to the graph: sizes/sums move to the roots, edges are relabelled (those inside a
        # merged component dropped).
        sizes = torch.zeros_like(sizes).index_add_(0, step, sizes)
        if sums is not None:
            sums = torch.zeros_like(sums).index_add_(0, step, sums)
        mapping = step[mapping]
        edge_src, edge_dst = step[src], step[dst]
        keep = edge_src != edge_dst
        edge_src, edge_dst = edge_src[keep], edge_dst[keep]
        sizes = torch.where(step == ids, sizes, torch.zeros_like(sizes).fill_(min_size))  # merged ids: inert
    # Renumber the surviving roots per clip in order of their first voxel (= their smallest member id).
    first = torch.full((m,), m, dtype=torch.long, device=device).scatter_reduce_(0, mapping, ids, reduce="amin")
    is_root = first < m
    roots = torch.nonzero(is_root).squeeze(1)
    order = roots[torch.argsort(first[roots])]
    rank = torch.zeros(m, dtype=torch.long, device=device)
    rank[order] = torch.arange(order.numel(), device=device)
    clip_of = torch.repeat_interleave(torch.arange(b, device=device), per_clip)
    kept = torch.bincount(clip_of[roots], minlength=b)
    new_offset = torch.cumsum(kept, 0) - kept
    newid = rank - new_offset[clip_of]
    return newid[mapping].index_select(0, flat).view(gid.shape)
