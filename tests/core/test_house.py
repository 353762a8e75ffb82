"""The shape of the house: no module reads another module's private names, and no file is over 300 lines.

Both checks read the source of every module of ``forecast/`` and ``pipelines/`` (the AST, nothing
is imported). A private name is one with a leading underscore that is not a dunder (``_x``,
``__x``; not ``__init__``). A module may use its own private names, on ``self``/``cls``, on
``super()`` and on any object (an instance of its own class, say); it may not import another
module's private names nor read ``x._name`` for a private name it does not define itself.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = sorted(p for package in ("forecast", "pipelines") for p in (ROOT / package).rglob("*.py"))
MAX_LINES = 300

# path -> private names it may still read from elsewhere, until its owner fixes it (keep empty).
ALLOWED = {}


def _private(name):
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _own_names(tree):
    """Every name the module defines: functions, classes, assigned names, arguments, ``self._x = ...``."""
    own = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            own.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            own.add(node.id)
        elif isinstance(node, ast.arg):
            own.add(node.arg)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id in ("self", "cls")
        ):
            own.add(node.attr)
    return own


def _is_super(node):
    return (
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "super"
    )


def foreign_private_names(path):
    """[(line, text)] of the places where ``path`` reads another module's private names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    own, found = _own_names(tree), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            found += [
                (node.lineno, f"from {'.' * node.level}{node.module or ''} import {a.name}")
                for a in node.names
                if _private(a.name)
            ]
        elif isinstance(node, ast.Import):
            found += [
                (node.lineno, f"import {a.name}")
                for a in node.names
                if any(map(_private, a.name.split(".")))
            ]
        elif isinstance(node, ast.Attribute) and _private(node.attr) and node.attr not in own:
            base = node.value
            if not (isinstance(base, ast.Name) and base.id in ("self", "cls")) and not _is_super(
                base
            ):
                found.append((node.lineno, f"{ast.unparse(base)}.{node.attr}"))
    return found


def _last_name(text):  # "from m import _x" -> "_x", "obj._x" -> "_x"
    return text.split()[-1].rsplit(".", 1)[-1]


def _name(path):
    return path.relative_to(ROOT).as_posix()


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_module_reads_another_modules_private_names(path):
    allowed = ALLOWED.get(_name(path), set())
    found = [
        (line, text)
        for line, text in foreign_private_names(path)
        if _last_name(text) not in allowed
    ]
    assert not found, f"{_name(path)} reads private names of other modules: " + "; ".join(
        f"line {line}: {text}" for line, text in found
    )


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_file_is_over_300_lines(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{_name(path)} has {n} lines (at most {MAX_LINES}): split it by job"


def test_the_check_sees_foreign_private_names(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "from other import _hidden, shown\nimport os\n\n\nclass A:\n    def __init__(self):\n"
        "        self._mine = 1\n\n    def f(self, b):\n        return b._mine + self._own + os._exit"
        " + super()._base() + b.__class__ + _hidden\n"
    )
    assert [text for _, text in foreign_private_names(module)] == [
        "from other import _hidden",
        "os._exit",
    ]
