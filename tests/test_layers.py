"""The layers of the house (docs/rtl.md, "Layers"): an import runs only downwards.

    golden  <  chip  <  rtl  <  boards          (the circuit; Amaranth from rtl/ up)
    golden  <  chip  <  host                    (the host: never Amaranth, never rtl/)

``host/cli.py`` sits on top of both (its ``build`` subcommand reaches boards/ when it runs) and
``host/simboard.py`` compiles the RTL into a simulated board when it runs: both import upwards
only inside the function that needs it, never when their module is imported.
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: folder -> the plasticore packages (and third-party roots) its modules may import at top level
ALLOWED = {
    "golden": {"golden"},
    "chip": {"golden", "chip"},
    "rtl": {"golden", "chip", "rtl"},
    "boards": {"golden", "chip", "rtl", "boards"},
    "host": {"golden", "chip", "host"},
}
#: the folders mapped onto plasticore.* (``plasticore/`` itself, the version and the API, sits on
#: top and imports nothing when imported)
PACKAGES = {"golden", "chip", "rtl", "host", "boards", "baselines"}
#: (file, package) imports inside a function, on purpose: what the function builds or runs
LAZY_UPWARDS = {
    ("host/cli.py", "boards"),        # `plasticore build`
    ("host/simboard.py", "rtl"),      # Verilog of the RTL for the simulated board
}


def _imports(path: Path):
    """``(plasticore package, top level?)`` of every import of ``plasticore.*`` in ``path``;
    relative imports stay in their own package."""
    tree = ast.parse(path.read_text())
    top = {id(node) for node in tree.body}
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "plasticore" and len(parts) > 1 and parts[1] in PACKAGES:
                found.add((parts[1], id(node) in top))
            elif parts[0] in ("amaranth", "amaranth_boards"):
                found.add(("amaranth", id(node) in top))
    return sorted(found)


@pytest.mark.parametrize("folder", sorted(ALLOWED))
def test_imports_run_downwards(folder):
    wrong = []
    for path in sorted((ROOT / folder).glob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        for package, at_top in _imports(path):
            allowed = ALLOWED[folder] | ({"amaranth"} if folder in ("rtl", "boards") else set())
            if package in allowed or (not at_top and (rel, package) in LAZY_UPWARDS):
                continue
            if package == "amaranth" and (rel, "rtl") in LAZY_UPWARDS and not at_top:
                continue
            wrong.append(f"{rel} imports {package}{'' if at_top else ' (in a function)'}")
    assert not wrong, wrong


BLOCK_AMARANTH = """
import importlib.abc, sys
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("amaranth", "amaranth_boards") or name.startswith(
                ("plasticore.rtl", "plasticore.boards")):
            raise ImportError(f"the host imported {name}")
        return None
sys.meta_path.insert(0, Refuse())
import plasticore.host.board, plasticore.host.emulator, plasticore.host.cli
import plasticore.host.training, plasticore.host.checkpoint, plasticore.host.simboard
import plasticore.chip.protocol, plasticore.chip.memmap, plasticore.chip.cycles
import plasticore.chip.golden_view, plasticore.golden.resolve
from plasticore.host.board import GoldenBoard
from plasticore.golden.config import Config
board = GoldenBoard(Config(layers=(4, 3, 2)))
board.identify()
assert board.read(plasticore.chip.memmap.Mem.WEIGHT, 0, 2)
print("no amaranth")
"""


def test_the_host_talks_to_a_board_without_amaranth():
    out = subprocess.run([sys.executable, "-c", BLOCK_AMARANTH], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "no amaranth"


def _module_of(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def _module_imports(path: Path) -> set[str]:
    """The modules of this house that ``path`` imports, at top level or in a function
    (``plasticore.host.board`` and ``.board`` in host/ are both ``host.board``)."""
    package = path.parent.name
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package + (f".{node.module}" if node.module else "")
            elif node.module and node.module.startswith("plasticore."):
                base = node.module.removeprefix("plasticore.")
            else:
                continue
            candidates = [base] + [f"{base}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            candidates = [a.name.removeprefix("plasticore.") for a in node.names
                          if a.name.startswith("plasticore.")]
        else:
            continue
        found |= {name for name in candidates if (ROOT / f"{name.replace('.', '/')}.py").exists()}
    return found


def test_no_import_circle():
    graph = {_module_of(path): _module_imports(path) - {_module_of(path)}
             for folder in PACKAGES for path in sorted((ROOT / folder).glob("*.py"))}
    circles, done = [], set()

    def visit(module, trail):
        if module in trail:
            circles.append(" -> ".join(trail[trail.index(module):] + [module]))
            return
        if module in done:
            return
        for imported in sorted(graph.get(module, ())):
            visit(imported, trail + [module])
        done.add(module)

    for module in sorted(graph):
        visit(module, [])
    assert not circles, circles
