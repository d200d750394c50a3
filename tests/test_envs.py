"""The conda environments (envs/*.yaml) pin what requirements.txt pins.

``make install`` takes the pip path (requirements.txt); ``--software-deployment-method
conda`` builds envs/*.yaml. Both must give a rule the same versions.
"""

import re

import pytest
import yaml
from conftest import REPO

ENV_FILES = sorted((REPO / "envs").glob("*.yaml"))
# Interpreter and installer: conda pins them, requirements.txt cannot.
NOT_IN_REQUIREMENTS = {"python", "pip"}
PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(==|=)?\s*([^\s=<>!~,;#]*)\s*$")


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_spec(line: str, where: str) -> tuple[str, str | None]:
    """``name==1.2`` (pip) or ``name=1.2`` (conda) -> (normalised name, version); no version -> None."""
    spec = line.split("#", 1)[0].strip()
    match = PIN.match(spec)
    assert match, f"{where}: cannot read {line!r} as 'name==version' (pip) or 'name=version' (conda)"
    name, operator, version = match.groups()
    if operator is None:
        return normalise(name), None
    assert version, f"{where}: {line!r} has no version after {operator!r}"
    return normalise(name), version


def requirements() -> dict[str, str]:
    pins = {}
    for line in (REPO / "requirements.txt").read_text().splitlines():
        if not line.split("#", 1)[0].strip():
            continue
        name, version = parse_spec(line, "requirements.txt")
        assert version is not None, f"requirements.txt: {line!r} is not pinned with =="
        assert name not in pins, f"requirements.txt: {name} is listed twice"
        pins[name] = version
    return pins


def env_dependencies(path) -> dict[str, str | None]:
    """Every conda and pip dependency of a conda env file, name -> pinned version (or None)."""
    env = yaml.safe_load(path.read_text())
    found: dict[str, str | None] = {}

    def add(line: str, kind: str) -> None:
        name, version = parse_spec(str(line), f"{path.name} ({kind})")
        assert name not in found, f"{path.name}: {name} is listed twice"
        found[name] = version

    for entry in env.get("dependencies") or []:
        if isinstance(entry, dict):
            assert set(entry) == {"pip"}, f"{path.name}: unexpected dependency section {sorted(entry)}"
            for line in entry["pip"]:
                add(line, "pip")
        else:
            add(entry, "conda")
    return found


def test_requirements_pin_the_test_tools():
    pins = requirements()
    for tool in ("pytest", "snakefmt", "ruff"):
        assert tool in pins, f"requirements.txt does not pin {tool}"


def test_there_are_env_files():
    assert {path.name for path in ENV_FILES} >= {"torch.yaml", "report.yaml"}


@pytest.mark.parametrize("path", ENV_FILES, ids=[path.name for path in ENV_FILES])
def test_env_pins_equal_requirements(path):
    pins = requirements()
    problems = []
    for name, version in env_dependencies(path).items():
        if name == "pip":
            continue
        if version is None:
            problems.append(f"{name} is not pinned (requirements.txt has {pins.get(name, 'no pin')})")
        elif name in NOT_IN_REQUIREMENTS:
            continue
        elif name not in pins:
            problems.append(f"{name}=={version} is pinned here but not in requirements.txt")
        elif version != pins[name]:
            problems.append(f"{name}=={version} here, but requirements.txt pins {name}=={pins[name]}")
    assert not problems, f"envs/{path.name}: " + "; ".join(problems)


def test_torch_env_carries_torch_and_torchvision():
    found = env_dependencies(REPO / "envs" / "torch.yaml")
    assert {"torch", "torchvision"} <= set(found), sorted(found)


def test_report_env_has_the_plotting_stack_and_no_torch():
    found = env_dependencies(REPO / "envs" / "report.yaml")
    assert {"pandas", "numpy", "matplotlib", "seaborn"} <= set(found), sorted(found)
    assert not {"torch", "torchvision"} & set(found), "the report rules must run without torch"
