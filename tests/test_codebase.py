"""The code digest (mosaicfocus.runplan.codebase): what counts as code, what a script runs,
the frozen copy the jobs run, and every rule carrying the digest of the script it runs."""

import json
import os
import re
import stat

import pytest
from conftest import REPO

from mosaicfocus.provenance import CODE_ORIGIN_VARIABLE, code_lineage, code_record
from mosaicfocus.runplan.codebase import (
    FROZEN_CODE_VARIABLE,
    Codebase,
    SummaryCache,
    canonical,
    freeze,
    frozen_code,
    records_without_code,
)

MODULE = '''"""A module."""

import math

from pkg.sub import helper


def area(r):
    """The area."""
    return math.pi * r**2  # pi r squared
'''


def write_package(root, files: dict[str, str]):
    for name, text in files.items():
        path = root / "src" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "src"


def test_comments_docstrings_and_layout_do_not_count_but_code_does():
    import ast

    same = [
        MODULE,
        MODULE.replace('"""The area."""', '"""Another docstring\n\n    on two lines."""'),
        MODULE.replace("  # pi r squared", "").replace("\nimport math\n", "\n# maths\nimport math\n"),
        MODULE.replace("return math.pi * r**2", "return (\n        math.pi\n        * r**2\n    )"),
        MODULE.replace('"""A module."""\n', "").replace("'", '"'),
    ]
    assert len({canonical(ast.parse(text)) for text in same}) == 1
    changed = [
        MODULE.replace("r**2", "r**3"),
        MODULE.replace("math.pi", "3.14159"),
        MODULE.replace("def area(r)", "def area(radius)").replace("* r**2", "* radius**2"),
        MODULE + "\nUNIT = 'cm'\n",
    ]
    digests = {canonical(ast.parse(text)) for text in [MODULE, *changed]}
    assert len(digests) == 1 + len(changed)


def test_a_script_runs_what_it_imports_at_any_depth_and_inside_functions(tmp_path):
    src = write_package(
        tmp_path / "checkout",
        {
            "mosaicfocus/__init__.py": '"""Root."""',
            "mosaicfocus/a/__init__.py": "",
            "mosaicfocus/a/one.py": "from mosaicfocus.a.two import f\n",
            "mosaicfocus/a/two.py": "def f():\n    from . import three\n    return three\n",
            "mosaicfocus/a/three.py": "from ..b import four\n",
            "mosaicfocus/b/__init__.py": "",
            "mosaicfocus/b/four.py": "X = 4\n",
            "mosaicfocus/b/unused.py": "Y = 5\n",
        },
    )
    script = tmp_path / "script.py"
    script.write_text("import os\nfrom mosaicfocus.a import one\n")
    code = Codebase(src)
    assert code.closure(script) == {
        "mosaicfocus",
        "mosaicfocus.a",
        "mosaicfocus.a.one",
        "mosaicfocus.a.two",
        "mosaicfocus.a.three",
        "mosaicfocus.b",
        "mosaicfocus.b.four",
    }
    before = code.digest(script)
    (src / "mosaicfocus" / "b" / "unused.py").write_text("Y = 6\n")
    assert Codebase(src).digest(script) == before, "a module the script never imports does not count"
    (src / "mosaicfocus" / "b" / "four.py").write_text("X = 44\n")
    assert Codebase(src).digest(script) != before, "a module imported three levels down counts"


def test_package_data_a_module_names_counts_with_it(tmp_path):
    src = write_package(
        tmp_path / "checkout",
        {
            "mosaicfocus/__init__.py": "",
            "mosaicfocus/tables.py": "NAME = 'table.csv'\n",
            "mosaicfocus/table.csv": "1,2\n",
            "mosaicfocus/notes.txt": "not named\n",
        },
    )
    script = tmp_path / "script.py"
    script.write_text("from mosaicfocus.tables import NAME\n")
    before = Codebase(src).digest(script)
    (src / "mosaicfocus" / "notes.txt").write_text("changed, but no module names it\n")
    assert Codebase(src).digest(script) == before
    (src / "mosaicfocus" / "table.csv").write_text("1,3\n")
    assert Codebase(src).digest(script) != before


def test_the_published_tables_are_part_of_the_study_code(tmp_path):
    code = Codebase(REPO / "src")
    study = REPO / "workflow" / "scripts" / "study.py"
    assert "mosaicfocus.reporting.published" in code.closure(study)
    summary = code._summary(code.modules["mosaicfocus.reporting.published"], "mosaicfocus.reporting.published")
    assert summary["data"] == ["published_accuracy_cnn_net_10k.csv", "published_accuracy_exp4.csv"]


def test_the_summary_cache_returns_what_parsing_would_and_cannot_go_stale(tmp_path):
    src = write_package(tmp_path / "checkout", {"mosaicfocus/__init__.py": "", "mosaicfocus/m.py": "X = 1\n"})
    script = tmp_path / "script.py"
    script.write_text("from mosaicfocus import m\n")
    cache_file = tmp_path / "cache" / "summaries.json"
    cold = Codebase(src, SummaryCache(cache_file))
    digest = cold.digest(script)
    cold.cache.save()
    warm = Codebase(src, SummaryCache(cache_file))
    assert warm.digest(script) == digest == Codebase(src).digest(script)
    assert not warm.cache.changed, "every summary came from the cache"
    (src / "mosaicfocus" / "m.py").write_text("X = 2\n")
    assert Codebase(src, SummaryCache(cache_file)).digest(script) != digest
    cache_file.write_text("{not json")
    assert Codebase(src, SummaryCache(cache_file)).digest(script) == Codebase(src).digest(script)


