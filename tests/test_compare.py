import pandas as pd
import pytest

from mosaicfocus.reporting.compare import main, matrix_difference


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
