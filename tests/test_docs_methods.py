"""The method reference in docs/*.md agrees with the registered methods (no model runs).

A *method table* is a Markdown table whose header's first cell is ``method`` or that has a column titled
``parameters...``; a row whose first cell is exactly one backticked name (`` `gradcam` ``) documents that method.
The rows in tables with a parameters column are the method's home rows (all its rows where it has none, as the CAM
table of cam.md). For every method of the vidxai package (``vidxai.methods.list()``):

1. it has a row in some docs/*.md (and every name in such a row is a registered method);
2. every keyword parameter (``attribution.base.parameter_defaults``, ``capabilities()["parameters"]``) is named in
   backticks (`` `name` `` or `` `name=...` ``) in its documentation: its home rows (and the rows they point to with
   "as `other`"), the ``##`` section they live in (other methods' rows left out), the doc's introduction (the text
   before the first ``##``, where conventions shared by all its methods live) or a ``| parameter | default |``
   table of the doc;
3. a default the docs state, as `` `name=value` `` in a home row's parameters column (outside parentheses:
   ``(`"paper"`: `n_samples=50`)`` names another setting) or as a backticked literal in a parameter table's default
   column, equals the code's default: numbers compared as floats, tuples and lists alike, ``^`` read as a power.
"""
from __future__ import annotations

import ast
import inspect
import math
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import vidxai
from vidxai.attribution.base import parameter_defaults

DOCS = Path(__file__).resolve().parents[1] / "docs"
NAME = re.compile(r"`([a-z0-9][a-z0-9+\-]*)`")
SPAN = re.compile(r"`([^`]+)`")


@dataclass
class Row:
    """One row of a method table: where it is and what its cells say."""

    doc: str
    method: str
    text: str
    params: str | None  # the parameters column, None when the table has none
    section: int  # index of its section in Doc.sections


@dataclass
class Doc:
    """A docs/*.md file cut into ``##`` sections (0 = the introduction), its method rows and parameter tables."""

    name: str
    sections: list[list[str]] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    param_rows: list[tuple[list[str], str | None]] = field(default_factory=list)  # (names, default cell)