def test_freezing_copies_the_code_read_only_and_once_per_content(tmp_path):
    checkout = tmp_path / "checkout"
    write_package(checkout, {"mosaicfocus/__init__.py": "", "mosaicfocus/m.py": "X = 1\n"})
    (checkout / "workflow" / "scripts").mkdir(parents=True)
    (checkout / "workflow" / "scripts" / "job.py").write_text("from mosaicfocus import m\n")
    into = tmp_path / "frozen"
    first = freeze(checkout, into)
    assert (first / "src" / "mosaicfocus" / "m.py").read_text() == "X = 1\n"
    assert (first / "scripts" / "job.py").is_file()
    assert not os.stat(first / "src" / "mosaicfocus" / "m.py").st_mode & stat.S_IWUSR
    assert freeze(checkout, into) == first
    (checkout / "src" / "mosaicfocus" / "m.py").write_text("X = 1  # now with a comment\n")
    second = freeze(checkout, into)
    assert second != first and (first / "src" / "mosaicfocus" / "m.py").read_text() == "X = 1\n"
    assert sorted(p.name for p in into.iterdir()) == sorted([first.name, second.name]), "no partial copies left"


def test_a_job_of_another_invocation_runs_the_code_that_invocation_froze(tmp_path, monkeypatch):
    checkout = tmp_path / "checkout"
    write_package(checkout, {"mosaicfocus/__init__.py": "", "mosaicfocus/m.py": "X = 1\n"})
    (checkout / "workflow" / "scripts").mkdir(parents=True)
    (checkout / "workflow" / "scripts" / "job.py").write_text("from mosaicfocus import m\n")
    planned = frozen_code(checkout, tmp_path / "frozen", job_of_another_invocation=False)
    monkeypatch.setenv(FROZEN_CODE_VARIABLE, str(planned.root))
    monkeypatch.setenv(CODE_ORIGIN_VARIABLE, json.dumps({"commit": "abc", "dirty": False}))
    (checkout / "src" / "mosaicfocus" / "m.py").write_text("X = 2\n")  # edited while the job waited
    job = frozen_code(checkout, tmp_path / "frozen", job_of_another_invocation=True)
    assert job.root == planned.root and job.digest("job.py") == planned.digest("job.py")
    assert job.origin == {"commit": "abc", "dirty": False}
    fresh = frozen_code(checkout, tmp_path / "frozen", job_of_another_invocation=False)
    assert fresh.root != planned.root and fresh.digest("job.py") != planned.digest("job.py")


def test_results_made_before_records_named_their_code_are_told_apart(tmp_path):
    models = tmp_path / "results" / "models"
    models.mkdir(parents=True)
    assert not records_without_code(tmp_path / "results"), "no results: nothing to warn of"
    record = {"format": 1, "kind": "weights", "meta": {"trained_on": 1, "train": {}}}
    (models / "model_1.json").write_text(json.dumps(record))
    assert records_without_code(tmp_path / "results")
    record["meta"]["code"] = {"train": code_record("d1")}
    (models / "model_1.json").write_text(json.dumps(record))
    assert not records_without_code(tmp_path / "results")


def test_records_name_the_code_and_its_commit(monkeypatch):
    monkeypatch.setenv(CODE_ORIGIN_VARIABLE, json.dumps({"commit": "c0ffee", "dirty": True}))
    assert code_record("d1") == {"digest": "d1", "commit": "c0ffee", "dirty": True}
    lineage = code_lineage("evaluate", "d3", code_lineage("train", "d2", {"datasets": code_record("d1")}))
    assert {job: record["digest"] for job, record in lineage.items()} == {
        "datasets": "d1",
        "train": "d2",
        "evaluate": "d3",
    }
    monkeypatch.delenv(CODE_ORIGIN_VARIABLE)
    assert code_record("d1") == {"digest": "d1", "commit": None, "dirty": None}


RULE = re.compile(r"^(?:use )?rule (\w+)", re.MULTILINE)


@pytest.mark.parametrize("rule_file", sorted((REPO / "workflow" / "rules").glob("*.smk")), ids=lambda p: p.name)
def test_every_rule_runs_a_frozen_script_and_carries_that_scripts_digest(rule_file):
    text = rule_file.read_text()
    starts = [m.start() for m in RULE.finditer(text)] + [len(text)]
    for start, end in zip(starts, starts[1:]):
        block = text[start:end]
        scripts = re.findall(r"script:\s*\n\s*(.+)", block)
        codes = re.findall(r"code=code_digest\(\"(\w+\.py)\"\)", block)
        assert "../scripts/" not in block, f"{rule_file.name}: {block.splitlines()[0]} runs the checkout's script"
        for script in scripts:
            assert script.strip().startswith("frozen_script("), block.splitlines()[0]
            name = re.search(r"\"(\w+\.py)\"", script).group(1)
            assert codes == [name], f"{rule_file.name}: {block.splitlines()[0]} runs {name} but its code is {codes}"
        if block.startswith("use rule") and "params:" in block:
            base = re.match(r"use rule (\w+)", block).group(1)
            base_block = text[text.index(f"rule {base}:") :]
            name = re.search(r"frozen_script\(\"(\w+\.py)\"\)", base_block).group(1)
            assert codes == [name], f"{block.splitlines()[0]} replaces its params without the code digest"
