"""What a change of protocol does: two replicate studies, B against A (reporting.effect, and
compare's two-folder mode that prints it)."""

import json
import math

import numpy as np
import pandas as pd
import pytest

from mosaicfocus.reporting.compare import main
from mosaicfocus.reporting.effect import effect, format_effect, read_replicate_study, stop_epochs
from mosaicfocus.reporting.published import PUBLISHED_TABLES, published_matrix, published_midpoint

ROWS = pd.Index(range(1, 10), name="trained_on")
COLUMNS = [str(j) for j in range(1, 11)]


def write_study(folder, mean, sd, replicates, stopped=None):
    """A results folder as the report writes it: mean, sd and the health table of ``replicates``."""
    folder.mkdir()
    pd.DataFrame(mean, index=ROWS, columns=COLUMNS).to_csv(folder / "accuracy.csv")
    if sd is not None:
        pd.DataFrame(sd, index=ROWS, columns=COLUMNS).to_csv(folder / "accuracy_sd.csv")
    rows = []
    for replicate in range(1, replicates + 1):
        for level in range(1, 10):
            row = {"replicate": replicate, "trained_on": level, "status": "learned", "attempts": 1}
            if stopped is not None:
                row["stopped_at_epoch"] = stopped[level - 1][replicate - 1]
            rows.append(row)
    pd.DataFrame(rows).to_csv(folder / "training_health.csv", index=False)
    return folder


def studied():
    """The cnn_net_10k table's midpoints: a mean at zero distance from it."""
    return published_midpoint(published_matrix(PUBLISHED_TABLES[1])).to_numpy()


def test_a_cell_moves_when_its_difference_exceeds_2_sd_of_the_difference(tmp_path):
    base = studied()
    changed = base.copy()
    changed[1, 2] -= 3.0  # sd of the difference sqrt(1/3 + 1/3) = 0.816: 3 > 1.63, moved
    changed[4, 4] += 1.0  # 1 < 1.63: not moved
    changed[8, 9] -= 0.5  # sd 0 on both sides: any difference moves
    sd = np.ones_like(base)
    sd[8, 9] = 0.0
    a = read_replicate_study(write_study(tmp_path / "a", base, sd, 3), "A")
    b = read_replicate_study(write_study(tmp_path / "b", changed, sd, 3), "B")
    found = effect(a, b)
    assert a.n == b.n == 3
    assert found.sd_of_difference.loc[2, "3"] == pytest.approx(math.sqrt(2 / 3))
    assert sorted(found.moved.stack()[found.moved.stack()].index) == [(2, "3"), (9, "10")]
    text = format_effect(found)
    assert "cells that moved by more than 2 sd of the difference of means: 2 of 90: (2,3) -3.00 ± 1.63" in text
    assert "(9,10) -0.50 ± 0.00" in text
    # A sits on cnn_net_10k's midpoints: its distance 0, B's the moved cells' mean over the 90
    assert found.tables_a[1].mad == 0.0
    assert found.tables_b[1].mad == pytest.approx(4.5 / 90)
    assert "cnn_net_10k: 0.00 -> 0.05 (change +0.05)" in text
    assert "per row 1: 0.00 -> 0.00, 2: 0.00 -> 0.30," in text


def test_below_two_replicates_nothing_is_tested(tmp_path):
    base = studied()
    a = read_replicate_study(write_study(tmp_path / "a", base, np.ones_like(base), 5))
    b = read_replicate_study(write_study(tmp_path / "b", base + 10, None, 1))  # one replicate: no sd file
    found = effect(a, b)
    assert b.n == 1 and b.sd.isna().all().all()
    assert not found.moved.any().any()
    assert "cells that moved: not tested (an sd needs 2 replicates on each side)" in format_effect(found)


def test_stop_epochs_per_model_and_replicate_beside_the_authors(tmp_path):
    base = studied()
    stopped = [[190 - 10 * level, 200 - 10 * level] for level in range(1, 10)]
    stopped[0][1] = None  # trained to the end
    a = read_replicate_study(write_study(tmp_path / "a", base, np.ones_like(base), 2))
    b = read_replicate_study(write_study(tmp_path / "b", base, np.ones_like(base), 2, stopped))
    assert stop_epochs(a.health) is None
    table = stop_epochs(b.health)
    assert list(table.columns) == ["r1", "r2"] and table.loc[9, "r1"] == 100 and math.isnan(table.loc[1, "r2"])
    text = format_effect(effect(a, b))
    assert f"{a.label}: no stop rule" in text
    assert "mean ± sd per row, of the models that stopped: 1: 180.0 ± n/a (1 of 2), 2: 175.0 ± 7.07," in text
    assert "cnn_net_10k's run stopped after epochs 1: 194, 2: 122, 3: 106" in text


def test_tables_left_out_with_the_reason_when_they_do_not_apply(tmp_path):
    base = studied()
    a = read_replicate_study(write_study(tmp_path / "a", base, np.ones_like(base), 3))
    b = read_replicate_study(write_study(tmp_path / "b", base, np.ones_like(base), 3))
    text = format_effect(effect(a, b, ["data.source is synthetic"]))
    assert "the published tables do not apply: data.source is synthetic" in text
    assert "cnn_net_10k:" not in text and "stopped after epochs" not in text


def test_compare_prints_the_effect_of_two_replicate_studies(tmp_path, capsys):
    base = studied()
    changed = base.copy()
    changed[0, 1] += 4.0
    write_study(tmp_path / "a", base, np.ones_like(base), 3)
    write_study(tmp_path / "b", changed, np.ones_like(base), 3)
    assert main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "largest changes: (1,2) +4.00" in out  # the plain difference, as before
    assert f"B = {tmp_path / 'b'} (n = 3) against A = {tmp_path / 'a'} (n = 3)" in out
    assert "2 of 90" not in out and "1 of 90: (1,2) +4.00 ± 1.63" in out


def test_compare_leaves_the_tables_out_for_a_run_off_the_study_design(tmp_path, capsys):
    base = studied()
    for name in ("a", "b"):
        folder = write_study(tmp_path / name, base, np.ones_like(base), 3)
        (folder / "eval").mkdir()
        record = {
            "source": {"source": "synthetic"},
            "mosaics": {"foreground_classes": ["c0", "c1", "c2"], "background_classes": ["c3"]},
            "train": {"outputs": 3},
            "weighting": {"weighting": "linear"},
        }
        (folder / "eval" / "train1_test1.json").write_text(json.dumps(record))
    assert main([str(tmp_path / "a"), str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "the published tables do not apply: data.source is synthetic" in out
    assert "exp4:" not in out


def test_a_study_without_its_health_table_is_named(tmp_path):
    folder = tmp_path / "a"
    folder.mkdir()
    pd.DataFrame(studied(), index=ROWS, columns=COLUMNS).to_csv(folder / "accuracy.csv")
    with pytest.raises(FileNotFoundError, match="training_health.csv: missing"):
        read_replicate_study(folder)
