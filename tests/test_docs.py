"""The README's examples (and the docs sections merged into it) run as doctests."""

import doctest
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
FILES = [ROOT / "README.md", ROOT / "theanine" / "scan" / "README.md"]
FILES += sorted((ROOT / "docs").glob("*.md"))


@pytest.mark.parametrize("path", [p for p in FILES if p.exists()], ids=lambda p: p.name)
def test_markdown_doctests(path):
    result = doctest.testfile(str(path), module_relative=False,
                              optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} doctest example(s) failed in {path.name}"
