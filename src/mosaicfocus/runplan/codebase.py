"""The workflow's own code, read statically: which modules a rule's script runs, and their digest.

A job's result depends on the package code its script imports, directly or
through other modules, at any depth and from inside functions too. The
``Codebase`` finds that closure from the modules' own import statements (no
import is executed: the Snakefile parses without torch) and digests it with
each module reduced to its syntax tree: comments, docstrings, blank lines,
quotes and line breaks do not count, a change of what the code does does.
Package data a module names (a sibling file whose name is a string in it, such
as the published tables' CSVs) count with the module.

The digest goes into every job's params (``code``), so Snakemake's params
trigger reruns exactly the jobs whose code changed, and their downstream.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from mosaicfocus.provenance import CODE_ORIGIN_VARIABLE

PACKAGE = "mosaicfocus"


def _without_docstring(body: list[ast.stmt]) -> list[ast.stmt]:
    first = body[0] if body else None
    if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
        return body[1:]
    return body


def canonical(node) -> str:
    """A syntax tree written out without positions, docstrings or empty fields.

    Not ``ast.dump``: its output changes between Python versions for the same
    code (3.12 added ``type_params``, 3.13 leaves out empty fields); this keeps
    only fields that hold something, so unchanged code digests alike on 3.10-3.13.
    """
    if isinstance(node, ast.AST):
        parts = []
        for name, value in ast.iter_fields(node):
            if name == "body" and isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                value = _without_docstring(value)
            if value is None or value == []:
                continue
            if isinstance(node, ast.Constant) and name == "kind":
                continue
            parts.append(f"{name}={canonical(value)}")
        return f"{type(node).__name__}({', '.join(parts)})"
    if isinstance(node, list):
        return "[" + ", ".join(canonical(item) for item in node) + "]"
    return repr(node)


def imported_names(tree: ast.AST, module: str | None, is_package: bool) -> set[str]:
    """Dotted names a module's import statements name (relative ones resolved), and for
    ``from X import a`` both ``X`` and ``X.a`` (``a`` may be a submodule or a name in ``X``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                if module is None:
                    continue
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join(base + ([node.module] if node.module else []))
            else:
                origin = node.module
            names.add(origin)
            names |= {f"{origin}.{alias.name}" for alias in node.names}
    return names


# Bump when the summary of a file changes meaning (canonical form, import resolution).
SUMMARY_FORMAT = 1


def summarize(source: bytes, module: str | None, is_package: bool, sibling_files: list[str]) -> dict:
    """What the digest needs of one file: its syntax tree's sha256, the names it imports, and
    which of ``sibling_files`` (non-Python files beside it) it names in a string."""
    tree = ast.parse(source)
    strings = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return {
        "syntax": hashlib.sha256(canonical(tree).encode()).hexdigest(),
        "imports": sorted(imported_names(tree, module, is_package)),
        "data": sorted(name for name in sibling_files if name in strings),
    }


class SummaryCache:
    """File summaries by content, kept between invocations (parsing the package costs about
    0.2-0.5 s; a no-op ``snakemake -n`` should not). The key is the file's bytes, its module
    name and its siblings, so a stale entry cannot be hit; a cache that cannot be read or
    written is only slower."""

    def __init__(self, path: Path | None):
        self.path, self.changed = path, False
        try:
            self.entries = json.loads(path.read_text()) if path else {}
        except (OSError, ValueError):
            self.entries = {}

    def summary(self, source: bytes, module: str | None, is_package: bool, siblings: list[str]) -> dict:
        key = hashlib.sha256(
            json.dumps([SUMMARY_FORMAT, module, is_package, siblings]).encode() + b"\0" + source
        ).hexdigest()
        if key not in self.entries:
            self.entries[key] = summarize(source, module, is_package, siblings)
            self.changed = True
        return self.entries[key]

    def save(self, keep: int = 4000) -> None:
        if not (self.path and self.changed):
            return
        entries = dict(list(self.entries.items())[-keep:])
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            staging = self.path.with_name(f".{self.path.name}.{os.getpid()}")
            staging.write_text(json.dumps(entries))
            staging.replace(self.path)
        except OSError:
            pass


def default_cache_path() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(root) / PACKAGE / "code-summaries.json"


@dataclass
class Codebase:
    """The package under ``src`` (``src/mosaicfocus``) and the rule scripts, read statically."""

    src: Path
    cache: SummaryCache = field(default_factory=lambda: SummaryCache(None), repr=False)
    _summaries: dict = field(default_factory=dict, repr=False)
    _siblings: dict = field(default_factory=dict, repr=False)
    _module_digests: dict = field(default_factory=dict, repr=False)

    @cached_property
    def modules(self) -> dict[str, Path]:
        """Every module of the package by dotted name (a package by its ``__init__.py``)."""
        found = {}
        for path in sorted((Path(self.src) / PACKAGE).rglob("*.py")):
            parts = path.relative_to(self.src).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
        return found

    def _summary(self, path: Path, module: str | None) -> dict:
        if path not in self._summaries:
            folder = path.parent
            if folder not in self._siblings:  # listed once per folder, not once per module in it
                self._siblings[folder] = sorted(
                    p.name for p in folder.iterdir() if p.suffix not in (".py", ".pyc") and p.is_file()
                )
            self._summaries[path] = self.cache.summary(
                path.read_bytes(), module, path.name == "__init__.py" and module is not None, self._siblings[folder]
            )
        return self._summaries[path]

    def imports(self, module: str) -> set[str]:
        """The package modules that importing ``module`` runs directly: the ones it names,
        and the packages above each (importing ``a.b.c`` runs ``a`` and ``a.b`` first)."""
        return self._package_modules(set(self._summary(self.modules[module], module)["imports"]))

    def _package_modules(self, names: set[str]) -> set[str]:
        found = set()
        for name in names:
            parts = name.split(".")
            found |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & self.modules.keys()
        return found

    def closure(self, script: Path) -> set[str]:
        """Every package module that running ``script`` imports, directly or not."""
        todo = self._package_modules(set(self._summary(Path(script), None)["imports"]))
        seen: set[str] = set()
        while todo:
            module = todo.pop()
            if module not in seen:
                seen.add(module)
                todo |= self.imports(module) - seen
        return seen

    def _module_digest(self, module: str) -> str:
        """A module's syntax and the data it names; worked out once however many scripts import it."""
        if module not in self._module_digests:
            path = self.modules[module]
            summary = self._summary(path, module)
            digest = hashlib.sha256(summary["syntax"].encode())
            for name in summary["data"]:
                digest.update(b"\0" + name.encode() + b"\0" + (path.parent / name).read_bytes())
            self._module_digests[module] = digest.hexdigest()
        return self._module_digests[module]

    def digest(self, script: Path) -> str:
        """sha256 of ``script`` and every package module it runs, each as its syntax tree."""
        digest = hashlib.sha256(b"script\0" + self._summary(Path(script), None)["syntax"].encode())
        for module in sorted(self.closure(script)):
            digest.update(f"\0{module}\0{self._module_digest(module)}".encode())
        return digest.hexdigest()


# The environment variables through which an invocation hands its frozen code to the jobs
# it starts (their own Snakemake, on a cluster node, parses the workflow again).
FROZEN_CODE_VARIABLE = "MOSAICFOCUS_FROZEN_CODE"


def _code_files(checkout: Path) -> list[tuple[str, Path]]:
    """The files a job runs, by their path in a frozen copy: the package (with its data) and the rule scripts."""
    package = Path(checkout) / "src" / PACKAGE
    files = [
        (str(Path("src") / path.relative_to(package.parent)), path)
        for path in sorted(package.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    ]
    scripts = Path(checkout) / "workflow" / "scripts"
    return files + [(f"scripts/{path.name}", path) for path in sorted(scripts.glob("*.py"))]


def freeze(checkout: Path, into: Path) -> Path:
    """A read-only copy of the checkout's package and rule scripts under ``into``, named by
    their content; the same code gives the same folder, made once.

    Jobs run the frozen copy, never the checkout: an edit made while a run is in flight
    (jobs queued on a cluster, or waiting locally) changes nothing they do, and the next
    invocation freezes the edited code and reruns what it changed.
    """
    files = _code_files(checkout)
    digest = hashlib.sha256()
    for name, path in files:
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    target = Path(into) / digest.hexdigest()[:16]
    if target.is_dir():
        return target
    staging = Path(into) / f".{target.name}.{os.getpid()}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    for name, path in files:
        copy = staging / name
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, copy)  # the scripts keep their times: Snakemake's own code trigger reads them
        copy.chmod(0o444)
    try:
        staging.rename(target)
    except OSError:  # another invocation froze the same code first
        shutil.rmtree(staging, ignore_errors=True)
    return target


def code_origin(checkout: Path) -> dict:
    """The git commit of ``checkout`` and whether its code (src/, workflow/, Snakefile) differs
    from it; both None outside a git checkout."""

    def git(*args):
        return subprocess.run(["git", "-C", str(checkout), *args], capture_output=True, text=True, timeout=30)

    try:
        head = git("rev-parse", "HEAD")
        if head.returncode != 0:
            return {"commit": None, "dirty": None}
        status = git("status", "--porcelain", "--", "src", "workflow", "Snakefile")
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}
    return {"commit": head.stdout.strip(), "dirty": bool(status.stdout.strip())}


