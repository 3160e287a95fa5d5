"""Rules of the package that no single module's tests see: every docstring
example runs, every expected error names its message, and modules import
only from the layers below them."""

import ast
import doctest
import importlib
import pkgutil
from pathlib import Path

import pytest

import skdeepsphere

PACKAGE = Path(skdeepsphere.__file__).parent
TESTS = Path(__file__).parent
MODULES = sorted(
    name for _, name, _ in pkgutil.walk_packages(skdeepsphere.__path__, "skdeepsphere.")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    finder = doctest.DocTestFinder(exclude_empty=True)
    runner = doctest.DocTestRunner(
        optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for test in finder.find(module, name):
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples of {name} failed"


def test_every_public_module_has_examples():
    # packages (__init__.py) re-export what their modules document
    public = [name for name in MODULES
              if not importlib.import_module(name).__file__.endswith("__init__.py")
              and not any(part.startswith("_") for part in name.split("."))]
    without = []
    for name in public:
        tests = doctest.DocTestFinder().find(importlib.import_module(name), name)
        if not any(test.examples for test in tests):
            without.append(name)
    # demo is a script (python -m skdeepsphere.demo), tested in test_demo.py
    assert without == ["skdeepsphere.demo"]


def test_every_pytest_raises_names_the_message():
    missing = []
    for path in sorted(TESTS.glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and ast.unparse(node.func) == "pytest.raises"
                    and not any(keyword.arg == "match" for keyword in node.keywords)):
                missing.append(f"{path.name}:{node.lineno}")
    assert missing == []


# Data flow from the bottom up (STYLE.md): a module may import modules of
# lower layers and of its own subpackage only.
LAYERS = [
    {"healpix", "_kernel_widths", "_files", "_config", "_multiscale", "plotting"},
    {"_cache", "streaming", "synthesis", "metrics"},
    {"graph", "rotation", "_dense_targets"},
    {"nn", "datasets", "features", "checkpoints", "filters", "distributed"},
    {"estimators"},
    {"persistence"},
    {"demo"},
]
LAYER = {module: index for index, modules in enumerate(LAYERS) for module in modules}


def package_imports(path, module_level=False):
    """Top-level skdeepsphere modules that the file at ``path`` imports
    (``module_level``: only at import time, not inside functions)."""
    inside = path.relative_to(PACKAGE).parts
    found = set()
    tree = ast.parse(path.read_text())
    for node in tree.body if module_level else ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = list(inside[:-1])[:len(inside) - node.level]
            parts = base + (node.module.split(".") if node.module else [])
            if not parts:  # "from . import x" at the top level
                parts = [alias.name for alias in node.names]
                found.update(parts)
            else:
                found.add(parts[0])
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("skdeepsphere."):
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[1] for alias in node.names
                         if alias.name.startswith("skdeepsphere."))
    return found


def import_graph(module_level=False):
    graph = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).parts
        if parts == ("__init__.py",):
            continue  # the public API re-exports everything
        top = parts[0].removesuffix(".py")
        graph.setdefault(top, set()).update(package_imports(path, module_level) - {top})
    return graph


def test_imports_go_down_the_layers():
    upward = []
    for module, imported in sorted(import_graph().items()):
        for other in sorted(imported):
            if module in LAYER and other in LAYER and LAYER[other] >= LAYER[module]:
                upward.append(f"{module} -> {other}")
    assert upward == []


def test_import_graph_has_no_cycles():
    """No import-time cycle, also among modules the layers do not list yet
    (an import inside a function, run on demand, is checked by the layers)."""
    graph = import_graph(module_level=True)
    state = {}

    def visit(module, path):
        if state.get(module) == "done":
            return
        assert state.get(module) != "open", f"import cycle: {' -> '.join(path + [module])}"
        state[module] = "open"
        for other in sorted(graph.get(module, ())):
            visit(other, path + [module])
        state[module] = "done"

    for module in sorted(graph):
        visit(module, [])


@pytest.mark.parametrize("module, forbidden", [
    ("healpix", "torch"), ("graph", "torch"), ("rotation", "torch"), ("synthesis", "torch"),
    ("features", "torch"), ("nn", "sklearn"), ("healpix", "sklearn"),
])
def test_low_layers_do_not_import_heavy_frameworks(module, forbidden):
    """healpix and graph stay free of torch, nn (and healpix below it) free
    of scikit-learn, also through the package modules they import (imports
    inside functions, run on demand, excepted)."""
    graph = import_graph()
    reached, todo = set(), [module]
    while todo:
        current = todo.pop()
        if current not in reached:
            reached.add(current)
            todo.extend(graph.get(current, ()))
    offenders = []
    for name in sorted(reached):
        paths = [PACKAGE / f"{name}.py"] if (PACKAGE / f"{name}.py").exists() else sorted(
            (PACKAGE / name).rglob("*.py"))
        for path in paths:
            for node in ast.parse(path.read_text()).body:  # module level only
                names = ([alias.name for alias in node.names] if isinstance(node, ast.Import)
                         else [node.module or ""] if isinstance(node, ast.ImportFrom)
                         and not node.level else [])
                if any(n.split(".")[0] == forbidden for n in names):
                    offenders.append(path.relative_to(PACKAGE).as_posix())
    assert offenders == []
