"""The package's import graph: no cycles, imports point down, no hidden function-local imports.

Every `import` of every module is read with `ast` (function-local ones included, so a cycle
cannot hide inside a function). Modules are grouped into units (`squeezenet.engine`,
`squeezenet.checkpoint`, ...) and units into layers, lowest first:

    base       errors, files, hardware, imagenet, meta (+ its field checks, metacheck),
               torchfile: import nothing of the package but each other
    models     models/ (nn.Modules and configs) and summary (shapes and FLOPs of a model)
    formats    formats/: every file kind a model is read from / written to (.sqz, .net,
               .caffemodel) and the suffix registry `load_model` dispatches to
    weights    checkpoint (load_model, save_model) and pretrained (the shipped weights);
               checkpoint -> pretrained is the one edge inside the layer
    data       data/: datasets, decoding, the one preprocessing implementation
    tasks      engine/ (training), compress/ (Deep Compression), export/ (ONNX, INT8) and
               explain/ (attributions): each consumes models + data + weights. The only edge
               between them: compress -> engine (retraining runs on the engine's loop). engine
               sees compression through nothing; export and explain import no sibling.
    inference  inference/: prediction and benchmarks, built on export's ONNX sessions
    apps       cli/, demo, __main__ and the package facade `squeezenet/__init__.py` (which
               nothing inside the package imports); demo -> cli is allowed (it renders with
               the CLI's tables), cli -> demo is not.

A unit may import a unit of a lower layer, or of its own layer only through an edge listed
in SAME_LAYER_EDGES. Inside one unit any import is fine as long as the module graph stays
acyclic.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import squeezenet

PACKAGE_ROOT = Path(squeezenet.__file__).parent
LAYERS: dict[str, tuple[str, ...]] = {
    "base": ("errors", "files", "hardware", "imagenet", "meta", "metacheck", "torchfile"),
    "models": ("models", "summary"),
    "formats": ("formats",),
    "weights": ("checkpoint", "pretrained"),
    "data": ("data",),
    "tasks": ("engine", "compress", "export", "explain"),
    "inference": ("inference",),
    "apps": ("cli", "demo", "__main__", "__init__"),
}
SAME_LAYER_EDGES = {
    ("meta", "metacheck"),
    ("torchfile", "errors"),
    ("torchfile", "files"),
    ("checkpoint", "pretrained"),
    ("summary", "models"),
    ("compress", "engine"),
    ("demo", "cli"),
    ("__main__", "cli"),
    ("__init__", "checkpoint"),
}
# Function-local imports are for optional dependencies only: the package imports without them.
OPTIONAL = (
    "onnx",
    "onnxruntime",
    "onnxscript",
    "matplotlib",
    "tensorboard",
    "torch.utils.tensorboard",
    "openvino",
)
# `export/` needs the optional onnx/onnxruntime at import time (export/int8.py imports them
# at module level), so its users (inference, cli) reach it lazily for now: importing it on
# top would make `squeezenet predict` need the export extra. Drop this once export imports
# onnx lazily itself (export/onnx.py already does).
OPTIONAL_OURS = ("squeezenet.export",)


def _modules() -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package __init__)."""
    out = {}
    for path in sorted(PACKAGE_ROOT.rglob("*.py")):
        parts = ["squeezenet", *path.relative_to(PACKAGE_ROOT).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        out[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return out


MODULES = _modules()


def _target(name: str) -> str:
    """The module (or, failing that, the nearest enclosing package) an import names."""
    while name not in MODULES and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def _imports(module: str) -> list[tuple[str, bool]]:
    """(imported name, imported inside a function or class) for every import of `module`."""
    path, is_package = MODULES[module]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[str, bool]] = []

    scopes = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

    def visit(node: ast.AST, local: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = local or isinstance(child, scopes)
            if isinstance(child, ast.Import):
                found.extend((alias.name, local) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                found.extend((name, local) for name in _from_names(module, is_package, child))
            visit(child, inner)

    visit(tree, False)
    return found


def _from_names(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        prefix = ".".join(base + ([node.module] if node.module else []))
    else:
        prefix = node.module or ""
    # `from pkg import sub` imports the submodule `pkg.sub` when there is one.
    return [f"{prefix}.{a.name}" if f"{prefix}.{a.name}" in MODULES else prefix for a in node.names]


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _layer(unit: str) -> int:
    for rank, units in enumerate(LAYERS.values()):
        if unit in units:
            return rank
    raise AssertionError(f"squeezenet.{unit} is in no layer of tests/test_layers.py; add it")


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for module in MODULES:
        for name, _ in _imports(module):
            if name == "squeezenet" or name.startswith("squeezenet."):
                target = _target(name)
                if target != module:
                    graph[module].add(target)
    return graph


def test_every_unit_has_a_layer() -> None:
    for module in MODULES:
        _layer(_unit(module))


def test_no_import_cycle_between_modules() -> None:
    graph, state, stack = _graph(), {}, []

    def visit(module: str) -> None:
        state[module] = "open"
        stack.append(module)
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycle = stack[stack.index(target) :] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module)


def test_imports_point_down() -> None:
    wrong = []
    for module, targets in _graph().items():
        src = _unit(module)
        for target in targets:
            dst = _unit(target)
            if src == dst:
                continue
            up = _layer(dst) > _layer(src)
            sideways = _layer(dst) == _layer(src) and (src, dst) not in SAME_LAYER_EDGES
            if up or sideways:
                wrong.append(f"{module} imports {target}")
    assert not wrong, "imports that do not point down:\n" + "\n".join(sorted(wrong))


def test_function_local_imports_are_optional_dependencies_only() -> None:
    wrong = []
    for module in MODULES:
        for name, local in _imports(module):
            if not local:
                continue
            if not any(name == o or name.startswith(o + ".") for o in OPTIONAL + OPTIONAL_OURS):
                wrong.append(f"{module}: {name}")
    assert not wrong, "function-local imports of required modules:\n" + "\n".join(sorted(wrong))


def test_the_walker_sees_function_local_imports() -> None:
    """The check above would pass vacuously if `_imports` missed nested imports."""
    nested = [name for name, local in _imports("squeezenet.engine.logger") if local]
    assert "torch.utils.tensorboard" in nested


def test_the_package_imports_without_its_optional_dependencies() -> None:
    """What the lazy imports are for: the CLI, training, compression and prediction load with
    the optional extras (onnx, onnxruntime, openvino, tensorboard) all missing, and with
    matplotlib (a dependency, imported only where something is plotted). The demo exports to
    ONNX, so it needs the export extra (`make demo` installs every extra)."""
    blocked = ("onnx", "onnxruntime", "openvino", "matplotlib", "tensorboard")
    code = (
        "import sys\n"
        f"for name in {blocked!r}: sys.modules[name] = None  # `import name` now fails\n"
        "import squeezenet, squeezenet.cli, squeezenet.engine, "
        "squeezenet.compress, squeezenet.inference, squeezenet.explain\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
