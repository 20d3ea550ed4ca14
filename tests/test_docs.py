"""Documentation: the manual's pages (docs/**/*.md), the README and the package READMEs.

- Every `>>>` example runs as a doctest (each file in its own namespace).
- Every other ```python block runs too, the blocks of one file in order in one namespace.
- Every relative link points at a file that exists and, into a Markdown file, at a
  heading that exists (GitHub's anchors, which the site uses too).
- The site builds with Sphinx with warnings as errors, so a broken cross-reference or a
  page left out of every toctree fails here.
"""

import doctest
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(p for p in DOCS.rglob("*.md") if "_build" not in p.relative_to(DOCS).parts)
READMES = [ROOT / "README.md", ROOT / "benchmarks" / "README.md",
           ROOT / "benchmarks" / "RESULTS.md"] + sorted((ROOT / "theanine").rglob("README.md"))
FILES = PAGES + READMES

FENCE = re.compile(r"^(```+|~~~+)([^\n]*)\n(.*?)^\1[ \t]*$", re.S | re.M)
LINK = re.compile(r"(?<!!)\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def _name(p):
    return str(p.relative_to(ROOT))


def _prose(text):
    """The text outside fenced code blocks and inline code spans."""
    return re.sub(r"`+[^`\n]*`+", "", FENCE.sub("", text))


def _slug(heading):
    """GitHub's anchor for a heading (MyST's myst_heading_anchors makes the same)."""
    text = re.sub(r"`([^`]*)`", r"\1", heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def _anchors(path):
    return {_slug(h) for h in HEADING.findall(FENCE.sub("", path.read_text()))}


def _python_blocks(path):
    return [body for fence, info, body in FENCE.findall(path.read_text())
            if info.strip() in ("python", "py") and ">>>" not in body]


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_markdown_doctests(path):
    from theanine import config

    with config.change_flags(floatX="float64"):
        result = doctest.testfile(str(path), module_relative=False,
                                  optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
    assert result.failed == 0, f"{result.failed} doctest example(s) failed in {_name(path)}"


@pytest.mark.parametrize("path", [p for p in FILES if _python_blocks(p)], ids=_name)
def test_python_blocks_run(path):
    from theanine import config

    namespace = {"__name__": "__docs__"}
    with config.change_flags(floatX="float64"):
        for k, block in enumerate(_python_blocks(path)):
            code = compile(block, f"{_name(path)} (python block {k + 1})", "exec")
            exec(code, namespace)


@pytest.mark.parametrize("path", FILES, ids=_name)
def test_relative_links_resolve(path):
    broken = []
    for target in LINK.findall(_prose(path.read_text())):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists():
            broken.append(f"{target}: no file {dest}")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target}: no heading with anchor #{anchor} in {_name(dest)}")
    assert not broken, f"broken links in {_name(path)}:\n" + "\n".join(broken)


def test_slug_matches_github():
    assert _slug("Running unmodified Theano scripts: `python -m theanine run`") == \
        "running-unmodified-theano-scripts-python--m-theanine-run"
    assert _slug("Differences from Theano 1.0") == "differences-from-theano-10"
    assert _slug("`T.nlinalg` (NumPy's linear algebra)") == "tnlinalg-numpys-linear-algebra"


def test_site_builds_without_warnings(tmp_path):
    out = tmp_path / "html"
    res = subprocess.run(
        [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-q", "-b", "html",
         "-d", str(tmp_path / "doctrees"), str(DOCS), str(out)],
        capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, (f"sphinx-build failed (the dev extra installs sphinx):\n"
                                 f"{res.stdout}\n{res.stderr}")
    missing = [_name(p) for p in PAGES
               if not (out / p.relative_to(DOCS).with_suffix(".html")).exists()]
    assert not missing, f"pages without an HTML page: {missing}"


def test_readme_quick_start_runs():
    import numpy as np

    import theanine as theano
    import theanine.tensor as T

    x = T.matrix("x")
    w = theano.shared(np.zeros((3, 2), dtype=theano.config.floatX), name="w")
    cost = T.sum(T.tanh(T.dot(x, w)) ** 2)
    train = theano.function([x], cost, updates=[(w, w - 0.1 * T.grad(cost, w))])
    assert float(train(np.ones((4, 3)))) == 0.0
    w.set_value(np.full((3, 2), 0.1))
    xv = np.arange(12.0).reshape(4, 3) / 10
    expected = np.sum(np.tanh(xv @ np.full((3, 2), 0.1)) ** 2)
    np.testing.assert_allclose(train(xv), expected)
    assert not np.allclose(w.get_value(), 0.1)  # the update was applied
    readme = (ROOT / "README.md").read_text()
    assert "train = theano.function([x], cost, updates=[(w, w - 0.1 * T.grad(cost, w))])" \
        in readme
