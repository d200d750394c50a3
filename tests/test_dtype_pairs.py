"""bench/dtype_pairs.py: float64 against float32 model by model, beside the float32 run's own spread."""

import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import dtype_pairs  # noqa: E402


def write_model(results, replicate, level, dtype, stopped, accuracies):
    run = results if replicate == 1 else results / "replicates" / str(replicate)
    (run / "models").mkdir(parents=True, exist_ok=True)
    (run / "eval").mkdir(parents=True, exist_ok=True)
    train = {"lr": 0.01} if dtype == "float32" else {"lr": 0.01, "dtype": dtype}
    meta = {"train": train, "health": {"stopped_at_epoch": stopped}}
    (run / "models" / f"model_{level}.json").write_text(json.dumps({"meta": meta}))
    for tested, accuracy in enumerate(accuracies, start=1):
        (run / "eval" / f"train{level}_test{tested}.json").write_text(json.dumps({"accuracy": accuracy}))


def test_pairs_the_same_models_and_sets_them_beside_the_replicate_spread(tmp_path, capsys, monkeypatch):
    single, double = tmp_path / "f32", tmp_path / "f64"
    for replicate, base in ((1, 50.0), (2, 54.0), (3, 58.0)):
        write_model(single, replicate, 9, "float32", 70 + replicate, [base] * 10)
        write_model(single, replicate, 5, "float32", 80, [base] * 10)
    write_model(double, 1, 9, "float64", 75, [51.0] * 10)
    write_model(double, 2, 9, "float64", 73, [53.0] * 9 + [55.0])
    write_model(double, 3, 5, "float64", 81, [60.0] * 9)  # nine of ten scores: not a model of the run
    assert sorted(dtype_pairs.read_run(double)) == [(1, 9), (2, 9)]
    monkeypatch.setattr(sys, "argv", ["dtype_pairs.py", str(single), str(double)])
    dtype_pairs.main()
    out = capsys.readouterr().out
    assert "2 models in both" in out and "(float32)" in out and "(float64)" in out
    assert "        1     9             71, 75" in out
    assert "        2     9             72, 73" in out
    # pairs: +1 x 10, then -1 x 9 and +1: mean |d| 1.00, signed (10 - 9 + 1) / 20 = +0.10
    assert "mean |float64 - float32| of the same model: 1.00 points over 20 cells" in out
    assert "(signed mean +0.10; largest 1.00)" in out
    # the float32 run's level 9 over its replicate pairs: |4|, |8|, |4| on every dataset
    assert "mean |replicate r - replicate s| of the first run, same levels: 5.33 points" in out


def test_no_model_in_both_is_an_error(tmp_path, monkeypatch):
    write_model(tmp_path / "a", 1, 9, "float32", None, [50.0] * 10)
    write_model(tmp_path / "b", 1, 8, "float64", None, [50.0] * 10)
    monkeypatch.setattr(sys, "argv", ["dtype_pairs.py", str(tmp_path / "a"), str(tmp_path / "b")])
    with pytest.raises(SystemExit, match="no model is in both"):
        dtype_pairs.main()
