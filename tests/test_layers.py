"""The package's tree is its architecture: each stage imports only the stages below it, and
nothing imports a module that imports it back (read from the modules' own import statements)."""

import ast

from conftest import REPO

from mosaicfocus.runplan.codebase import Codebase

CODE = Codebase(REPO / "src")
# Each subpackage and the subpackages (and root plumbing, "") it may import from.
LAYERS = {
    "": {""},
    "data": {"", "data"},
    "runplan": {"", "data", "runplan"},
    "what_network": {"", "data", "what_network"},
    "where_network": {"", "data", "what_network", "where_network"},
    "reporting": {"", "data", "runplan", "what_network", "where_network", "reporting"},
}


def layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (len(parts) == 2 and parts[1] in LAYERS) else ""


def test_every_module_belongs_to_a_known_stage():
    assert len(CODE.modules) > 40, "the package scan found too few modules"
    unknown = {m for m in CODE.modules if layer(m) not in LAYERS}
    assert not unknown, f"modules outside the stages of LAYERS: {sorted(unknown)}"


def test_no_stage_imports_a_stage_above_it():
    upward = [
        f"{module} imports {target}"
        for module in CODE.modules
        for target in CODE.imports(module)
        if target != "mosaicfocus" and layer(target) not in LAYERS[layer(module)]
    ]
    assert not upward, "upward imports (move the shared piece down a layer):\n" + "\n".join(sorted(upward))


def test_no_import_cycles():
    # Importing a.b.c runs a and a.b first: a module's own packages are not its imports.
    graph = {m: {t for t in CODE.imports(m) if not (m + ".").startswith(t + ".")} for m in CODE.modules}
    state: dict[str, int] = {}
    cycles = []

    def visit(module, path):
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_every_subpackage_says_what_it_takes_and_gives():
    for name in LAYERS:
        if not name:
            continue
        init = CODE.modules[f"mosaicfocus.{name}"]
        tree = ast.parse(init.read_text())
        docstring = ast.get_docstring(tree)
        assert docstring and "takes" in docstring.lower() and "gives" in docstring.lower(), (
            f"{init}: its docstring should say what the stage takes and gives"
        )
        assert len(tree.body) == 1, f"{init} should hold its docstring only (import from the modules)"
