import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from conftest import REPO

from mosaicfocus.data.classes import CIFAR10_CLASSES
from mosaicfocus.reporting.compare import main
from mosaicfocus.reporting.plots import plot_study_difference, plot_tables_do_not_apply
from mosaicfocus.reporting.published import PUBLISHED_TABLES, published_matrix, published_midpoint
from mosaicfocus.reporting.study import (
    classify_reproduction,
    compare_published_tables,
    compare_with_study,
    compare_with_tables,
    tables_do_not_apply,
    verdict,
)
from mosaicfocus.reporting.study_text import (
    format_reproduction,
    format_study_report,
    format_tables_do_not_apply,
    format_verdict,
)

COLUMNS = [str(j) for j in range(1, 11)]


def midpoints() -> pd.DataFrame:
    return published_midpoint(published_matrix())


def test_published_matrix_layout_and_values():
    published = published_matrix()
    assert published.shape == (9, 10)
    assert list(published.index) == list(range(1, 10)) and published.index.name == "trained_on"
    assert list(published.columns) == COLUMNS
    assert published.loc[1, "1"] == 52 and published.loc[2, "2"] == 100 and published.loc[9, "10"] == 92
    assert published.loc[8, "1"] == 34 and published.loc[4, "5"] == 99


def test_second_published_table_as_shipped():
    exp4, second = PUBLISHED_TABLES
    assert exp4.key == "exp4" and "5_Exp_4_" in exp4.page
    assert second.key == "cnn_net_10k" and second.page.endswith("4_cnn_net_10k/readme.md")
    published = published_matrix(second)
    assert published.shape == (9, 10) and list(published.columns) == COLUMNS
    assert list(published.index) == list(range(1, 10)) and published.index.name == "trained_on"
    # Its model 1 fit its training set, unlike the Exp 4 page's (52).
    assert published.loc[1, "1"] == 100 and published.loc[1, "2"] == 85 and published.loc[2, "3"] == 94
    assert published.loc[6, "4"] == 87 and published.loc[9, "1"] == 34 and published.loc[9, "10"] == 91
    assert (np.diag(published.to_numpy()) == 100).all()
    assert published_matrix().equals(published_matrix(exp4))  # the default stays the table shipped first


def test_the_two_published_tables_differ_by_2_3_points_per_cell_most_in_row_1():
    tables = compare_published_tables()
    assert tables.difference.loc[1, "1"] == 47.5  # 100 against [52, 53)
    assert tables.difference.loc[6, "6"] == 0.5  # 100 against [99, 100)
    assert tables.difference.loc[2, "10"] == 5.0 and tables.difference.loc[9, "9"] == 0.0
    assert tables.mad == pytest.approx(204 / 90)  # 2.27 points
    expected_rows = {1: 11.15, 2: 3.4, 3: 1.0, 4: 0.7, 5: 0.9, 6: 0.95, 7: 0.4, 8: 0.9, 9: 1.0}
    assert tables.mad_per_row.to_dict() == pytest.approx(expected_rows)
    assert tables.mad_per_row.idxmax() == 1


def test_midpoint_is_half_a_point_up_except_at_100():
    mid = midpoints()
    assert mid.loc[1, "1"] == 52.5 and mid.loc[2, "2"] == 100.0 and mid.loc[6, "6"] == 99.5


def test_published_midpoints_give_zero_difference():
    comparison = compare_with_study(midpoints())
    assert (comparison.difference == 0).all().all()
    assert comparison.mad == 0 and (comparison.mad_per_row == 0).all()
    assert comparison.spearman == pytest.approx(1.0)
    assert comparison.outside is None and comparison.skipped == []


def test_known_offsets_give_mad_per_row():
    signs = np.where(np.arange(10) % 2 == 0, 1.0, -1.0)  # +/- cancel in a mean, not in a MAD
    offsets = pd.Series(np.arange(1, 10) * 0.5, index=range(1, 10))
    mean = midpoints() + np.outer(offsets, signs)
    comparison = compare_with_study(mean)
    assert comparison.mad_per_row.to_dict() == pytest.approx(offsets.to_dict())
    assert list(comparison.mad_per_row.index) == list(range(1, 10))
    assert comparison.mad == pytest.approx(offsets.mean())
    assert comparison.difference.loc[3, "2"] == pytest.approx(-1.5)


