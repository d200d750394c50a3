"""What the report's figures and tables show: failed models hatched and named wherever a row is
drawn, a tie for the nearest row shown as a tie, nine loss curves told apart, and the precision
of the CSV files. Unit-level: constructed matrices and health tables, no workflow run."""

import itertools

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb

from mosaicfocus.data.design import FOCUS_LEVELS
from mosaicfocus.reporting import plots
from mosaicfocus.reporting.matrices import REPORT_FLOAT_FORMAT, write_csv
from mosaicfocus.where_network.report import TIE_POINTS, attention_matrix, closest_rows, closest_text

COLUMNS = [str(j) for j in range(1, 11)]


@pytest.fixture
def figures(monkeypatch):
    """The figures the plots draw, kept open (not written) for their artists to be read."""
    drawn = []
    monkeypatch.setattr(plots, "_save", lambda fig, path, dpi=120: drawn.append(fig))
    yield drawn
    for fig in drawn:
        plots._pyplot().close(fig)


def health_of(statuses: dict[int, list[str]]) -> pd.DataFrame:
    """results/training_health.csv's columns that the figures read: a status per replicate and level."""
    rows = [(r, level, status) for level, each in statuses.items() for r, status in enumerate(each, 1)]
    return pd.DataFrame(rows, columns=["replicate", "trained_on", "status"])


def extended_matrix(attention_row: list[float]) -> pd.DataFrame:
    matrix = pd.DataFrame(
        [[10.0 * level + j for j in range(10)] for level in FOCUS_LEVELS],
        index=pd.Index(list(FOCUS_LEVELS), name="trained_on"),
        columns=COLUMNS,
    )
    return attention_matrix(matrix, attention_row, [50.0] * 9, 42.0)


def hatched_rows(fig) -> list[int]:
    """Rows (from the top, 0-based) covered by a hatched rectangle on the heatmap."""
    ax = fig.axes[0]
    return sorted(int(patch.get_y()) for patch in ax.patches if patch.get_hatch() == "//")


def red_labels(fig) -> list[str]:
    return [tick.get_text() for tick in fig.axes[0].get_yticklabels() if tick.get_color() == "firebrick"]


def test_the_attention_heatmap_hatches_and_names_the_rows_that_did_not_learn(figures):
    """A stalled case: fixed rows 2 and 5 and the attention model's what network on the plateau."""
    statuses = {level: ["learned"] for level in FOCUS_LEVELS} | {2: ["plateau"], 5: ["dead"]}
    mean = extended_matrix([30.0 + j + 0.5 for j in range(10)])
    closest = closest_rows(mean)
    flagged = plots.plot_attention_heatmap(
        mean, mean * float("nan"), 1, health_of(statuses), ["plateau"], closest, "x.png", "dataset 10's mosaics"
    )
    assert flagged == [2, 5, "attention"]
    (fig,) = figures
    assert hatched_rows(fig) == [1, 4, 9]  # rows 2 and 5 and the attention row, counted from the top
    assert red_labels(fig) == ["2 (plateau)", "5 (dead)", "attention (plateau)\n(closest: row 3)"]
    assert plots.HEALTH_FOOTNOTE in fig.texts[0].get_text()
    # Over replicates: a row is hatched unless every replicate's model learned.
    figures.clear()
    statuses = {level: ["learned", "learned"] for level in FOCUS_LEVELS} | {9: ["learned", "plateau"]}
    flagged = plots.plot_attention_heatmap(
        mean, mean * 0, 2, health_of(statuses), ["learned", "learned"], closest, "x.png", "dataset 10's mosaics"
    )
    assert flagged == [9] and hatched_rows(figures[0]) == [8]
    assert red_labels(figures[0]) == ["9 (1/2 learned)"]
    # All learned: nothing hatched, no health footnote.
    figures.clear()
    statuses = {level: ["learned"] for level in FOCUS_LEVELS}
    assert plots.plot_attention_heatmap(mean, mean, 1, health_of(statuses), ["learned"], closest, "x.png", "m") == []
    assert hatched_rows(figures[0]) == [] and plots.HEALTH_FOOTNOTE not in figures[0].texts[0].get_text()


