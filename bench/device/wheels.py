"""The wheels that travel to the device machine, and the check that none is missing.

The device machine runs Python 3.12 with torch and the packages of
``machine-packages.txt``, but has no Snakemake and no network. Everything the
workflow needs beyond that travels as wheels, one version of each, installed
there with ``pip install --no-deps`` (pip's ``--target`` would otherwise ignore
the machine's own packages and ask for all of them). Without pip's resolver
there, the check is ours: every ``Requires-Dist`` of every carried wheel,
evaluated for CPython 3.12 on Linux x86-64 without extras, must be met by a
carried wheel or by a package of the machine (``bundle_problems``, before
anything travels); there, the same requirements are checked against what
Python then sees (``environment_problems``).

Standard library and ``packaging`` only: the runner imports this on the device
before anything is installed (``packaging`` is one of the machine's packages).
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from email.parser import Parser
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

HERE = Path(__file__).resolve().parent
MACHINE_LIST = HERE / "machine-packages.txt"

# The device machine's interpreter, as pip's environment markers see it.
DEVICE_MARKERS = {
    "python_version": "3.12",
    "python_full_version": "3.12.3",
    "implementation_name": "cpython",
    "implementation_version": "3.12.3",
    "platform_python_implementation": "CPython",
    "os_name": "posix",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "platform_release": "",
    "platform_version": "",
    "extra": "",
}

# What the workflow needs that the machine lacks (requirements.txt pins them): Snakemake and
# jsonschema (the config check). The SLURM executor plugins stay behind: one machine runs
# jobs locally, and Snakemake imports every installed executor plugin when it starts.
ROOTS = ("snakemake", "jsonschema")

# Machine packages carried all the same: a carried wheel asks for a range the machine's copy
# (version not published) may miss, and a miss would show only when it broke an import there.
ALSO_CARRY = {
    "packaging": "snakemake and snakemake-interface-common ask for packaging<26",
    "typing-extensions": "pydantic (sqlmodel's, which snakemake needs) asks for typing-extensions>=4.16",
}


def canonical(name: str) -> str:
    """A distribution's name as pip compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def machine_packages(path: Path = MACHINE_LIST) -> dict[str, Version | None]:
    """The machine's packages: name -> version where it is known, else None."""
    packages: dict[str, Version | None] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, _, version = line.partition("==")
            packages[canonical(name)] = Version(version) if version else None
    return packages


def without_marker(requirement: Requirement) -> str:
    """``name[extras]specifier``: the requirement as it applies, its marker already evaluated."""
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    return f"{requirement.name}{extras}{requirement.specifier}"


def device_requirements(requires: Iterable[str]) -> list[Requirement]:
    """The requirements that apply on the device machine (markers evaluated there, no extras)."""
    found = []
    for text in requires:
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate(DEVICE_MARKERS):
            found.append(requirement)
    return found


@dataclass
class Wheel:
    """A distribution's name, version and Requires-Dist (from a wheel's METADATA, or installed)."""

    name: str
    version: Version
    requires: list[str] = field(default_factory=list)
    file: str = ""

    @property
    def key(self) -> str:
        return canonical(self.name)


def parse_metadata(text: str, file: str = "") -> Wheel:
    message = Parser().parsestr(text, headersonly=True)
    return Wheel(message["Name"], Version(message["Version"]), message.get_all("Requires-Dist") or [], file)


def read_wheel(path: Path) -> Wheel:
    """The METADATA of a .whl file (its ``*.dist-info/METADATA``)."""
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if n.count("/") == 1 and n.endswith(".dist-info/METADATA")]
        if len(names) != 1:
            raise ValueError(f"{path.name}: expected one .dist-info/METADATA, found {names}")
        return parse_metadata(archive.read(names[0]).decode("utf-8"), path.name)


def read_wheels(folder: Path) -> list[Wheel]:
    return [read_wheel(path) for path in sorted(Path(folder).glob("*.whl"))]


def carried_closure(
    installed: Callable[[str], Wheel | None],
    machine: dict[str, Version | None],
    roots: Iterable[str] = ROOTS,
    also_carry: Iterable[str] = ALSO_CARRY,
) -> tuple[dict[str, Wheel], list[str]]:
    """What must travel: ``roots`` and, through their device requirements, every distribution
    the machine lacks (plus ``also_carry``), at the versions ``installed`` (the project's own,
    resolved environment) holds. Returns (carried by name, requirements nothing here meets)."""
    also = {canonical(name) for name in also_carry}
    carried: dict[str, Wheel] = {}
    unresolved: list[str] = []
    todo = [(canonical(name), f"{name} (root)") for name in roots]
    while todo:
        name, wanted_by = todo.pop()
        if name in carried or (name in machine and name not in also):
            continue
        wheel = installed(name)
        if wheel is None:
            unresolved.append(f"{name}, required by {wanted_by}, is installed neither here nor on the machine")
            continue
        carried[name] = wheel
        todo += [(canonical(r.name), f"{wheel.name} {wheel.version}") for r in device_requirements(wheel.requires)]
    return carried, unresolved


def bundle_problems(wheels: list[Wheel], machine: dict[str, Version | None]) -> list[str]:
    """Why these wheels, installed with --no-deps on the machine, would leave a requirement unmet:
    two versions of one distribution; a requirement neither a wheel nor the machine has (named);
    a version outside a requirement's range (a carried one, or the machine's where it is known)."""
    problems = []
    bundled: dict[str, Wheel] = {}
    for wheel in wheels:
        if wheel.key in bundled:
            problems.append(f"two versions of {wheel.name}: {bundled[wheel.key].version} and {wheel.version}")
        bundled[wheel.key] = wheel
    for wheel in wheels:
        for requirement in device_requirements(wheel.requires):
            name = canonical(requirement.name)
            needed_by = f"{wheel.name} {wheel.version} requires {without_marker(requirement)}"
            if name in bundled:
                have = bundled[name].version
                if not requirement.specifier.contains(have, prereleases=True):
                    problems.append(f"{needed_by}, but the bundle carries {have}")
            elif name in machine:
                have = machine[name]
                if have is not None and not requirement.specifier.contains(have, prereleases=True):
                    problems.append(f"{needed_by}, but the machine has {have}")
            else:
                problems.append(f"missing: {requirement.name} ({needed_by})")
    return problems


def environment_problems(wheels: list[Wheel], version_of: Callable[[str], str | None]) -> list[str]:
    """On the machine, after the install: every device requirement of the carried wheels against
    the version Python finds (``version_of(name)``, None when none is installed)."""
    problems = []
    for wheel in wheels:
        for requirement in device_requirements(wheel.requires):
            have, needed = version_of(requirement.name), without_marker(requirement)
            if have is None:
                problems.append(f"missing: {requirement.name} ({wheel.name} {wheel.version} requires {needed})")
            elif not requirement.specifier.contains(Version(have), prereleases=True):
                problems.append(f"{wheel.name} {wheel.version} requires {needed}, Python finds {have}")
    return problems