def test_outside_uses_two_sd_and_the_truncation_interval():
    mean, sd = midpoints(), pd.DataFrame(1.0, index=range(1, 10), columns=COLUMNS)
    mean.loc[1, "2"], sd.loc[1, "2"] = 66.0, 1.0  # published 64 in [64, 65): 66 - 2 = 64 meets it
    mean.loc[1, "3"], sd.loc[1, "3"] = 71.5, 1.0  # published 68 in [68, 69): 69.5 > 69
    mean.loc[1, "1"], sd.loc[1, "1"] = 52.9, 0.0  # published 52 means [52, 53): inside
    mean.loc[1, "4"], sd.loc[1, "4"] = 69.0, 0.0  # published 68: 69 is outside the half-open [68, 69)
    mean.loc[2, "2"], sd.loc[2, "2"] = 99.5, 0.2  # published 100 is exactly 100: 99.9 < 100
    mean.loc[2, "3"], sd.loc[2, "3"] = 90.5, 0.5  # published 92 in [92, 93): 91.5 < 92
    outside = compare_with_study(mean, sd, n=3).outside
    assert not outside.loc[1, "2"] and not outside.loc[1, "1"]
    assert outside.loc[1, "3"] and outside.loc[1, "4"] and outside.loc[2, "2"] and outside.loc[2, "3"]
    assert int(outside.to_numpy().sum()) == 4


def test_fewer_than_three_replicates_or_no_sd_skip_the_consistency_test():
    mean, sd = midpoints(), pd.DataFrame(1.0, index=range(1, 10), columns=COLUMNS)
    assert compare_with_study(mean, sd, n=2).outside is None
    assert compare_with_study(mean, None, n=5).outside is None
    assert "needs >= 3 replicates" in format_study_report(compare_with_study(mean, sd, n=2))


def test_nan_row_is_skipped_by_every_statistic():
    mean, sd = midpoints() + 1.0, pd.DataFrame(0.1, index=range(1, 10), columns=COLUMNS)
    mean.loc[4] = np.nan
    comparison = compare_with_study(mean, sd, n=3)
    assert comparison.mad == pytest.approx(1.0) and np.isnan(comparison.mad_per_row[4])
    assert comparison.spearman == pytest.approx(1.0)
    assert comparison.skipped == [(4, c) for c in COLUMNS]
    assert not comparison.outside.loc[4].any() and comparison.outside.drop(index=4).all().all()
    report = format_study_report(comparison)
    assert "row 4 (no values)" in report and "over 80 of 90 cells" in report and "80 of 80 cells" in report


def test_report_lists_cells_outside():
    mean, sd = midpoints(), pd.DataFrame(0.5, index=range(1, 10), columns=COLUMNS)
    mean.loc[2, "3"] = 90.0
    report = format_study_report(compare_with_study(mean, sd, n=4), label="runs")
    assert "1 of 90 cells" in report and "(n = 4 replicates)" in report
    assert "(2,3) runs 90.00 ± 0.50 vs published exp4 92 (true value in [92, 93))" in report
    assert "Spearman" in report and "-2.50" in report


def both_tables(mean: pd.DataFrame, sd: pd.DataFrame) -> pd.DataFrame:
    return classify_reproduction(*compare_with_tables(mean, sd, n=5))


