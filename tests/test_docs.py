"""The documentation holds together: every relative link and image in README.md, BENCHMARKS.md and docs/**/*.md
points at a file that exists (and, for `file.md#anchor`, at a heading of that file, by GitHub's slug rules),
README.md names the command CI runs, and no user-facing page sends a reader to this project's own data folder."""

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
