"""The library's layers, as its folders show them: each module imports only its own layer and those
below it, and no folder holds more than 12 modules.

Bottom to top (``ARCHITECTURE.md``): ``data`` (pandas in/out), ``datasets``, ``metrics``,
``training``, ``networks``, ``probabilistic``, ``fitted``, ``export`` (portable artefacts), the
estimator (``forecast/estimator.py``), ``evaluation``. The base modules ``forecast.choices`` and
``forecast.checks`` (names and parameter checks) may be imported from anywhere and import nothing
above them; the package's ``__init__`` (the lazy public names) is the facade over all of it.
Imports inside functions count too.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "forecast"
LAYERS = [
    "data",
    "datasets",
    "metrics",
    "training",
    "networks",
    "probabilistic",
    "fitted",
    "export",
    "estimator",
    "evaluation",
    "tuning",
]
BASE = {"forecast.choices", "forecast.checks"}
MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p != PACKAGE / "__init__.py")


def module_name(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(module):
    """Index of ``module`` in LAYERS; -1 for a base module; None outside the library."""
    if module in BASE or module == "forecast":
        return -1
    if not module.startswith("forecast."):
        return None
    return LAYERS.index(module.split(".")[1])


def imported(path):
    """[(line, absolute module)] of every forecast import in ``path`` (relative ones resolved)."""
    name, is_pkg = module_name(path), path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                mod = ".".join(
                    base[: len(base) - node.level + 1] + ([node.module] if node.module else [])
                )
            else:
                mod = node.module or ""
            targets = [_submodule(mod, a.name) for a in node.names]
            found += [
                (node.lineno, t) for t in targets if t == "forecast" or t.startswith("forecast.")
            ]
        elif isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("forecast")]
    return found


def _submodule(mod, name):
    """``mod.name`` when that is a module of the library (``from forecast import choices``), else ``mod``."""
    path = ROOT / (f"{mod}.{name}".replace(".", "/"))
    return (
        f"{mod}.{name}"
        if path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()
        else mod
    )


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_a_module_imports_only_its_layer_and_those_below(path):
    own = layer(module_name(path))
    upward = [
        (line, mod)
        for line, mod in imported(path)
        if layer(mod) is not None and layer(mod) > own and mod != "forecast"
    ]
    assert not upward, (
        f"{module_name(path)} (layer {LAYERS[own] if own >= 0 else 'base'}) imports from above: "
        + "; ".join(f"line {line}: {mod}" for line, mod in upward)
    )


def test_base_modules_import_only_base_modules():
    for name in BASE:
        path = ROOT / (name.replace(".", "/") + ".py")
        assert all(mod in BASE for _, mod in imported(path)), name


def test_every_library_folder_is_a_known_layer_of_at_most_12_modules():
    folders = {p.parent for p in MODULES} - {PACKAGE}
    assert {f.name for f in folders} <= set(LAYERS)
    for folder in [PACKAGE, *folders]:
        modules = [p for p in folder.glob("*.py") if p.name != "__init__.py"]
        assert len(modules) <= 12, f"{folder.relative_to(ROOT)} holds {len(modules)} modules"


def test_the_check_sees_an_upward_import(tmp_path):
    fake = ROOT / "forecast" / "data" / "frames.py"
    assert layer("forecast.evaluation.selection") > layer(module_name(fake))
    assert layer("forecast.checks") == -1 and layer("pandas") is None
