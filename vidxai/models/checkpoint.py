"""Weight loading shared by every model family: local checkpoints, hub downloads, the user cache.

- :func:`cache_dir`: where downloaded/converted weights live (``$VIDXAI_CACHE`` or ``~/.cache/vidxai``).
- :func:`read_state_dict`: read a local checkpoint (a plain state dict, or a dict holding one under
  ``state_dict`` / ``model`` / ``model_state`` / ``net``), strip ``module.``-style prefixes.
- :func:`load_into`: copy a state dict into a network, reporting missing / unexpected / mis-shaped keys
  in one line (:class:`~vidxai.errors.CorruptCheckpointError`).
- :func:`load_url`: a hub download (torch.hub) that turns "offline" into a one-line
  :class:`~vidxai.errors.MissingCheckpointError` saying how to get the file by hand.
- :func:`save` / :func:`resolve`: the round trip ``save(model, path)`` -> ``load(name, weights=path)``.
- :func:`sha256_file`, :func:`check_sha256`: integrity of cached files.
"""
from __future__ import annotations

import hashlib
import os
import pickle
import zipfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from ..errors import CorruptCheckpointError, InputError, MissingCheckpointError, UnknownNameError

class UnknownWeightsError(UnknownNameError):
    """``weights=`` is neither a known weight name nor a path."""

    kind = "weights"


#: Keys under which training scripts commonly nest the weights (checked in this order).
NESTED_KEYS = ("state_dict", "model_state", "model", "net", "module")
#: Prefixes stripped from every key when all keys carry them (DataParallel, a VideoModel wrapper, Lightning).
STRIP_PREFIXES = ("module.", "net.", "model.")
#: File suffixes that mark a ``weights=`` string as a path even when the file is missing.
CHECKPOINT_SUFFIXES = (".pt", ".pth", ".pyth", ".ckpt", ".bin", ".tar", ".pkl")


def cache_dir(*parts: str, create: bool = True) -> Path:
    """The vidxai cache folder (``$VIDXAI_CACHE``, default ``~/.cache/vidxai``), optionally a sub-folder."""
    root = Path(os.environ.get("VIDXAI_CACHE") or Path.home() / ".cache" / "vidxai").expanduser()
    path = root.joinpath(*parts)
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def check_sha256(path: str | Path, expected: str | None) -> str:
    """Return the file's sha256; raise :class:`CorruptCheckpointError` when ``expected`` is given and differs."""
    digest = sha256_file(path)
    if expected and digest != expected:
        raise CorruptCheckpointError(
            f"{path} fails its checksum (sha256 {digest[:12]}..., expected {expected[:12]}...); delete it and retry")
    return digest


def is_path_like(weights: object) -> bool:
    """True when a ``weights=`` value names a file rather than a weight name."""
    if isinstance(weights, Path):
        return True
    if not isinstance(weights, str):
        return False
    return (os.sep in weights or "/" in weights or weights.lower().endswith(CHECKPOINT_SUFFIXES)
            or Path(weights).expanduser().is_file())


def _torch_load(path: Path) -> object:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        # Full training checkpoints (optimizer state, configs, numpy scalars) need the full unpickler; the user
        # chose this local file, so trusting it is their call, as with torch.load itself.
        return torch.load(path, map_location="cpu", weights_only=False)


