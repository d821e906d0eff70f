"""The README and docs/ hold together: every picture and relative link they use exists (and every #section it
names), the README stays a short page for users with its two commands word for word, and the code cites
pages that are in the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
README_MAX_LINES = 160
TWO_COMMANDS = (
    'scripts/setup.sh && .venv/bin/photosift add ~/Pictures && .venv/bin/photosift index && '
    '.venv/bin/photosift search "kids on a beach at sunset"',
    "scripts/setup.sh && .venv/bin/python -m pytest -q",
)
# [text](target) and ![alt](target), the text or alt possibly over several lines; an optional "title" after
LINK = re.compile(r'!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto:


def _prose(text: str) -> str:
    """The page without fenced code blocks and inline code, where brackets are not links."""
    text = re.sub(r"^```.*?^```", "", text, flags=re.MULTILINE | re.DOTALL)
    return re.sub(r"`[^`\n]*`", "", text)


def _links(page: Path) -> list[str]:
    return LINK.findall(_prose(page.read_text(encoding="utf-8")))


def _anchors(page: Path) -> set[str]:
    """GitHub's ids for a page's headings: lower case, punctuation dropped, spaces to hyphens."""
    out = set()
    for line in _prose(page.read_text(encoding="utf-8")).splitlines():
        m = re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)
        if m:
            out.add(re.sub(r"[^\w\- ]", "", m.group(1).lower()).replace(" ", "-"))
    return out


def test_the_pages_exist():
    names = {p.relative_to(REPO).as_posix() for p in PAGES}
    assert {"README.md", "docs/architecture.md", "docs/benchmarks.md", "docs/fine-tuning.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_picture_and_relative_link_exists(page: Path):
    missing = []
    for target in _links(page):
        if EXTERNAL.match(target):
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if REPO not in dest.parents and dest != REPO:
            missing.append(f"{target} (outside the repository)")
        elif not dest.exists():
            missing.append(target)
        elif dest.suffix.lower() in (".png", ".jpg", ".jpeg", ".gif", ".svg") and dest.stat().st_size == 0:
            missing.append(f"{target} (empty)")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            missing.append(f"{target} (no such section)")
    assert missing == [], f"{page.name} links to what is not there: {missing}"


def test_the_link_finder_sees_pictures_links_and_captions_over_two_lines(tmp_path: Path):
    page = tmp_path / "p.md"
    page.write_text('![a picture,\nits caption](docs/a.png) and [a page](b.md#part "title") and '
                    "`[--all](not-a-link)` and [site](https://example.org)\n```\n[x](in-code.md)\n```\n")
    assert _links(page) == ["docs/a.png", "b.md#part", "https://example.org"]


def test_the_readme_is_short_and_keeps_its_two_commands():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) <= README_MAX_LINES
    for command in TWO_COMMANDS:
        assert command in text.splitlines(), f"the README lost its command: {command}"


def test_the_readme_shows_a_picture_of_the_window():
    assert any(t.endswith(".png") for t in _links(REPO / "README.md"))


def test_code_cites_pages_that_are_in_the_repository():
    """Comments and docstrings point at docs/*.md, never at notes outside the repository."""
    cited, outside = set(), []
    for package in ("engine", "training", "desktop_app", "tests", "bench", "scripts"):
        for path in (REPO / package).rglob("*.py"):
            if path == Path(__file__).resolve():
                continue
            text = path.read_text(encoding="utf-8")
            cited.update(re.findall(r"\bdocs/[\w.-]+\.md\b", text))
            if re.search(r"\b(ARCHITECTURE|PAPER)\.md\b|\.\./shared\b", text):
                outside.append(str(path.relative_to(REPO)))
    assert outside == []
    assert [c for c in sorted(cited) if not (REPO / c).is_file()] == []
