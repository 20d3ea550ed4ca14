"""Sphinx configuration of theanine's documentation site.

The pages are Markdown (MyST), the same files the test suite runs as doctests
(tests/test_docs.py). Build with `make docs` (into docs/_build/html); the tests
build it with -W, so a broken link or cross-reference fails CI. Nothing here
imports theanine: the site is built from the pages alone.
"""

project = "theanine"
author = "the theanine developers"
copyright = "the theanine developers"

extensions = ["myst_parser"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build"]

# Headings down to ### get GitHub-style anchors, so `[x](scan.md#taps)` links work
# both on the site and when the Markdown files are read on a forge.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

html_theme = "pydata_sphinx_theme"
html_title = "theanine"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_static_path = []