@dataclass
class FrozenCode:
    """The code of one invocation: the frozen folder its jobs run, and each script's digest."""

    root: Path
    origin: dict

    @cached_property
    def codebase(self) -> Codebase:
        return Codebase(self.root / "src", SummaryCache(default_cache_path()))

    @cached_property
    def digests(self) -> dict[str, str]:
        """Every rule script's digest, worked out once (and the cache saved)."""
        found = {path.name: self.codebase.digest(path) for path in sorted((self.root / "scripts").glob("*.py"))}
        self.codebase.cache.save()
        return found

    def script(self, name: str) -> str:
        """The path of rule script ``name`` in the frozen copy (a rule's ``script:``)."""
        return str(self.root / "scripts" / name)

    def digest(self, name: str) -> str:
        """The digest of rule script ``name`` and the package code it runs (a rule's ``params.code``)."""
        return self.digests[name]

    def environment(self) -> dict[str, str]:
        """What the jobs of this invocation inherit to run this same code."""
        return {FROZEN_CODE_VARIABLE: str(self.root), CODE_ORIGIN_VARIABLE: json.dumps(self.origin)}


def frozen_code(checkout: Path, into: Path, job_of_another_invocation: bool) -> FrozenCode:
    """This invocation's code. A job started by another invocation (Snakemake parsing again on
    a cluster node) takes the code that invocation froze, named in its environment; any other
    invocation freezes the checkout as it is now."""
    inherited = os.environ.get(FROZEN_CODE_VARIABLE)
    if job_of_another_invocation and inherited:
        return FrozenCode(Path(inherited), json.loads(os.environ.get(CODE_ORIGIN_VARIABLE) or "{}"))
    return FrozenCode(freeze(checkout, into), code_origin(checkout))


def records_without_code(results: Path) -> bool:
    """Whether ``results`` holds a model record made before records named their code (a
    look at the first models of the plain layout and of a sweep's first point, not a scan)."""
    candidates = [
        Path(results, "models", "model_1.json"),
        *sorted(Path(results).glob("sweep/*/models/model_1.json"))[:1],
    ]
    for path in candidates:
        try:
            if "code" not in json.loads(path.read_text()).get("meta", {}):
                return True
        except (OSError, ValueError):
            continue
    return False
