import json

import pandas as pd
import pytest

from mosaicfocus.reporting.compare import code_report, main, matrix_difference, run_code


def write_matrix(folder, offset):
    folder.mkdir()
    matrix = pd.DataFrame(
        [[50.0 + i + j + (offset if (i, j) == (2, 3) else 0) for j in range(1, 11)] for i in range(1, 10)],
        index=pd.Index(range(1, 10), name="trained_on"),
        columns=[str(j) for j in range(1, 11)],
    )
    matrix.to_csv(folder / "accuracy.csv")


def test_prints_the_difference_matrix(tmp_path, capsys):
    write_matrix(tmp_path / "a", 0)
    write_matrix(tmp_path / "b", -7.25)
    assert main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "-7.25" in out and "(2,3) -7.25" in out
    assert "mean |difference|: 0.081 points; max: 7.250" in out


def test_missing_matrix_exits_2_with_its_path(tmp_path, capsys):
    write_matrix(tmp_path / "a", 0)
    (tmp_path / "b").mkdir()
    assert main([str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    assert f"{tmp_path / 'b' / 'accuracy.csv'}: no such matrix" in capsys.readouterr().err


def test_shape_mismatch_is_refused():
    with pytest.raises(ValueError, match="differ in shape"):
        matrix_difference(pd.DataFrame([[1.0]]), pd.DataFrame([[1.0, 2.0]]))


def test_a_copy_without_evaluations_names_its_code_from_run_json(tmp_path):
    code = {"train": {"digests": ["ab" * 32], "commits": [{"commit": "c0ffee" * 6 + "c0ff", "dirty": False}]}}
    for name in ("a", "b"):
        write_matrix(tmp_path / name, 0)
    (tmp_path / "b" / "run.json").write_text(json.dumps({"code": code}))
    assert run_code(tmp_path / "b") == code
    report = code_report(tmp_path / "a", tmp_path / "b")
    assert report == f"code: not recorded in {tmp_path / 'a'} (made before records named their code)"
