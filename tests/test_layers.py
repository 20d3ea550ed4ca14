"""The layers stay visible: behaviour that does not depend on import order."""

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]

_RULE_EXAMPLE = r'''
import doctest, pathlib, sys
text = pathlib.Path(sys.argv[1]).read_text()
start = text.index("## Writing a rule")
end = text.find("\n#", start + 1)
section = text[start:end if end > 0 else len(text)]
assert "rewrite_outputs" in section, "the example moved: update tests/test_layers.py"
globs = {}
exec("import theanine.tensor as T\nx = T.dvector('x')", globs)
test = doctest.DocTestParser().get_doctest(section, globs, "writing_a_rule", sys.argv[1], 0)
assert test.examples, "no doctest examples in the section"
runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS)
runner.run(test)
sys.exit(1 if runner.failures else 0)
'''


def test_rule_example_rewrites_in_a_fresh_interpreter():
    """docs/rewrites.md's "Writing a rule" (a rule for (Elemwise, Tanh)) fires in a new
    process that compiled nothing before: Elemwise's dispatch on its scalar op is
    registered with Elemwise, not when the rewrites happen to be imported."""
    res = subprocess.run([sys.executable, "-c", _RULE_EXAMPLE, str(ROOT / "docs" / "rewrites.md")],
                         capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 0, res.stdout + res.stderr
