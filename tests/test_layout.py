"""The package's folders show the flow (README 'Module map'): each folder imports only folders
before it in FLOW, and no module imports itself back through others. Function-local imports
count: one that exists to dodge a cycle is a cycle."""
from __future__ import annotations

import ast
from pathlib import Path

import vramrules

ENGINE = Path(vramrules.__file__).parent

# the folders in the order of the flow; a module may import its own folder and any folder before it
FLOW = ["foundation", "reading", "language", "backends", "evaluation", "importers", "render", "questions", "api", "service", "commands", "cli"]
# the top-level modules: shared declarations every folder may import, and the surfaces
FOUNDATION = {"errors", "contract", "valuekinds", "writefile", "version"}
SURFACE = {"": "api", "api": "api", "cli": "cli"}  # the package (lazy re-exports) and the Python API; the click entry point


def module_name(path: Path) -> str:
    parts = path.relative_to(ENGINE).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(mod: str) -> str:
    head = mod.partition(".")[0]
    if mod in SURFACE:
        return SURFACE[mod]
    if "." not in mod and not (ENGINE / head).is_dir():
        return "foundation" if mod in FOUNDATION else f"unplaced:{mod}"
    return head


def imports() -> dict[str, set[str]]:
    mods = {module_name(p): p for p in ENGINE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        out = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets = []
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = [p for p in package.split(".") if p]
                    base = base[: len(base) - node.level + 1]
                    target = ".".join(base + ([node.module] if node.module else []))
                elif (node.module or "").startswith("vramrules"):
                    target = node.module[len("vramrules"):].lstrip(".")
                else:
                    continue
                for alias in node.names:  # `from . import x` imports the module x when there is one
                    sub = f"{target}.{alias.name}".lstrip(".")
                    targets.append(sub if sub in mods else target)
            elif isinstance(node, ast.Import):
                targets = [a.name[len("vramrules"):].lstrip(".") for a in node.names if a.name.startswith("vramrules")]
            out.update(t for t in targets if t != mod)
        graph[mod] = out
    return graph


def test_every_module_has_a_place():
    unplaced = sorted(m for m in imports() if layer(m).startswith("unplaced"))
    assert not unplaced, f"top-level modules outside FOUNDATION and SURFACE: {unplaced} (put each in the folder of its step)"


def test_no_folder_imports_one_later_in_the_flow():
    rank = {name: i for i, name in enumerate(FLOW)}
    upward = []
    for mod, targets in imports().items():
        for t in targets:
            if rank[layer(t)] > rank[layer(mod)]:
                upward.append(f"{mod or 'vramrules'} ({layer(mod)}) imports {t} ({layer(t)})")
    assert not upward, "imports against the flow:\n" + "\n".join(sorted(upward))


def test_no_import_cycle_between_modules():
    graph = imports()
    state: dict[str, int] = {}
    cycles = []

    def visit(m, path):
        state[m] = 1
        for t in sorted(graph.get(m, ())):
            if t not in graph:
                continue
            if state.get(t) == 1:
                cycles.append(" -> ".join(path[path.index(t):] + [t]))
            elif t not in state:
                visit(t, path + [t])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_graph_sees_function_local_imports():
    """The check reads imports inside functions too (a cycle hidden in a function is a cycle)."""
    graph = imports()
    assert "questions.fit" in graph["api"]           # api.evaluate asks fill_gpus_needed inside the function
    assert "evaluation.evaluate" in graph["questions.fit"]