def read_state_dict(path: str | Path, strip_prefixes: Sequence[str] = STRIP_PREFIXES) -> dict[str, torch.Tensor]:
    """Read a local checkpoint and return a flat ``{name: tensor}`` state dict.

    Accepts a plain state dict or a dict nesting one under ``state_dict`` / ``model_state`` / ``model`` /
    ``net`` / ``module`` (as saved by Lightning, pytorchvideo, mmaction, :func:`save`), and strips a
    ``module.`` (DataParallel), ``net.`` or ``model.`` prefix shared by every key.

    Raises:
        MissingCheckpointError: the file does not exist.
        CorruptCheckpointError: it cannot be read or holds no tensors.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise CorruptCheckpointError(f"{path} is a directory, not a checkpoint file")
    if not path.is_file():
        raise MissingCheckpointError(f"checkpoint not found: {path}")
    if path.stat().st_size == 0:
        raise CorruptCheckpointError(f"checkpoint {path} is empty (0 bytes)")
    try:
        obj = _torch_load(path)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile,
            AttributeError, ImportError, ModuleNotFoundError) as e:
        raise CorruptCheckpointError(f"cannot read checkpoint {path}: {type(e).__name__}: {e}") from None
    return extract_state_dict(obj, source=str(path), strip_prefixes=strip_prefixes)


def extract_state_dict(obj: object, source: str = "checkpoint",
                       strip_prefixes: Sequence[str] = STRIP_PREFIXES) -> dict[str, torch.Tensor]:
    """Find the state dict inside a loaded checkpoint object (see :func:`read_state_dict`)."""
    if isinstance(obj, nn.Module):
        obj = obj.state_dict()
    depth = 0
    while isinstance(obj, Mapping) and depth < 3:
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            break
        inner = next((obj[k] for k in NESTED_KEYS if k in obj and isinstance(obj[k], (Mapping, nn.Module))), None)
        if inner is None:
            break
        obj = inner.state_dict() if isinstance(inner, nn.Module) else inner
        depth += 1
    if not isinstance(obj, Mapping):
        raise CorruptCheckpointError(f"{source} holds a {type(obj).__name__}, not a state dict")
    sd = {str(k): v for k, v in obj.items() if isinstance(v, torch.Tensor)}
    if not sd:
        raise CorruptCheckpointError(
            f"{source} holds no tensors (top-level keys: {', '.join(map(str, list(obj)[:8]))})")
    return strip_prefix(sd, strip_prefixes)


def strip_prefix(sd: dict[str, torch.Tensor], prefixes: Sequence[str] = STRIP_PREFIXES) -> dict[str, torch.Tensor]:
    """Remove each prefix in turn while every key carries it (``module.net.x`` -> ``x``)."""
    changed = True
    while changed and sd:
        changed = False
        for p in prefixes:
            if all(k.startswith(p) for k in sd):
                sd = {k[len(p):]: v for k, v in sd.items()}
                changed = True
    return sd


def _short_list(keys: Sequence[str], n: int = 4) -> str:
    keys = list(keys)
    more = f", ... ({len(keys)} in all)" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def load_into(net: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str = "checkpoint",
              strict: bool = True, ignore: Sequence[str] = ()) -> tuple[list[str], list[str]]:
    """Copy ``state_dict`` into ``net`` with a clear one-line error when it does not fit.

    Args:
        net: the network.
        state_dict: flat state dict (prefixes already stripped).
        source: what to call the checkpoint in messages (its path).
        strict: raise on missing or unexpected keys (shape mismatches always raise).
        ignore: key suffixes that may be missing without complaint (e.g. ``num_batches_tracked``).

    Returns:
        ``(missing, unexpected)`` key lists (empty when ``strict``).
    """
    own = net.state_dict()
    ignore = tuple(ignore) + ("num_batches_tracked",)
    missing = [k for k in own if k not in state_dict and not k.endswith(ignore)]
    unexpected = [k for k in state_dict if k not in own and not k.endswith(ignore)]
    bad_shape = [f"{k} {tuple(state_dict[k].shape)} vs {tuple(v.shape)}" for k, v in own.items()
                 if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)]
    if bad_shape:
        raise CorruptCheckpointError(f"{source} does not fit {type(net).__name__}: {len(bad_shape)} shape "
                                     f"mismatch(es) (checkpoint vs model): {_short_list(bad_shape, 3)}")
    if strict and (missing or unexpected):
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {_short_list(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected key(s): {_short_list(unexpected)}")
        raise CorruptCheckpointError(f"{source} does not fit {type(net).__name__}: " + "; ".join(parts))
    _check_finite(net, state_dict, source)
    net.load_state_dict({k: v for k, v in state_dict.items() if k in own}, strict=False)
    return missing, unexpected


def _check_finite(net: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """NaN anywhere, or inf in a learned parameter, means a broken checkpoint (a diverged run, a bad conversion).

    Buffers may hold inf on purpose (e.g. attention masks), so only NaN counts there.
    """
    params = dict(net.named_parameters())
    bad = []
    for k, v in state_dict.items():
        if not (isinstance(v, torch.Tensor) and v.is_floating_point()):
            continue
        n_nan = int(v.isnan().sum())
        n_inf = int(v.isinf().sum()) if k in params else 0
        if n_nan or n_inf:
            bad.append(f"{k} ({', '.join(f'{n} {what}' for n, what in ((n_nan, 'NaN'), (n_inf, 'inf')) if n)})")
    if bad:
        raise CorruptCheckpointError(f"{source} holds non-finite weights (NaN or inf) in {len(bad)} tensor(s): "
                                     f"{_short_list(bad, 3)}; the checkpoint is broken (e.g. saved from a diverged "
                                     "run): use another one")


def load_file_into(net: nn.Module, path: str | Path, strict: bool = True) -> str:
    """:func:`read_state_dict` + :func:`load_into`; returns a description for ``VideoModel.weights``."""
    load_into(net, read_state_dict(path), source=str(path), strict=strict)
    return f"file:{Path(path).expanduser()}"


def load_url(url: str, model_name: str, file_name: str | None = None, progress: bool = True,
             nested_key: str | None = None) -> dict[str, torch.Tensor]:
    """Download (or reuse from torch's hub cache) the state dict at ``url``.

    Offline, this raises a one-line :class:`MissingCheckpointError` that says where the file comes from
    and how to pass a local copy instead.
    """
    try:
        obj = torch.hub.load_state_dict_from_url(url, progress=progress, map_location="cpu", file_name=file_name,
                                                 weights_only=False)
    except Exception as e:  # noqa: BLE001 - URLError, HTTPError, socket errors, SSL errors... all mean "not here"
        name = file_name or url.rsplit("/", 1)[-1]
        raise MissingCheckpointError(
            f"pretrained weights for {model_name!r} are not available offline ({type(e).__name__}: "
            f"{str(e)[:80]}); download {url} on a machine with internet (or copy it to "
            f"{Path(torch.hub.get_dir()) / 'checkpoints' / name}) and retry, or pass weights=<local file> "
            f"(CLI: --weights PATH), or weights=None for random init") from None
    if nested_key is not None and isinstance(obj, Mapping) and nested_key in obj:
        obj = obj[nested_key]
    return extract_state_dict(obj, source=url)


def resolve(net: nn.Module, weights: object, model_name: str, named: Mapping[str, Callable[[], str]],
            strict: bool = True) -> str:
    """Apply a builder's ``weights=`` argument to ``net`` and return a short description of the weights.

    Args:
        net: the freshly built (randomly initialised) network.
        weights: ``None`` (keep random init), ``"default"``, a name in ``named``, or a local checkpoint path.
        model_name: registry name (for messages).
        named: weight names -> loader functions that load into ``net`` and return their description;
            ``"default"`` must be one of them unless the entry has no default weights.
    """
    if weights is None or weights is False or weights == "random":
        return "random"
    if isinstance(weights, Mapping):
        load_into(net, extract_state_dict(weights, source="state dict"), source="the given state dict",
                  strict=strict)
        return "state dict"
    if isinstance(weights, str) and weights in named:
        return named[weights]()
    if is_path_like(weights):
        return load_file_into(net, weights, strict=strict)
    raise UnknownWeightsError(str(weights), list(named) + ["None"],
                              hint=f"for {model_name}; or pass the path of a local checkpoint")


def save(model: nn.Module, path: str | Path) -> Path:
    """Save a :class:`~vidxai.models.VideoModel` so ``vidxai.models.load(name, weights=path)`` restores it.

    The file holds ``{"state_dict": net weights, "name", "spec", "class_names", "target_layers"}``.
    """
    path = Path(path).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    net = getattr(model, "net", model)
    payload = {"state_dict": net.state_dict(), "name": getattr(model, "name", type(net).__name__)}
    spec = getattr(model, "spec", None)
    if spec is not None:
        payload["spec"] = spec.to_dict()
    for attr in ("class_names", "target_layers"):
        if hasattr(model, attr):
            payload[attr] = list(getattr(model, attr))
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def checkpoint_entry(path: str | Path) -> str:
    """The registry name a checkpoint written by :func:`save` names (its ``"name"`` key).

    Raises:
        CorruptCheckpointError: the file is not a readable ``torch.save`` file.
        InputError: the file names no model (a bare state dict): load it with ``weights=`` instead.

    Example::

        checkpoint_entry("runs/tiny.pt")  # 'synthetic-tiny'
    """
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - any failure means the file is not a usable checkpoint
        reason = ("not a file saved by torch.save, or a corrupt one" if isinstance(e, pickle.UnpicklingError)
                  else (str(e).strip().splitlines() or [type(e).__name__])[0])
        raise CorruptCheckpointError(f"cannot read checkpoint {path}: {reason}") from None
    entry = payload.get("name") if isinstance(payload, dict) else None
    if not isinstance(entry, str):
        raise InputError(f"checkpoint {path} does not name a registered model; use --model NAME --weights {path}")
    return entry


__all__ = ["checkpoint_entry", "cache_dir", "sha256_file", "check_sha256", "read_state_dict", "extract_state_dict", "strip_prefix",
           "load_into", "load_file_into", "load_url", "resolve", "save", "is_path_like"]
