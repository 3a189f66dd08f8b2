"""The package's layers: every module imports only from its own layer or those below."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "osrl_unlearn"

# Bottom to top. A module may import modules of its own layer or of a lower one.
LAYERS = [
    ["osrl_unlearn", "osrl_unlearn.errors", "osrl_unlearn.safety"],
    ["osrl_unlearn.data"],  # datasets, behaviour, collection, attacks, registered ids
    ["osrl_unlearn.unlearning.objective", "osrl_unlearn.unlearning.mixin"],
    ["osrl_unlearn.configs", "osrl_unlearn.adapters"],
    ["osrl_unlearn.runs", "osrl_unlearn.evaluation", "osrl_unlearn.training"],
    ["osrl_unlearn.unlearning.stage", "osrl_unlearn.pipeline", "osrl_unlearn.audit"],
    ["osrl_unlearn.experiments", "osrl_unlearn.patching", "osrl_unlearn.doctor"],
    ["osrl_unlearn.cli"],
]


def layer_of(module: str) -> int:
    """The layer of a module: the longest matching prefix decides."""
    best, best_length = None, -1
    for number, prefixes in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_length:
                best, best_length = number, len(prefix)
    assert best is not None, f"{module} is in no layer: add it to LAYERS"
    return best


def imported_modules(path: Path):
    """The osrl_unlearn modules a file imports (top level or inside functions)."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("osrl_unlearn"):
            for alias in node.names:  # `from osrl_unlearn.data import datasets` names a module
                yield f"{node.module}.{alias.name}" if node.module in ("osrl_unlearn.data",) \
                    else node.module
        elif isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.startswith("osrl_unlearn"))


def test_imports_point_down_only():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        for imported in imported_modules(path):
            if layer_of(imported) > layer_of(module):
                upward.append(f"{module} imports {imported}")
    assert not upward, "imports running up the layers:\n" + "\n".join(upward)