def cells(line: str) -> list[str]:
    """The cells of a table line (``\\|`` is a literal bar)."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def without_code_blocks(text: str) -> list[str]:
    """The lines of ``text`` with fenced code blocks blanked (examples there are usage, not reference)."""
    out, fenced = [], False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            fenced = not fenced
            out.append("")
        else:
            out.append("" if fenced else line)
    return out


def parse_doc(name: str, text: str) -> Doc:
    """Sections, method rows and parameter-table rows of one Markdown file."""
    doc = Doc(name, [[]])
    lines = without_code_blocks(text)
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            doc.sections.append([])
        if line.startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("|-"):
            j = i + 2
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            read_table(doc, [cells(x) for x in lines[i:j]], lines[i:j])
            doc.sections[-1] += lines[i:j]
            i = j
            continue
        doc.sections[-1].append(line)
        i += 1
    return doc


def read_table(doc: Doc, table: list[list[str]], lines: list[str]) -> None:
    """Record the method rows or parameter rows of one table (``table[1]`` is the ``|---|`` line)."""
    header = [h.lower() for h in table[0]]
    if header[0] == "parameter":
        col = header.index("default") if "default" in header else None
        for r in table[2:]:
            doc.param_rows.append((SPAN.findall(r[0]), r[col] if col is not None and col < len(r) else None))
        return
    pcol = next((k for k, h in enumerate(header) if h.startswith("parameters")), None)
    if header[0] != "method" and pcol is None:
        return
    for r, line in zip(table[2:], lines[2:]):
        m = NAME.fullmatch(r[0])
        if m:
            doc.rows.append(Row(doc.name, m.group(1), line, r[pcol] if pcol is not None and pcol < len(r) else None,
                                len(doc.sections) - 1))


def read_docs(folder: Path = DOCS) -> list[Doc]:
    """Every docs/*.md (not the subfolders: benchmarks are measurements, not reference)."""
    return [parse_doc(p.name, p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.md"))]


# ---- values ----------------------------------------------------------------------------------------------------

_OPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
        ast.Pow: operator.pow}


def _value(node: ast.AST):
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.Tuple, ast.List)):
        return tuple(_value(e) for e in node.elts)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_value(node.operand)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        return _OPS[type(node.op)](_value(node.left), _value(node.right))
    raise ValueError(ast.dump(node))


def literal(text: str):
    """The value of a documented default (``300*1.0035^800``, ``(4,16,16)``, ``"blur"``, ``1/20``...)."""
    return _value(ast.parse(text.strip().replace("^", "**"), mode="eval").body)


def same(doc_value, code_value) -> bool:
    """Equal after normalising: bools and None exactly, numbers as floats, tuples and lists alike."""
    if isinstance(doc_value, bool) or isinstance(code_value, bool) or doc_value is None or code_value is None:
        return doc_value is code_value
    if isinstance(doc_value, (int, float)) and isinstance(code_value, (int, float)):
        return math.isclose(doc_value, code_value, rel_tol=1e-6, abs_tol=1e-12)
    if isinstance(doc_value, tuple) and isinstance(code_value, (tuple, list)):
        return len(doc_value) == len(code_value) and all(same(a, b) for a, b in zip(doc_value, code_value))
    return type(doc_value) is type(code_value) and doc_value == code_value


def split_items(span: str) -> list[str]:
    """``a=1, b=(2, 3)`` -> ``["a=1", "b=(2, 3)"]`` (commas inside brackets and quotes kept)."""
    items, depth, quote, cur = [], 0, "", ""
    for ch in span:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "\"'":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        cur += ch
    return [s.strip() for s in items + [cur] if s.strip()]


def stated_defaults(cell: str) -> list[tuple[str, str]]:
    """``(name, value text)`` of every `` `name=value` `` in a parameters cell outside parentheses."""
    out, depth = [], 0
    for k, part in enumerate(re.split(r"(`[^`]*`)", cell)):
        if k % 2 == 0:  # prose between the spans
            depth = max(0, depth + part.count("(") - part.count(")"))
        elif depth == 0:
            for item in split_items(part.strip("`")):
                m = re.fullmatch(r"([A-Za-z_]\w*)\s*=\s*(.+)", item)
                if m:
                    out.append((m.group(1), m.group(2)))
    return out


def table_defaults(names: list[str], cell: str | None) -> list[tuple[str, str]]:
    """The defaults a parameter table's default cell states: only a cell of backticked literals, one per name."""
    if not cell:
        return []
    spans = SPAN.findall(cell)
    if len(spans) != len(names) or re.sub(r"`[^`]*`|[,\s]", "", cell):
        return []
    return list(zip(names, spans))


# ---- the checks ------------------------------------------------------------------------------------------------

EMPTY = inspect.Parameter.empty


def shown(default) -> str:
    """A default as the failure messages print it."""
    return "none (required)" if default is EMPTY else repr(default)


def method_rows(docs: list[Doc]) -> dict[str, list[Row]]:
    """``{method: its rows}`` over every doc."""
    rows: dict[str, list[Row]] = {}
    for doc in docs:
        for row in doc.rows:
            rows.setdefault(row.method, []).append(row)
    return rows


def unregistered(docs: list[Doc], registered: set[str]) -> list[str]:
    """One line per method-table row that names no registered method."""
    return [f"docs/{r.doc}: `{r.method}` has a method-table row but is not a registered method (registered: "
            f"{', '.join(sorted(registered))})" for d in docs for r in d.rows if r.method not in registered]


def problems(docs: list[Doc], name: str, defaults: dict) -> list[str]:
    """Every disagreement between ``docs`` and method ``name`` (``defaults``: ``{parameter: default}``)."""
    rows = method_rows(docs)
    if name not in rows:
        return [f"docs: method `{name}` has no row in a method table of any docs/*.md (a table whose header starts "
                f"with `method` or has a `parameters (defaults)` column, with `{name}` alone in the first cell)"]
    return method_problems(docs, name, defaults, rows)


def home_rows(name: str, rows: dict[str, list[Row]]) -> list[Row]:
    """The rows that document ``name``'s parameters: its rows in tables with a parameters column (all its rows
    when there are none), plus the rows they point to ("as `lime`")."""
    own = [r for r in rows.get(name, []) if r.params is not None] or rows.get(name, [])
    refs = {m for r in own for m in re.findall(r"\bas `([a-z0-9+\-]+)`", r.params or "") if m != name}
    return own + [r for m in sorted(refs) for r in rows.get(m, []) if r.params is not None]


def scope_spans(docs: list[Doc], name: str, home: list[Row]) -> tuple[list[str], str]:
    """The backticked spans of ``name``'s documentation and a description of where they were looked for."""
    by_name = {d.name: d for d in docs}
    others = {r.text for d in docs for r in d.rows if r.method != name}
    text = [r.text for r in home]
    where = []
    for doc_name in dict.fromkeys(r.doc for r in home if r.method == name):
        doc = by_name[doc_name]
        for k in sorted({0} | {r.section for r in home if r.doc == doc_name and r.method == name}):
            text += [line for line in doc.sections[k] if line not in others]
            where.append(f"docs/{doc_name} " + ("introduction" if k == 0 else f"section '{doc.sections[k][0]}'"))
        text += [f"`{p}`" for names, _ in doc.param_rows for p in names]
    return SPAN.findall("\n".join(text)), ", ".join(where) + ", its row(s) and the docs' parameter tables"


def method_problems(docs: list[Doc], name: str, defaults: dict, rows: dict[str, list[Row]]) -> list[str]:
    """The undocumented parameters of one method and the defaults its docs state wrongly."""
    home = home_rows(name, rows)
    spans, where = scope_spans(docs, name, home)
    out = []
    for p, default in defaults.items():
        if not any(re.match(rf"\s*{re.escape(p)}\s*(=|$)", s) for s in spans):
            out.append(f"docs/{home[0].doc}: method `{name}`: parameter `{p}` (code default {shown(default)}) is "
                       f"not documented (looked in {where})")
    stated = [(r.doc, p, v, True) for r in home if r.params for p, v in stated_defaults(r.params)]
    for doc in [d for d in docs if d.name in {r.doc for r in home if r.method == name}]:
        stated += [(doc.name, p, v, False) for names, cell in doc.param_rows for p, v in table_defaults(names, cell)]
    for doc_name, p, text, strict in stated:
        if p not in defaults or defaults[p] is EMPTY:
            continue
        try:
            value = literal(text)
        except (SyntaxError, ValueError, TypeError, ArithmeticError):
            if strict:
                out.append(f"docs/{doc_name}: method `{name}`: `{p}={text}` is not a readable default (code default "
                           f"{shown(defaults[p])})")
            continue
        if not same(value, defaults[p]):
            out.append(f"docs/{doc_name}: method `{name}`: parameter `{p}`: the docs say `{p}={text}`, the code's "
                       f"default is {shown(defaults[p])}")
    return out


def code_parameters(name: str) -> dict:
    """``{parameter: default}`` of a registered method (capability names without a default count as required)."""
    cls = vidxai.methods.get(name)
    out = dict(parameter_defaults(cls))
    for p in cls.capabilities().get("parameters", []):
        out.setdefault(p, EMPTY)
    return out


#: the methods vidxai registers itself (a test may register a throwaway one for its own duration)
METHODS = [m for m in vidxai.methods.list() if vidxai.methods.get(m).__module__.startswith("vidxai.")]


@pytest.fixture(scope="module")
def docs() -> list[Doc]:
    return read_docs()


@pytest.mark.parametrize("name", METHODS)
def test_method_is_documented_with_its_parameters_and_defaults(docs, name):
    found = problems(docs, name, code_parameters(name))
    assert not found, "\n".join(found)


def test_every_method_row_names_a_registered_method(docs):
    found = unregistered(docs, set(vidxai.methods.list()))
    assert not found, "\n".join(found)
    assert len({r.method for d in docs for r in d.rows}) >= len(METHODS)  # the parser sees the tables


TOY = """# Toy

Every method takes `seed=` and `progress`.

## Family

| name | map | parameters (defaults) |
|---|---|---|
| `m` | a map | `steps=8` (`"paper"`: `steps=50`), `mode="a"`, `size=(4, 7, 7)` |
| `other` | another | `extra=1` |
| `alike` | the same | as `m` |

| parameter | default | meaning |
|---|---|---|
| `relu`, `scale` | `True`, `1/2` | rectify, scale |
"""


def test_the_check_catches_missing_parameters_wrong_defaults_and_unknown_names():
    docs = [parse_doc("toy.md", TOY)]
    found = problems(docs, "m", {"steps": 8, "mode": "b", "size": [4, 7, 7], "seed": 1, "progress": False,
                                 "relu": False, "scale": 0.5, "extra": 1, "gone": 2.5})
    assert found == ["docs/toy.md: method `m`: parameter `extra` (code default 1) is not documented (looked in "
                     "docs/toy.md introduction, docs/toy.md section '## Family', its row(s) and the docs' parameter "
                     "tables)",
                     "docs/toy.md: method `m`: parameter `gone` (code default 2.5) is not documented (looked in "
                     "docs/toy.md introduction, docs/toy.md section '## Family', its row(s) and the docs' parameter "
                     "tables)",
                     "docs/toy.md: method `m`: parameter `mode`: the docs say `mode=\"a\"`, the code's default is 'b'",
                     "docs/toy.md: method `m`: parameter `relu`: the docs say `relu=True`, the code's default is False"]
    # "as `m`" hands m's row (and its defaults) to `alike`
    assert problems(docs, "alike", {"steps": 9})[0].endswith("the docs say `steps=8`, the code's default is 9")
    assert problems(docs, "absent", {})[0].startswith("docs: method `absent` has no row")
    assert unregistered(docs, {"m", "alike"})[0].startswith("docs/toy.md: `other` has a method-table row but is not")


def test_documented_values_are_read_and_normalised():
    assert same(literal("300*1.0035^800"), 300 * 1.0035 ** 800) and same(literal("1/20"), 0.05)
    assert same(literal("(0, 5, 5)"), (0.0, 5.0, 5.0)) and same(literal("(4,16,16)"), [4, 16, 16])
    assert same(literal("'blur'"), "blur") and same(literal("None"), None) and same(literal("1e-6"), 1e-06)
    assert not same(literal("1"), True) and not same(literal("0"), None) and not same(literal('"1"'), 1)
    assert stated_defaults('`a=1`, `b=(1, 2)` (`"x"`: `a=5`), `c`, `d=2, e="f, g"`') == [
        ("a", "1"), ("b", "(1, 2)"), ("d", "2"), ("e", '"f, g"')]
