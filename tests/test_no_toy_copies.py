"""Toy models live once: a network two test files need is defined in ``conftest.py`` and imported from there."""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).parent


def _is_module_class(node: ast.ClassDef) -> bool:
    return any(ast.unparse(b).split(".")[-1] == "Module" for b in node.bases)


def _toy_models(path: Path) -> list[tuple[str, str]]:
    """``(class name, body fingerprint)`` of every nn.Module subclass in a test file (nested ones included)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ClassDef) and _is_module_class(node):
            methods = [n for n in node.body if isinstance(n, ast.FunctionDef) and n.name in ("__init__", "forward")]
            out.append((node.name, "\n".join(ast.dump(ast.Module([s for s in m.body if not _is_docstring(s)], []))
                                             for m in methods)))
    return out


def _is_docstring(stmt: ast.stmt) -> bool:
    return isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str)


def toy_model_copies(paths) -> list[str]:
    """Names (and bodies) defined in more than one file."""
    by_name, by_body = defaultdict(set), defaultdict(set)
    for path in paths:
        for name, body in _toy_models(path):
            by_name[name].add(path.name)
            if body:
                by_body[body].add(f"{path.name}:{name}")
    named = [f"{n} in {sorted(f)}" for n, f in by_name.items() if len(f) > 1]
    bodies = [f"the same network as {sorted(f)}" for f in by_body.values() if len({x.split(':')[0] for x in f}) > 1]
    return named + bodies


def test_no_toy_model_is_defined_in_two_test_files():
    paths = sorted(p for p in TESTS.glob("*.py") if p.name != "conftest.py")
    copies = toy_model_copies(paths)
    assert not copies, f"move these into conftest.py and import them: {copies}"


def test_the_check_finds_a_copy(tmp_path):
    """The check fails on what it forbids: the same net under two names, and one name in two files."""
    net = "class {}(nn.Module):\n    def __init__(self):\n        super().__init__()\n        self.fc = nn.Linear(4, 2)\n" \
          "\n    def forward(self, x):\n        return self.fc(x)\n"
    (tmp_path / "a.py").write_text("from torch import nn\n" + net.format("Net"))
    (tmp_path / "b.py").write_text("from torch import nn\n" + net.format("Other"))
    (tmp_path / "c.py").write_text("from torch import nn\nclass Net(nn.Module):\n    pass\n")
    found = toy_model_copies(sorted(tmp_path.glob("*.py")))
    assert any("Net in ['a.py', 'c.py']" in f for f in found) and any("b.py:Other" in f for f in found)