def test_a_mean_at_one_tables_midpoint_reproduces_that_table():
    exp4, second = PUBLISHED_TABLES
    sd = pd.DataFrame(0.1, index=range(1, 10), columns=COLUMNS)
    classes = both_tables(midpoints(), sd)
    same_printed = (published_matrix(exp4) == published_matrix(second)).to_numpy()
    assert same_printed.sum() == 30
    assert set(classes.to_numpy()[same_printed]) == {"both"}
    assert set(classes.to_numpy()[~same_printed]) == {"exp4 only"}
    assert classes.loc[1, "1"] == "exp4 only" and classes.loc[3, "4"] == "both"
    classes = both_tables(published_midpoint(published_matrix(second)), sd)
    assert classes.loc[1, "1"] == "cnn_net_10k only"
    assert classes.loc[6, "6"] == "both"  # its 100 ± 0.2 reaches into exp4's [99, 100)
    expected_both = same_printed.copy()
    expected_both[5, 5] = True
    assert set(classes.to_numpy()[expected_both]) == {"both"}
    assert set(classes.to_numpy()[~expected_both]) == {"cnn_net_10k only"}


def test_a_mean_between_the_tables_or_off_both():
    mean, sd = midpoints(), pd.DataFrame(0.1, index=range(1, 10), columns=COLUMNS)
    mean.loc[1, "3"], sd.loc[1, "3"] = 71.5, 0.5  # exp4 [68, 69), cnn_net_10k [75, 76): 70.5-72.5 in the gap
    mean.loc[2, "3"], sd.loc[2, "3"] = 93.5, 0.1  # exp4 [92, 93), cnn_net_10k [94, 95): the one-point gap
    mean.loc[1, "5"], sd.loc[1, "5"] = 64.0, 0.5  # cnn_net_10k [60, 61) below exp4 [67, 68) this time
    mean.loc[1, "2"], sd.loc[1, "2"] = 95.0, 1.0  # exp4 64, cnn_net_10k 85: above both
    mean.loc[1, "1"], sd.loc[1, "1"] = 30.0, 1.0  # exp4 52, cnn_net_10k 100: below both
    mean.loc[6, "2"], sd.loc[6, "2"] = 46.9, 0.7  # both printed 49: 48.3 < 49
    mean.loc[4, "9"], sd.loc[4, "9"] = 86.0, 0.0  # exp4 [87, 88), cnn_net_10k [86, 87): 86 meets the second
    mean.loc[6, "6"], sd.loc[6, "6"] = 100.0, 0.0  # exp4 [99, 100), cnn_net_10k exactly 100
    classes = both_tables(mean, sd)
    assert classes.loc[1, "3"] == "between" and classes.loc[2, "3"] == "between" and classes.loc[1, "5"] == "between"
    assert classes.loc[1, "2"] == "beyond" and classes.loc[1, "1"] == "beyond" and classes.loc[6, "2"] == "beyond"
    assert classes.loc[4, "9"] == "cnn_net_10k only" and classes.loc[6, "6"] == "cnn_net_10k only"
    report = format_reproduction(*compare_with_tables(mean, sd, n=5), label="ours")
    assert "between: 3, beyond: 3 (of 90 cells tested)" in report
    assert "(1,3) between: ours 71.50 ± 0.50 vs exp4 68 (true value in [68, 69)), cnn_net_10k 75" in report
    assert "(1,1) beyond: ours 30.00 ± 1.00 vs exp4 52 (true value in [52, 53)), cnn_net_10k 100 (exactly)" in report
    assert "reproduces at least one table: 84 of 90" in report and "within the span of the two: 87" in report


def test_reproduction_needs_the_two_sd_test_and_skips_cells_without_sd():
    mean, sd = midpoints(), pd.DataFrame(0.1, index=range(1, 10), columns=COLUMNS)
    assert classify_reproduction(*compare_with_tables(mean, sd, n=2)) is None
    assert "not run" in format_reproduction(*compare_with_tables(mean, sd, n=2))
    sd.loc[3] = np.nan
    classes = both_tables(mean, sd)
    assert classes.loc[3].isna().all() and classes.drop(index=3).notna().all().all()
    with pytest.raises(ValueError, match="different means"):
        classify_reproduction(compare_with_study(mean, sd, 5), compare_with_study(mean + 1, sd, 5, PUBLISHED_TABLES[1]))


def health_table(replicates: int, status: str = "learned") -> pd.DataFrame:
    rows = [(r, i, status) for r in range(1, replicates + 1) for i in range(1, 10)]
    return pd.DataFrame(rows, columns=["replicate", "trained_on", "status"])


