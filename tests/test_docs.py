"""The documentation holds together: every relative link and image in README.md, BENCHMARKS.md and docs/**/*.md
points at a file that exists (and, for `file.md#anchor`, at a heading of that file, by GitHub's slug rules),
README.md names the command CI runs, no user-facing page sends a reader to this project's own data folder, and a
figure stated on several pages (the where network's effective focus and nearest row, the suite's time) is the same
on each."""

import re
from pathlib import Path

import pytest
from conftest import REPO

PAGES = sorted([REPO / "README.md", REPO / "BENCHMARKS.md", *(REPO / "docs").rglob("*.md")])

# [text](target) and ![alt](target), with an optional "title"; link text may hold one level of brackets.
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^\s*(```|~~~)")
CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1")
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def _prose_lines(text: str) -> list[tuple[int, str]]:
    """(line number, line) outside fenced code blocks."""
    lines, fenced = [], False
    for number, line in enumerate(text.splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            lines.append((number, line))
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: the rendered text, lowercased, punctuation other than '-' and '_'
    dropped, spaces to '-'."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link or image renders as its text
    text = text.replace("`", "").replace("*", "")
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    found, seen = set(), {}
    for _, line in _prose_lines(page.read_text(encoding="utf-8")):
        match = HEADING.match(line)
        if not match:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def links(page: Path) -> list[tuple[int, str]]:
    found = []
    for number, line in _prose_lines(page.read_text(encoding="utf-8")):
        for target in LINK.findall(CODE_SPAN.sub("", line)):
            found.append((number, target))
    return found


def _external(target: str) -> bool:
    return re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) is not None  # https:, mailto:, ...


def test_slug_follows_github():
    assert slug("Training health: when a model did not learn") == "training-health-when-a-model-did-not-learn"
    assert slug("The study's learning-rate question: lr 0.001 against 0.01") == (
        "the-studys-learning-rate-question-lr-0001-against-001"
    )
    assert slug("What happens when...") == "what-happens-when"
    assert slug("No-op `snakemake -n`") == "no-op-snakemake--n"
    assert slug("Memory, time and size") == "memory-time-and-size"


def test_link_pattern_finds_links_and_images_but_not_code():
    page = '[a](x.md) ![b](img/y.png) `[c](not.md)` [d [e]](z.md#top "title") <https://example.org>\n'
    found = [t for line in page.splitlines() for t in LINK.findall(CODE_SPAN.sub("", line))]
    assert found == ["x.md", "img/y.png", "z.md#top"]


def test_there_are_pages_to_check():
    assert REPO / "README.md" in PAGES and len(PAGES) > 3


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_and_images_resolve(page):
    broken = []
    for number, target in links(page):
        if _external(target):
            continue
        path, _, anchor = target.partition("#")
        where = page if not path else (page.parent / path).resolve()
        if not where.exists():
            broken.append(f"{page.relative_to(REPO)}:{number}: {target} (no such file)")
        elif not where.resolve().is_relative_to(REPO.resolve()):
            broken.append(f"{page.relative_to(REPO)}:{number}: {target} (outside the repository)")
        elif anchor and where.suffix == ".md" and anchor not in anchors(where):
            broken.append(f"{page.relative_to(REPO)}:{number}: {target} (no heading with that anchor)")
    assert not broken, "\n".join(broken)


def test_readme_names_the_command_ci_runs():
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    commands = [line.strip() for line in ci.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert "make test" in commands
    assert "`make test`" in (REPO / "README.md").read_text(encoding="utf-8")


def test_user_facing_pages_do_not_point_at_the_projects_own_data_folder():
    # ../shared/data exists only beside this project's own checkouts; docs/tests.md may say the tests look there.
    pages = [p for p in PAGES if p != REPO / "docs" / "tests.md"]
    offenders = [str(p.relative_to(REPO)) for p in pages if "../shared" in p.read_text(encoding="utf-8")]
    assert not offenders, offenders


# Figures stated in more than one place. Each page's prose is read with line breaks and ** folded away; every
# page must state the figure at least once, and all statements must agree, so that editing one page alone fails.
EFFECTIVE_FOCUS = re.compile(r"effective focus (?:of )?(\d+\.\d+) ± (\d+\.\d+)", re.IGNORECASE)
NEAREST_ROW = re.compile(r"nearest fixed row (?:of the mean map: )?(\d+)", re.IGNORECASE)
SUITE_TIME = re.compile(r"about (\d+) minutes on 2 AVX-512 cores,? (?:and )?(\d+) on AVX2")
WHERE_NETWORK_PAGES = ("README.md", "docs/results.md", "docs/attention/README.md")
SHARED_FIGURES = {
    "where network: effective focus, mean ± sd": (EFFECTIVE_FOCUS, WHERE_NETWORK_PAGES),
    "where network: nearest fixed row": (NEAREST_ROW, WHERE_NETWORK_PAGES),
    "the suite's time on AVX-512 and AVX2": (SUITE_TIME, ("README.md", "docs/tests.md")),
}


def _flat(page: str) -> str:
    return " ".join((REPO / page).read_text(encoding="utf-8").replace("**", "").split())


@pytest.mark.parametrize("figure", SHARED_FIGURES)
def test_a_figure_stated_in_several_places_is_the_same_everywhere(figure):
    pattern, pages = SHARED_FIGURES[figure]
    stated = {page: set(pattern.findall(_flat(page))) for page in pages}
    assert all(stated.values()), f"{figure}: not found in {[page for page, found in stated.items() if not found]}"
    assert len(set().union(*stated.values())) == 1, f"{figure} differs: {stated}"


def test_the_headline_effective_focus_is_the_attention_tables_mean():
    # The table of docs/attention/README.md (one row per replicate, then the mean ± sd) is where the figure comes from.
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in (REPO / "docs/attention/README.md").read_text(encoding="utf-8").replace("**", "").splitlines()
        if line.startswith("|")
    ]
    header = next(row for row in rows if "effective focus" in row)
    mean = next(row for row in rows if row[0] == "mean ± sd")
    table = tuple(mean[header.index("effective focus")].split(" ± "))
    assert set(EFFECTIVE_FOCUS.findall(_flat("docs/attention/README.md"))) == {table}