def test_rows_tied_for_nearest_are_all_named():
    # The attention row lies halfway between rows 3 and 4 (5 points from each), then on row 3 exactly.
    tied = extended_matrix([35.0 + j for j in range(10)])
    assert closest_rows(tied) == ([3, 4], 5.0)
    assert closest_text([3, 4]) == "closest: rows 3, 4 tied"
    assert closest_rows(extended_matrix([30.0 + j for j in range(10)])) == ([3], 0.0)
    assert closest_text([3]) == "closest: row 3"
    # Equal within TIE_POINTS is a tie; ten times that apart is not.
    nudged = extended_matrix([35.0 + j + (TIE_POINTS / 2 if j == 0 else 0) for j in range(10)])
    assert closest_rows(nudged)[0] == [3, 4]
    apart = extended_matrix([35.0 + j + (100 * TIE_POINTS if j == 0 else 0) for j in range(10)])
    assert closest_rows(apart)[0] == [4]
    # Three identical fixed rows, the attention row on them: "rows 1, 2, 3 tied (0.00 points)".
    same = tied.copy()
    same.loc[[1, 2, 3], COLUMNS] = 20.0
    same.loc["attention", COLUMNS] = 20.0
    assert closest_rows(same) == ([1, 2, 3], 0.0)


def test_the_attention_heatmap_names_a_tie(figures):
    statuses = {level: ["learned"] for level in FOCUS_LEVELS}
    mean = extended_matrix([35.0 + j for j in range(10)])
    plots.plot_attention_heatmap(mean, mean, 1, health_of(statuses), ["learned"], closest_rows(mean), "x.png", "m")
    labels = [tick.get_text() for tick in figures[0].axes[0].get_yticklabels()]
    assert labels[-1] == "attention\n(closest: rows 3, 4 tied)"
    assert "(5.00 points; rows within 1e-06 points of it tie)" in figures[0].texts[0].get_text()


def test_the_nine_loss_curves_have_nine_distinct_colours_and_their_numbers(figures):
    curves = {
        level: [pd.DataFrame({"attempt": 1, "epoch": [1, 2, 3], "loss": [1.1, 1.0, 0.1 * (level % 3)]})]
        for level in FOCUS_LEVELS
    }
    plots.plot_losses(curves, "x.png")
    ax = figures[0].axes[0]
    colours = {line.get_label(): line.get_color() for line in ax.get_lines()}
    # Told apart: every two levels' colours at least 0.22 apart in RGB (0..1). Nine samples of a
    # sequential colour map are not (viridis: 0.13, plasma: 0.20); tab10's first nine are (0.27).
    rgb = [np.array(to_rgb(colours[f"trained on {level}"])) for level in FOCUS_LEVELS]
    assert min(np.linalg.norm(a - b) for a, b in itertools.combinations(rgb, 2)) > 0.22
    # Each line's number at its end, in its colour; labels of lines ending together do not overlap.
    labels = {text.get_text(): text for text in ax.texts}
    assert sorted(labels) == [str(level) for level in FOCUS_LEVELS]
    assert all(labels[str(level)].get_color() == colours[f"trained on {level}"] for level in FOCUS_LEVELS)
    heights = sorted(text.get_position()[1] for text in ax.texts)
    assert min(b - a for a, b in zip(heights, heights[1:])) > 0


def test_csvs_for_people_keep_six_significant_digits_and_those_read_back_every_digit(tmp_path):
    frame = pd.DataFrame({"accuracy": [88.66666666666667, 100.0, 5.123456789], "loss": [0.012345678, 1.0986, 0.0]})
    write_csv(frame, tmp_path / "people.csv", read_back=False, index=False)
    write_csv(frame, tmp_path / "exact.csv", read_back=True, index=False)
    assert (tmp_path / "people.csv").read_text().splitlines() == [
        "accuracy,loss",
        "88.6667,0.0123457",
        "100,1.0986",
        "5.12346,0",
    ]
    assert REPORT_FLOAT_FORMAT == "%.6g"
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "exact.csv"), frame, check_exact=True)
