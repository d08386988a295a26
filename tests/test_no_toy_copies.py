"""Toy models live once: a network two test files need is defined in ``conftest.py`` and imported from there.

Checked on the source (ast), so it is fast: across the files of tests/ (conftest.py and runner_toy.py included, so
a test file that copies one of their models is caught too), no two files may define

* an nn.Module subclass of the same name (subclasses of a module class of the same file or of conftest /
  runner_toy count, e.g. ``class Exploding(PoolNet)``),
* an nn.Module subclass with the same ``__init__`` and ``forward`` bodies (docstrings left out), whatever its name,
* the same inline ``nn.Sequential(...)`` network of three layers or more.
"""
from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).parent
SHARED = ("conftest.py", "runner_toy.py")  # where shared toy models live (imported by the test files)


def _base_name(node: ast.expr) -> str:
    return ast.unparse(node).split(".")[-1]


def _module_classes(tree: ast.AST, known: set[str]) -> list[ast.ClassDef]:
    """The nn.Module subclasses in ``tree`` (nested ones included): a base named ``Module``, or a class of this
    file or of ``known`` (shared model names) that is one."""
    classes = [n for n in ast.walk(tree) if isinstance(n, ast.ClassDef)]
    names = set(known)
    found: list[ast.ClassDef] = []
    grew = True
    while grew:
        grew = False
        for node in classes:
            if node not in found and any(_base_name(b) == "Module" or _base_name(b) in names for b in node.bases):
                found.append(node)
                names.add(node.name)
                grew = True
    return found


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
            and isinstance(body[0].value.value, str):
        return body[1:]
    return body


def _fingerprint(node: ast.ClassDef) -> str:
    """``__init__`` and ``forward`` bodies, docstrings left out ("" when the class defines neither)."""
    methods = {n.name: n for n in node.body if isinstance(n, ast.FunctionDef) and n.name in ("__init__", "forward")}
    parts = [ast.dump(ast.Module(_without_docstring(methods[m].body), [])) if m in methods else "-"
             for m in ("__init__", "forward")]
    return "" if parts == ["-", "-"] else "\n".join(parts)


def _sequentials(tree: ast.AST) -> list[str]:
    """Source of each ``nn.Sequential(...)`` call with three or more layers (``torch.nn.`` spelt ``nn.``)."""
    return [ast.unparse(n).replace("torch.nn.", "nn.") for n in ast.walk(tree)
            if isinstance(n, ast.Call) and _base_name(n.func) == "Sequential"
            and (len(n.args) >= 3 or any(isinstance(a, ast.Starred) for a in n.args))]


def toy_model_copies(paths) -> list[str]:
    """What is defined in more than one of ``paths``: class names, class bodies, inline Sequential networks."""
    trees = {path: ast.parse(path.read_text()) for path in paths}
    known = {node.name for path, tree in trees.items() if path.name in SHARED
             for node in _module_classes(tree, set())}
    by_name, by_body, by_seq = defaultdict(set), defaultdict(set), defaultdict(set)
    for path, tree in trees.items():
        for node in _module_classes(tree, known):
            by_name[node.name].add(path.name)
            if body := _fingerprint(node):
                by_body[body].add(f"{path.name}:{node.name}")
        for seq in _sequentials(tree):
            by_seq[seq].add(path.name)
    named = [f"{n} in {sorted(f)}" for n, f in by_name.items() if len(f) > 1]
    bodies = [f"the same network as {sorted(f)}" for f in by_body.values() if len({x.split(':')[0] for x in f}) > 1]
    seqs = [f"{s} in {sorted(f)}" for s, f in by_seq.items() if len(f) > 1]
    return named + bodies + seqs


def test_no_toy_model_is_defined_in_two_test_files():
    copies = toy_model_copies(sorted(TESTS.glob("*.py")))
    assert not copies, f"move these into conftest.py and import them: {copies}"


NET = """class {}(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        {}return self.fc(x)
"""


def test_the_check_finds_a_copy(tmp_path):
    """The check fails on what it forbids: the same net under two names (one with a docstring), one name in two
    files (also as a subclass of a file's own module class), the same inline Sequential in two files."""
    (tmp_path / "a.py").write_text("from torch import nn\n" + NET.format("Net", ""))
    (tmp_path / "b.py").write_text("from torch import nn\n" + NET.format("Other", '"""Doc."""\n        '))
    (tmp_path / "c.py").write_text("from torch import nn\nclass Base(nn.Module):\n    pass\n"
                                   "class Net(Base):\n    pass\n")
    seq = "net = torch.nn.Sequential(nn.Conv3d(3, 2, 1), nn.ReLU(), nn.Flatten())\n"
    (tmp_path / "d.py").write_text(seq)
    (tmp_path / "e.py").write_text(seq.replace("torch.nn.", "nn."))
    found = toy_model_copies(sorted(tmp_path.glob("*.py")))
    assert any("Net in ['a.py', 'c.py']" in f for f in found)
    assert any("a.py:Net" in f and "b.py:Other" in f for f in found)
    assert any("in ['d.py', 'e.py']" in f for f in found)
    assert len(found) == 3, found


def test_a_subclass_of_a_shared_model_counts_and_a_model_imported_from_conftest_does_not(tmp_path):
    (tmp_path / "conftest.py").write_text("from torch import nn\n" + NET.format("Shared", ""))
    (tmp_path / "test_a.py").write_text("from conftest import Shared\nclass Wide(Shared):\n    pass\n")
    (tmp_path / "test_b.py").write_text("from conftest import Shared\nclass Wide(Shared):\n    pass\n")
    (tmp_path / "test_c.py").write_text("from conftest import Shared\nnet = Shared()\n")
    assert toy_model_copies(sorted(tmp_path.glob("*.py"))) == ["Wide in ['test_a.py', 'test_b.py']"]

