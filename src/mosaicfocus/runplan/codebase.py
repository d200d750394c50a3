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
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

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


@dataclass
class Codebase:
    """The package under ``src`` (``src/mosaicfocus``) and the rule scripts, read once."""

    src: Path
    _trees: dict = field(default_factory=dict, repr=False)

    @cached_property
    def modules(self) -> dict[str, Path]:
        """Every module of the package by dotted name (a package by its ``__init__.py``)."""
        found = {}
        for path in sorted((Path(self.src) / PACKAGE).rglob("*.py")):
            parts = path.relative_to(self.src).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
        return found

    def _tree(self, path: Path) -> ast.Module:
        if path not in self._trees:
            self._trees[path] = ast.parse(path.read_text(), filename=str(path))
        return self._trees[path]

    def imports(self, module: str) -> set[str]:
        """The package modules that importing ``module`` runs directly: the ones it names,
        and the packages above each (importing ``a.b.c`` runs ``a`` and ``a.b`` first)."""
        path = self.modules[module]
        return self._package_modules(imported_names(self._tree(path), module, path.name == "__init__.py"))

    def _package_modules(self, names: set[str]) -> set[str]:
        found = set()
        for name in names:
            parts = name.split(".")
            found |= {".".join(parts[:i]) for i in range(1, len(parts) + 1)} & self.modules.keys()
        return found

    def closure(self, script: Path) -> set[str]:
        """Every package module that running ``script`` imports, directly or not."""
        todo = self._package_modules(imported_names(self._tree(Path(script)), None, False))
        seen: set[str] = set()
        while todo:
            module = todo.pop()
            if module not in seen:
                seen.add(module)
                todo |= self.imports(module) - seen
        return seen

    def _data_files(self, module: str) -> list[Path]:
        """Sibling files (not Python) whose names are string constants in ``module``."""
        path = self.modules[module]
        strings = {
            node.value
            for node in ast.walk(self._tree(path))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)
        }
        return sorted(p for p in path.parent.iterdir() if p.suffix != ".py" and p.name in strings and p.is_file())

    def _module_digest(self, module: str) -> str:
        digest = hashlib.sha256(canonical(self._tree(self.modules[module])).encode())
        for data in self._data_files(module):
            digest.update(data.name.encode() + b"\0" + data.read_bytes())
        return digest.hexdigest()

    def digest(self, script: Path) -> str:
        """sha256 of ``script`` and every package module it runs, each as its syntax tree."""
        digest = hashlib.sha256(b"script\0" + canonical(self._tree(Path(script))).encode())
        for module in sorted(self.closure(script)):
            digest.update(f"\0{module}\0{self._module_digest(module)}".encode())
        return digest.hexdigest()
