"""Assemble the README's documentation section from docs/*.md.

The README keeps its own introduction; everything between the DOCS:START and
DOCS:END markers is generated from the files in docs/, in ORDER (others follow
alphabetically). `python tools/build_readme.py --check` exits 1 if the README
is out of date (the test suite runs it).
"""

from __future__ import annotations

import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
START, END = "<!-- DOCS:START -->", "<!-- DOCS:END -->"
ORDER = ["function", "math_grad", "indexing", "shape_ops", "linalg", "random", "scan",
         "nnet", "conv_pool", "ifelse_custom_ops", "rewrites", "numba", "printing_config"]


def doc_files():
    docs = {p.stem: p for p in (ROOT / "docs").glob("*.md")}
    ordered = [docs.pop(name) for name in ORDER if name in docs]
    return ordered + [docs[k] for k in sorted(docs)]


def build():
    readme = (ROOT / "README.md").read_text()
    if START not in readme or END not in readme:
        raise SystemExit(f"README.md lacks the {START} / {END} markers")
    head, rest = readme.split(START, 1)
    _, tail = rest.split(END, 1)
    body = "\n\n".join(p.read_text().strip() for p in doc_files())
    note = ("<!-- Generated from docs/*.md by tools/build_readme.py; edit those files. -->")
    return f"{head}{START}\n{note}\n\n{body}\n\n{END}{tail}"


def main(argv):
    new = build()
    path = ROOT / "README.md"
    if "--check" in argv:
        if path.read_text() != new:
            print("README.md is out of date: run python tools/build_readme.py")
            return 1
        return 0
    path.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
