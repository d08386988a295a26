"""Imports point one way: every module of vidxai imports only from its own layer or the layers below it.

The layers, bottom to top (docs/architecture.md draws them)::

    errors, registry                          the error types and the name registry
    core                                      shared building blocks (tensor ops, runtime helpers, checks)
    io, models, supervoxels
    data, attribution (+ methods, the method registry the attribution modules register into)
    metrics
    explanation, api, result                  the Explanation, vidxai.explain*, the result.json record
    render                                    reads the record from vidxai.result
    pipeline                                  explain_video: explains, scores and draws through render
    runner
    commands, cli, __main__, the vidxai package itself (the public facade)

An ast scan reads every ``import`` (at module level and inside functions), resolves relative imports and
fails when a module imports from a higher layer, or imports a private (``_name``) name from another module.
``ALLOWED`` lists the exceptions that cannot be removed yet, each with its reason; an entry that is no longer
needed fails too, so the list only shrinks.
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "vidxai"

LAYERS: list[tuple[str, ...]] = [
    ("vidxai.errors", "vidxai.registry", "vidxai.defaults"),
    ("vidxai.core",),
    ("vidxai.io", "vidxai.models", "vidxai.supervoxels"),
    ("vidxai.data", "vidxai.attribution", "vidxai.methods"),
    ("vidxai.metrics",),
    ("vidxai.explanation", "vidxai.api", "vidxai.result"),
    ("vidxai.render",),
    ("vidxai.pipeline",),
    ("vidxai.runner",),
    ("vidxai.commands", "vidxai.cli", "vidxai.__main__", "vidxai"),
]

#: (importing module, imported module) -> why the upward import stays for now.
ALLOWED_UPWARD: dict[tuple[str, str], str] = {
    ("vidxai.explanation", "vidxai.render.display"):
        "Explanation._repr_html_ / to_video draw through render (imported on call, never at import time); "
        "the record stays below render, the drawing code lives in render/display.py",
}

#: (importing module, "module.name") -> why a private name is still imported across modules.
ALLOWED_PRIVATE: dict[tuple[str, str], str] = {}

#: building blocks whose home is vidxai.core: (module of an old copy, name) -> the core function. Outside the
#: old copy's own package, importing the old copy is a violation (import the core one).
CORE_HOMES: dict[tuple[str, str], str] = {
    ("vidxai.attribution.base", "model_state"): "vidxai.core.runtime.model_state",
    ("vidxai.attribution.base", "normalize_maps"): "vidxai.core.tensor.minmax_per_clip",
    ("vidxai.attribution.base", "upsample_to"): "vidxai.core.tensor.upsample_to",
    ("vidxai.attribution.gradient", "gaussian_blur"): "vidxai.core.tensor.gaussian_blur",
    ("vidxai.metrics.deletion", "gaussian_blur"): "vidxai.core.tensor.blur_frames",
    ("vidxai.metrics.timing", "Timer"): "vidxai.core.runtime.Timer",
    ("vidxai.metrics.timing", "synchronize"): "vidxai.core.runtime.synchronize",
    ("vidxai.runner.cache", "atomic_write"): "vidxai.core.runtime.atomic_write",
    ("vidxai.explanation", "_jsonable"): "vidxai.core.runtime.to_jsonable",
}

#: (importing module, "module.name") -> why it still imports an old copy instead of the core building block.
ALLOWED_OLD_HOMES: dict[tuple[str, str], str] = {}


def module_name(path: Path) -> str:
    """``vidxai/render/report.py`` -> ``vidxai.render.report``; a package's ``__init__`` is the package."""
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_module(name: str) -> bool:
    """Whether ``name`` (dotted) is a module or package of vidxai."""
    rel = Path(*name.split("."))
    return (ROOT.parent / rel).with_suffix(".py").is_file() or (ROOT.parent / rel / "__init__.py").is_file()