def test_verdict_text_names_both_tables_and_what_reproduces():
    exp4, second = PUBLISHED_TABLES
    mean, sd = midpoints(), pd.DataFrame(0.1, index=range(1, 10), columns=COLUMNS)
    result = verdict(mean, sd, mean, sd, health_table(3))
    assert [c.table for c in result.learned] == [exp4, second] == [c.table for c in result.all_runs]
    assert result.learned[0].mad == 0 and result.learned[1].mad == pytest.approx(result.all_runs[1].mad)
    text = format_verdict(result)
    assert exp4.page in text and second.page in text
    assert "-- against published exp4 --" in text and "-- against published cnn_net_10k --" in text
    assert "mean |difference|: 2.267 points over 90 cells (the same printed value in 30 of them)" in text
    assert "both: 30, exp4 only: 60, cnn_net_10k only: 0, between: 0, beyond: 0 (of 90 cells tested)" in text
    assert "against published cnn_net_10k: mean |difference|: 2.267 points" in text
    assert (result.reproduction == "both").sum().sum() == 30


def test_verdict_of_one_replicate_runs_no_test():
    mean = midpoints()
    result = verdict(mean, mean * np.nan, mean, mean * np.nan, health_table(1))
    assert result.reproduction is None and all(c.outside is None for c in result.learned)
    assert "reproduction against both tables needs the 2-sd test: not run" in format_verdict(result)


def test_shape_and_label_mismatch_name_what_differs():
    with pytest.raises(ValueError, match=r"mean has shape \(9, 9\)"):
        compare_with_study(midpoints().iloc[:, :9])
    with pytest.raises(ValueError, match="mean has columns"):
        compare_with_study(midpoints().set_axis([str(j) for j in range(0, 10)], axis=1))
    with pytest.raises(ValueError, match="sd has rows"):
        compare_with_study(midpoints(), midpoints().set_axis(range(0, 9), axis=0), n=3)


def png_height(path) -> int:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[20:24], "big")  # IHDR: width at 16-20, height at 20-24


def test_plot_draws_a_panel_per_table(tmp_path):
    mean, sd = midpoints() + 0.3, pd.DataFrame(0.1, index=range(1, 10), columns=COLUMNS)
    mean.loc[5] = np.nan
    comparisons = compare_with_tables(mean, sd, n=3)
    plot_study_difference(comparisons, tmp_path / "both.png")
    plot_study_difference(comparisons[:1], tmp_path / "one.png")
    plot_study_difference(compare_with_tables(mean), tmp_path / "untested.png")
    assert png_height(tmp_path / "both.png") == 2 * png_height(tmp_path / "one.png")
    assert png_height(tmp_path / "untested.png") == png_height(tmp_path / "both.png")


def test_study_module_does_not_import_torch():
    code = "import sys, mosaicfocus.reporting.study, mosaicfocus.reporting.compare; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO / "src")


def write_results(folder, replicates: int, split: str = "") -> None:
    frames = [midpoints() + 0.1 * r for r in range(replicates)]
    for r, frame in enumerate(frames, start=1):
        sub = folder / ("" if r == 1 else f"replicates/{r}") / f"eval{split}"
        sub.mkdir(parents=True)
        frame.to_csv(sub / "accuracy.csv")
    stacked = pd.concat(frames, keys=range(replicates)).groupby(level="trained_on")
    stacked.mean().to_csv(folder / f"accuracy{split}.csv")
    stacked.std(ddof=1).to_csv(folder / f"accuracy{split}_sd.csv")


def test_cli_study_prints_the_report(tmp_path, capsys):
    write_results(tmp_path / "results", 3)
    assert main(["--study", str(tmp_path / "results")]) == 0
    out = capsys.readouterr().out
    assert "published exp4 midpoint" in out and "published cnn_net_10k midpoint" in out
    assert "0 of 90 cells have the published exp4 interval outside" in out and "(n = 3 replicates)" in out
    assert "-- results against both tables --".replace("results", str(tmp_path / "results")) in out
    assert "reproduces at least one table: 90 of 90" in out


