"""The package's import layering: no cycles, and no import that runs back up the layers.

Layers, bottom to top (DESIGN.md): the dependency-free root modules; audio; project and
separation; presets (which read the separation's prompt vocabulary); jobs; control,
report, reaper; the demo and doctor; cli. A module may import its own
sub-package and anything in a lower layer. Imports inside functions count too: a
function-level import hides a cycle from Python, not from a reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import samaudio_daw

PACKAGE = Path(samaudio_daw.__file__).parent
LAYERS: dict[str, int] = {
    # the root modules: errors, files, metrics, demo_song import nothing of ours but each other
    "audio": 1,
    "project": 2,
    "separation": 2,
    "presets": 3,  # reads the separation's prompt vocabulary (removal prompts' stem names)
    "jobs": 4,
    "control": 5,
    "report": 5,
    "reaper": 5,
    "cli": 7,
}
# Root modules that are applications over the whole stack, below the command line only.
TOP_LEVEL_APPS = {"demo": 6, "doctor": 6, "__main__": 8}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict[str, set[str]]:
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                candidates = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            found |= {c for c in candidates if c in modules and c != name}
        graph[name] = found
    return graph


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return 0
    part = parts[1]
    if part in LAYERS:
        return LAYERS[part]
    return TOP_LEVEL_APPS.get(part, 0)


def _group(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_import_runs_up_or_sideways() -> None:
    wrong = []
    for module, imported in _imports().items():
        for other in imported:
            if other == "samaudio_daw":  # the package root: only __version__
                continue
            same_group = _group(module) == _group(other) and _group(module) in LAYERS
            if not same_group and _layer(other) >= _layer(module) and _layer(module) > 0:
                wrong.append(f"{module} -> {other}")
            if _layer(module) == 0 and _layer(other) > 0:
                wrong.append(f"{module} -> {other}")
    assert wrong == []


def test_no_import_cycles() -> None:
    graph = _imports()
    cycles = []
    state: dict[str, int] = {}  # 1: on the path being walked, 2: done

    def walk(module: str, path: list[str]) -> None:
        state[module] = 1
        for other in sorted(graph[module]):
            if state.get(other) == 1:
                cycles.append(" -> ".join(path[path.index(other) :] + [other]))
            elif other not in state:
                walk(other, [*path, other])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            walk(module, [module])
    assert cycles == []


def test_the_layer_check_sees_function_level_imports() -> None:
    # A check that could not see these would pass on any code: prove it reads them.
    imported = _imports()["samaudio_daw.cli.separate"]
    assert "samaudio_daw.jobs.runner" in imported  # imported inside the command's action


def test_only_the_command_line_imports_click() -> None:
    users = []
    for path in PACKAGE.rglob("*.py"):
        module = _module_name(path)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(name.split(".")[0] == "click" for name in names) and _group(module) != "cli":
                users.append(module)
    assert users == []
