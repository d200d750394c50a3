"""The workflow stays lint-clean and snakefmt-formatted, as the Snakemake template asks, and the
Python passes ruff (check and format, configured in pyproject.toml)."""

import subprocess
import sys

from conftest import REPO, TINY_CONFIG


def test_snakemake_lint_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--configfile", str(TINY_CONFIG)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations, your workflow is in a good condition!" in result.stdout + result.stderr


def test_rules_are_snakefmt_formatted():
    rules = sorted(str(p) for p in (REPO / "workflow" / "rules").glob("*.smk"))
    result = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "Snakefile", *rules],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _ruff(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ruff", *args], cwd=REPO, capture_output=True, text=True)


def test_python_passes_ruff_check():
    result = _ruff("check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr


def test_python_is_ruff_formatted():
    result = _ruff("format", "--check", "--no-cache", ".")
    assert result.returncode == 0, result.stdout + result.stderr