def test_cli_study_heldout_and_one_replicate(tmp_path, capsys):
    write_results(tmp_path / "results", 1, split="_heldout")
    assert main(["--study", str(tmp_path / "results"), "--matrix", "accuracy_heldout.csv"]) == 0
    out = capsys.readouterr().out
    assert "needs >= 3 replicates and their sd (n = 1)" in out


def test_cli_study_missing_matrix_exits_2(tmp_path, capsys):
    (tmp_path / "results").mkdir()
    assert main(["--study", str(tmp_path / "results")]) == 2
    assert f"{tmp_path / 'results' / 'accuracy.csv'}: no such matrix" in capsys.readouterr().err


def test_cli_study_takes_one_folder(tmp_path):
    with pytest.raises(SystemExit) as exc:
        main(["--study", str(tmp_path), str(tmp_path)])
    assert exc.value.code == 2


def test_the_report_refuses_inputs_out_of_step_with_their_labels(tmp_path):
    """The report files every result by the label passed beside it; swapped paths are refused."""
    import json

    from mosaicfocus.reporting.matrices import labelled_evaluations, labelled_records

    paths, labels = [], []
    for trained_on in (1, 2):
        for tested_on in (3, 4):
            path = tmp_path / f"train{trained_on}_test{tested_on}.json"
            path.write_text(
                json.dumps({"trained_on": trained_on, "tested_on": tested_on, "tested_split": "train", "accuracy": 50})
            )
            paths.append(path)
            labels.append((1, "", trained_on, tested_on))
    groups = labelled_evaluations(paths, labels)
    assert list(groups) == [(1, "")] and len(groups[1, ""]) == 4
    swapped = [paths[1], paths[0], *paths[2:]]
    with pytest.raises(ValueError, match="train1_test4.json holds trained_on 1, tested_on 4, split '', but was passed"):
        labelled_evaluations(swapped, labels)
    heldout = [(1, "_heldout", t, d) for _, _, t, d in labels]
    with pytest.raises(ValueError, match="out of step"):
        labelled_evaluations(paths, heldout)
    records = []
    for trained_on in (1, 2):
        path = tmp_path / f"model_{trained_on}.json"
        path.write_text(json.dumps({"meta": {"trained_on": trained_on, "health": {}}}))
        records.append(path)
    assert set(labelled_records(records, [(1, 1), (1, 2)])) == {(1, 1), (1, 2)}
    with pytest.raises(ValueError, match="model_2.json is the record of the model trained on 2, but was passed as"):
        labelled_records(records[::-1], [(1, 1), (1, 2)])


# ---------------------------------------------------------------- where the published tables apply

STUDY_DESIGN = {
    "source": "cifar10",
    "classes": list(CIFAR10_CLASSES),
    "foreground_classes": ["airplane", "automobile", "bird"],
    "background_classes": ["cat", "deer", "dog", "frog", "horse", "ship", "truck"],
    "outputs": 3,
    "weighting": "linear",
}


def test_the_published_tables_apply_to_cifar10_at_the_studys_design_alone():
    assert tables_do_not_apply(STUDY_DESIGN) == []
    assert tables_do_not_apply({**STUDY_DESIGN, "source": "imagefolder"}) == []  # an image folder of CIFAR-10
    # The foreground's label order changes no accuracy.
    assert tables_do_not_apply({**STUDY_DESIGN, "foreground_classes": ["bird", "airplane", "automobile"]}) == []
    changes = {
        "synthetic": ({"source": "synthetic"}, "data.source is synthetic"),
        "other folder": ({"source": "imagefolder", "classes": ["a", "b"]}, "classes a, b: not CIFAR-10's ten"),
        "unlisted folder": ({"source": "imagefolder", "classes": None}, "could not be listed"),
        "foreground": ({"foreground_classes": ["cat"]}, "foreground_classes are cat"),
        "background": ({"background_classes": ["ship", "truck"]}, "background_classes are ship, truck"),
        "outputs": ({"outputs": 10}, "model.outputs is 10; the study's network has 3"),
        "weighting": ({"weighting": "dirichlet"}, "weighting is dirichlet"),
    }
    for name, (change, reason) in changes.items():
        (found,) = tables_do_not_apply({**STUDY_DESIGN, **change})
        assert reason in found, name
    assert len(tables_do_not_apply({**STUDY_DESIGN, "source": "synthetic", "outputs": 4})) == 2


