"""The report, study and sweep rules, and the Snakefile's parse time, import no torch.

envs/report.yaml has no torch, and the Snakefile must parse in well under a
second. Each module is imported in a fresh interpreter where importing torch
raises; a failure names the module that pulled torch in and the import chain.
"""

import ast
import json
import subprocess
import sys

import pytest
from conftest import REPO

from mosaicfocus.runplan.codebase import Codebase

CODE = Codebase(REPO / "src")
# What workflow/scripts/report.py, study.py, attention_report.py and sweep.py use (directly or
# through each other): the whole reporting stage, and these of the others.
RULE_SCRIPT_MODULES = [
    *(m for m in CODE.modules if m.startswith("mosaicfocus.reporting")),
    "mosaicfocus.what_network",
    "mosaicfocus.what_network.health",
    "mosaicfocus.what_network.losstable",
    "mosaicfocus.where_network",
    "mosaicfocus.where_network.report",
    "mosaicfocus.where_network.tables",
    "mosaicfocus.data",
    "mosaicfocus.data.design",
    "mosaicfocus.files",
    "mosaicfocus.provenance",
]
# Imported by the Snakefile while it parses: the whole run plan.
PARSE_TIME_MODULES = [m for m in CODE.modules if m.startswith("mosaicfocus.runplan")]
TORCH_FREE = RULE_SCRIPT_MODULES + PARSE_TIME_MODULES
TORCH_FREE_SCRIPTS = ["report.py", "study.py", "attention_report.py", "sweep.py"]

# Runs in a fresh interpreter: argv[1] is the source folder, argv[2] the module.
# Any attempt to import torch (even one the importer would catch) is recorded
# with the chain of modules being executed at that moment, and refused.
PROBE = r"""
import importlib, json, sys

sys.path.insert(0, sys.argv[1])
attempts = []


class BlockTorch:
    def find_spec(self, name, path=None, target=None):
        if name != "torch" and not name.startswith("torch."):
            return None
        chain, frame = [], sys._getframe(1)
        while frame is not None:
            if frame.f_code.co_name == "<module>":
                chain.append(frame.f_globals.get("__name__", "?"))
            frame = frame.f_back
        chain.reverse()
        importer = next((m for m in reversed(chain) if m.startswith("mosaicfocus")), chain[-1] if chain else "?")
        attempts.append({"torch": name, "importer": importer, "chain": chain})
        raise ImportError(f"torch is blocked in this test ({name} imported by {importer})")


sys.meta_path.insert(0, BlockTorch())
error = None
try:
    importlib.import_module(sys.argv[2])
except BaseException as exc:
    error = f"{type(exc).__name__}: {exc}"
loaded = sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))
print(json.dumps({"attempts": attempts, "error": error, "loaded": loaded}))
"""


@pytest.mark.parametrize("module", TORCH_FREE)
def test_module_imports_without_torch(module):
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(REPO / "src"), module],
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if report["attempts"]:
        first = report["attempts"][0]
        pytest.fail(
            f"{module} must not import torch, but {first['importer']} imports {first['torch']} "
            f"(import chain: {' -> '.join(first['chain'][1:] or first['chain'])}); "
            f"move the torch import into the job that needs it, or keep that module out of {module}'s imports."
        )
    assert report["error"] is None, f"{module} does not import without torch: {report['error']}"
    assert report["loaded"] == [], f"{module} left torch modules loaded: {report['loaded']}"


def mosaicfocus_imports(script) -> set[str]:
    """Every ``mosaicfocus.X`` a script imports: ``from mosaicfocus.X import ...`` or ``import mosaicfocus.X``."""
    found = set()
    for node in ast.walk(ast.parse(script.read_text(), filename=str(script))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "mosaicfocus":
                found |= {f"mosaicfocus.{alias.name}" for alias in node.names}
            elif node.module.startswith("mosaicfocus."):
                found.add(node.module)
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("mosaicfocus.")}
    return found


@pytest.mark.parametrize("name", TORCH_FREE_SCRIPTS)
def test_report_scripts_import_only_torch_free_modules(name):
    script = REPO / "workflow" / "scripts" / name
    imported = mosaicfocus_imports(script)
    assert imported, f"workflow/scripts/{name} imports no mosaicfocus module; is the parser still right?"
    unchecked = sorted(imported - set(TORCH_FREE))
    assert not unchecked, (
        f"workflow/scripts/{name} imports {unchecked}, which this test does not check for torch; "
        f"the report env has no torch: add them to RULE_SCRIPT_MODULES if they are torch-free"
    )