def resolve(importer: str, is_package: bool, level: int, module: str | None) -> str:
    """The absolute module of ``from <level dots><module> import ...`` written in ``importer``."""
    if level == 0:
        return module or ""
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def imports(path: Path) -> list[tuple[str, str | None, int]]:
    """``(imported module, imported name or None, line)`` for every import in the file (any depth)."""
    importer = module_name(path)
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            source = resolve(importer, is_package, node.level, node.module)
            for a in node.names:
                sub = f"{source}.{a.name}"
                found.append((sub, None, node.lineno) if is_module(sub) else (source, a.name, node.lineno))
    return [f for f in found if f[0] == "vidxai" or f[0].startswith("vidxai.")]


def layer(module: str) -> int:
    """The index in :data:`LAYERS` of the longest prefix of ``module``."""
    best, best_len = None, -1
    for i, prefixes in enumerate(LAYERS):
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best_len:
                best, best_len = i, len(p)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


@functools.lru_cache(maxsize=1)
def scan() -> tuple[dict[tuple[str, str], str], dict[tuple[str, str], str], dict[tuple[str, str], str]]:
    """The upward imports, the cross-module private imports and the imports of old copies of core building
    blocks, of the whole package, each with where it is."""
    upward, private, old = {}, {}, {}
    for path in sorted(ROOT.rglob("*.py")):
        importer = module_name(path)
        where = f"{path.relative_to(ROOT.parent)}"
        for target, name, line in imports(path):
            if target == "vidxai" and name is not None and name.startswith("__"):
                continue  # package metadata (__version__): the root package is imported by every import anyway
            if layer(target) > layer(importer):
                upward.setdefault((importer, target), f"{where}:{line}")
            if name and name.startswith("_") and not name.startswith("__") and target != importer:
                private.setdefault((importer, f"{target}.{name}"), f"{where}:{line}")
            package = target.rsplit(".", 1)[0]
            if (target, name) in CORE_HOMES and importer != package and not importer.startswith(package + "."):
                old.setdefault((importer, f"{target}.{name}"), f"{where}:{line}")
    return upward, private, old


def test_every_module_has_a_layer():
    for path in ROOT.rglob("*.py"):
        layer(module_name(path))


def test_imports_point_down():
    upward, _, _ = scan()
    bad = [f"{where}: {a} imports {b} (layer {layer(a)} -> {layer(b)})"
           for (a, b), where in sorted(upward.items()) if (a, b) not in ALLOWED_UPWARD]
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_private_names_across_modules():
    _, private, _ = scan()
    bad = [f"{where}: {a} imports {b}" for (a, b), where in sorted(private.items()) if (a, b) not in ALLOWED_PRIVATE]
    assert not bad, "private names imported across modules:\n" + "\n".join(bad)


def test_building_blocks_come_from_core():
    _, _, old = scan()
    bad = [f"{where}: {a} imports {b}; use {CORE_HOMES[tuple(b.rsplit('.', 1))]}"
           for (a, b), where in sorted(old.items()) if (a, b) not in ALLOWED_OLD_HOMES]
    assert not bad, "old copies of core building blocks imported:\n" + "\n".join(bad)


def test_allow_list_is_still_needed():
    upward, private, old = scan()
    stale = ([f"{k}" for k in ALLOWED_UPWARD if k not in upward] + [f"{k}" for k in ALLOWED_PRIVATE if k not in private]
             + [f"{k}" for k in ALLOWED_OLD_HOMES if k not in old])
    assert not stale, "allow-list entries no longer needed (remove them):\n" + "\n".join(stale)


def test_scan_sees_function_level_and_relative_imports():
    # The scan must catch imports inside functions and resolve "..": render.report once imported
    # ..pipeline inside the module, pipeline imports .render inside functions.
    found = {(t, n) for t, n, _ in imports(ROOT / "pipeline.py")}
    assert ("vidxai.render", None) in found
    assert resolve("vidxai.render.report", False, 2, "pipeline") == "vidxai.pipeline"
    assert resolve("vidxai.metrics", True, 1, "base") == "vidxai.metrics.base"
    assert layer("vidxai.render.report") > layer("vidxai.result") > layer("vidxai.metrics.deletion")