def test_the_text_and_figure_of_a_run_the_tables_do_not_describe_say_why(tmp_path):
    reasons = tables_do_not_apply({**STUDY_DESIGN, "source": "synthetic"})
    text = format_tables_do_not_apply(reasons)
    assert text.startswith("The published study's 2 tables of this experiment do not apply to this run")
    assert "  - data.source is synthetic" in text and PUBLISHED_TABLES[0].page in text
    assert "Spearman" not in text and "mean |difference|" not in text
    plot_tables_do_not_apply(reasons, tmp_path / "none.png")
    assert png_height(tmp_path / "none.png") > 0


def write_evaluation(folder, design: dict) -> None:
    """An evaluation record of ``folder`` as the workflow writes it: what produced the scores."""
    import json

    root = {"imagefolder": str(folder / "images"), "cifar10": "data/cifar10"}
    source = {"source": design["source"], **({"root": root[design["source"]]} if design["source"] in root else {})}
    record = {
        "source": source,
        "mosaics": {k: design[k] for k in ("foreground_classes", "background_classes")},
        "weighting": {"weighting": design["weighting"]},
        "train": {"outputs": design["outputs"]},
    }
    (folder / "eval").mkdir(parents=True, exist_ok=True)
    (folder / "eval" / "train1_test1.json").write_text(json.dumps(record))


def write_verdict_inputs(folder, design: dict) -> None:
    """Rule study's inputs in a results folder (every model learned: the learned means are the
    plain ones), and an evaluation record of ``design``."""
    import shutil

    write_results(folder, 3)
    health_table(3).to_csv(folder / "training_health.csv", index=False)
    for name in ("accuracy", "accuracy_sd"):
        shutil.copy(folder / f"{name}.csv", folder / f"{name.replace('accuracy', 'accuracy_learned')}.csv")
    write_evaluation(folder, design)


def test_cli_study_gives_the_verdict_at_the_studys_design_and_says_why_not_elsewhere(tmp_path, capsys):
    cifar, synthetic, folder = tmp_path / "cifar", tmp_path / "synthetic", tmp_path / "folder"
    write_verdict_inputs(cifar, STUDY_DESIGN)
    assert main(["--study", str(cifar)]) == 0
    out = capsys.readouterr().out
    assert "reproduces at least one table: 90 of 90" in out and "Spearman rank correlation" in out
    write_verdict_inputs(synthetic, {**STUDY_DESIGN, "source": "synthetic"})
    assert main(["--study", str(synthetic)]) == 0
    out = capsys.readouterr().out
    assert "do not apply to this run" in out and "data.source is synthetic" in out and "Spearman" not in out
    # An image folder: its class folders, listed where the record says it is, decide.
    write_verdict_inputs(folder, {**STUDY_DESIGN, "source": "imagefolder"})
    for name in ("cat", "dog"):
        (folder / "images" / "train" / name).mkdir(parents=True)
    assert main(["--study", str(folder)]) == 0
    assert "data.source is imagefolder with classes cat, dog: not CIFAR-10's ten" in capsys.readouterr().out
    for name in CIFAR10_CLASSES:
        (folder / "images" / "train" / name).mkdir(parents=True, exist_ok=True)
    (folder / "images" / "train" / "dog").rename(folder / "images" / "train" / "wolf")
    assert main(["--study", str(folder)]) == 0
    assert "not CIFAR-10's ten" in capsys.readouterr().out
    (folder / "images" / "train" / "wolf").rename(folder / "images" / "train" / "dog")
    assert main(["--study", str(folder)]) == 0
    assert "reproduces at least one table: 90 of 90" in capsys.readouterr().out
