"""debugprint, pp, pydotprint and the Print op."""

import io
import shutil

import numpy as np
import pytest

import theanine as theano
import theanine.tensor as T
from theanine import printing
from theanine.printing import Print, char_from_number, debugprint, pp, pydotprint


@pytest.fixture
def xy():
    return T.dvector("x"), T.dvector("y")


def test_char_from_number():
    assert [char_from_number(n) for n in (0, 1, 25, 26, 27, 26 * 26)] == [
        "A", "B", "Z", "BA", "BB", "BAA"]


def test_debugprint_tree_format(xy):
    x, y = xy
    z = T.tanh(x + y) * x
    text = debugprint(z, file="str")
    assert text.splitlines() == [
        "Elemwise{mul} [id A] ''",
        " |Elemwise{tanh} [id B] ''",
        " | |Elemwise{add} [id C] ''",
        " |   |x [id D]",
        " |   |y [id E]",
        " |x [id D]",
    ]


def test_debugprint_repeated_subgraph_is_a_reference(xy):
    x, y = xy
    h = T.exp(x + y)
    z = h * h
    lines = debugprint(z, file="str").splitlines()
    assert lines[1] == " |Elemwise{exp} [id B] ''"
    # The second use of h repeats its id and does not expand it again.
    assert lines[-1] == " |Elemwise{exp} [id B] ''"
    assert sum("Elemwise{add}" in ln for ln in lines) == 1


def test_debugprint_names_types_and_ids_options(xy):
    x, y = xy
    z = x + y
    z.name = "z"
    text = debugprint(z, file="str", print_type=True, ids="int")
    assert text.splitlines()[0] == "Elemwise{add} [id 0] <TensorType(float64, vector)> 'z'"
    assert "x [id 1] <TensorType(float64, vector)>" in text
    assert debugprint(z, file="str", ids="").splitlines()[1] == " |x"
    with pytest.raises(ValueError, match="ids must be one of"):
        debugprint(z, file="str", ids="hex")


def test_debugprint_depth_and_stop_on_name(xy):
    x, y = xy
    a = x * y
    a.name = "a"
    z = T.exp(a) + 1.0
    assert len(debugprint(z, file="str", depth=1).splitlines()) == 1
    assert len(debugprint(z, file="str", depth=2).splitlines()) == 3
    text = debugprint(z, file="str", stop_on_name=True)
    assert "Elemwise{mul} [id C] 'a'" in text and "x [id" not in text


def test_debugprint_constant_uses_theano_form(xy):
    x, _ = xy
    text = debugprint(x * 2.0, file="str")
    assert "TensorConstant{(1,) of 2.0}" in text
    assert "TensorConstant{2.0}" in debugprint(T.dscalar("s") * 2.0, file="str")


def test_debugprint_list_apply_and_shared_done(xy):
    x, y = xy
    a = x + y
    b = a * y
    text = debugprint([a, b], file="str")
    lines = text.splitlines()
    assert lines[0] == "Elemwise{add} [id A] ''"
    # b's input a was printed already: one line, same id
    assert " |Elemwise{add} [id A] ''" in lines
    assert debugprint(a.owner, file="str") == debugprint(a, file="str")
    done = {}
    debugprint(a, file=io.StringIO(), done=done)
    again = debugprint(b, file="str", done=done)
    assert " |Elemwise{add} [id A] ''" in again.splitlines()


def test_debugprint_function_shows_execution_order(xy):
    x, y = xy
    f = theano.function([x, y], T.tanh(x * y), mode="FAST_COMPILE")
    lines = debugprint(f, file="str").splitlines()
    assert lines[0].startswith("Elemwise{tanh} [id A] ''")
    assert lines[0].endswith(" 1")
    assert lines[1].endswith(" 0")


def test_debugprint_print_storage_shows_shared_values():
    w = theano.shared(np.array([1.5, 2.5]), name="w")
    x = T.dvector("x")
    f = theano.function([x], x * w)
    assert "w [id C] [1.5 2.5]" in debugprint(f, file="str", print_storage=True)


def test_debugprint_stdout_and_file(xy, capsys):
    x, y = xy
    assert debugprint(x + y) is None
    assert "Elemwise{add}" in capsys.readouterr().out
    buf = io.StringIO()
    assert debugprint(x + y, file=buf) is buf
    assert "Elemwise{add}" in buf.getvalue()
    assert theano.dprint is debugprint


def test_debugprint_bad_object():
    with pytest.raises(TypeError, match="debugprint: obj must be"):
        debugprint("not a graph", file="str")


def test_debugprint_scan_inner_graph():
    x = T.dvector("x")
    ys, _ = theano.scan(lambda v: T.tanh(v) * 2.0, sequences=[x])
    text = debugprint(ys, file="str")
    assert "Inner graphs:" in text
    inner = text.split("Inner graphs:")[1]
    assert " >Elemwise{mul}" in inner and "Elemwise{tanh}" in inner


def test_debugprint_deep_graph_does_not_recurse():
    x = T.dvector("x")
    y = x
    for _ in range(3000):
        y = T.tanh(y)
    text = debugprint(y, file="str", depth=5)
    assert len(text.splitlines()) == 5
    # Full depth: iterative, so no RecursionError (3000 levels > recursion limit).
    # Every MAX_NESTING levels the chain continues unindented: one line more each.
    lines = debugprint(y, file="str", ids="").splitlines()
    assert len(lines) == 3001 + 3000 // printing.MAX_NESTING
    assert max(map(len, lines)) <= 2 * printing.MAX_NESTING + 40


# -- pp ----------------------------------------------------------------------------
def test_pp_infix(xy):
    x, y = xy
    assert pp(x + y * 2) == "(x + (y * 2.0))"  # weak 2 takes y's dtype
    i = T.ivector("i")
    assert pp(i + 2) == "(i + 2)"
    assert pp(-(x - y) / y) == "(-(x - y) / y)"
    assert pp(x ** 2 // y % 3) == "(((x ** 2.0) // y) % 3.0)"
    assert pp(T.tanh(x) < y) == "(tanh(x) < y)"
    assert pp(x) == "x"


def test_pp_functions_transpose_and_unnamed():
    w = T.dmatrix("w")
    v = T.dmatrix()
    assert pp(T.exp(w.T)) == "exp(w.T)"
    assert pp(T.log(v)) == "log(<TensorType(float64, matrix)>)"
    assert pp(w.sum(axis=0)).endswith("(w)")


def test_pp_assign_custom_printer(xy):
    x, y = xy
    printer = printing.pprint.clone()
    printer.assign(lambda var: var.owner.op == T.exp(x).owner.op,
                   lambda var, args: f"e^{args[0]}")
    assert printer(T.exp(x) + y) == "(e^x + y)"
    assert pp(T.exp(x)) == "exp(x)"  # the shared printer is untouched
    with pytest.raises(TypeError, match="pp: expected a symbolic variable"):
        pp(3)


def test_pp_deep_graph_does_not_recurse():
    x = T.dscalar("x")
    y = x
    for _ in range(2000):
        y = -y
    assert pp(y) == "-" * 2000 + "x"


# -- pydotprint ----------------------------------------------------------------------
def test_pydotprint_dot_source_needs_no_graphviz(tmp_path, xy):
    x, y = xy
    s = theano.shared(np.zeros(2), name="s")
    f = theano.function([x, y], T.tanh(x + y) * s, mode="FAST_COMPILE")
    out = tmp_path / "g.dot"
    pydotprint(f, outfile=str(out), format="dot", print_output_file=False)
    src = out.read_text()
    assert src.startswith("digraph G {") and src.rstrip().endswith("}")
    assert '"Elemwise{tanh}"' in src and '"Elemwise{add}"' in src
    assert 'label="x TensorType(float64, vector)"' in src
    assert "limegreen" in src and "cyan" in src and "dodgerblue" in src
    data = pydotprint(x * 2.0, format="dot", return_image=True)
    assert b"constant 2.0" in data


def test_pydotprint_bad_argument():
    with pytest.raises(TypeError, match="pydotprint: fct must be"):
        pydotprint(42, format="dot", return_image=True)


@pytest.mark.skipif(shutil.which("dot") is None,
                    reason="the Graphviz 'dot' program is not installed")
def test_pydotprint_png_and_svg(tmp_path, xy, capsys):
    pytest.importorskip("graphviz", reason="the graphviz Python package is not installed")
    x, y = xy
    out = tmp_path / "g.png"
    pydotprint(T.exp(x) + y, outfile=str(out))
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(out) in capsys.readouterr().out
    svg = pydotprint(T.exp(x) + y, format="svg", return_image=True)
    assert b"<svg" in svg


def test_pydotprint_without_dot_binary_raises_clearly(monkeypatch, xy):
    x, y = xy
    monkeypatch.setattr(printing.shutil, "which", lambda name: None)
    pytest.importorskip("graphviz", reason="the graphviz Python package is not installed")
    with pytest.raises(RuntimeError, match="Graphviz 'dot' program"):
        pydotprint(x + y, format="png", return_image=True)


# -- Print -----------------------------------------------------------------------------
def test_print_op_prints_and_is_identity(capsys):
    x = T.dvector("x")
    y = Print("x is")(x) * 2
    f = theano.function([x], y)
    np.testing.assert_allclose(f(np.array([1.0, 2.0])), [2.0, 4.0])
    assert capsys.readouterr().out == "x is __str__ = [1. 2.]\n"
    p = Print("shape", attrs=("shape", "sum"))(x)
    theano.function([x], p)(np.ones(3))
    assert capsys.readouterr().out == "shape shape = (3,)\nshape sum = 3.0\n"


def test_print_op_grad_and_props(capsys):
    x = T.dvector("x")
    g = theano.grad((Print("v")(x) ** 2).sum(), x)
    np.testing.assert_allclose(theano.function([x], g)(np.array([1.0, 3.0])), [2.0, 6.0])
    capsys.readouterr()
    assert Print("a") == Print("a") and Print("a") != Print("b")
    seen = []
    theano.function([x], Print("m", global_fn=lambda op, v: seen.append(v.sum()))(x))(
        np.ones(2))
    assert seen == [2.0]
    with pytest.raises(TypeError, match="attrs must be a tuple"):
        Print("m", attrs="shape")


def test_pp_indexing():
    x = T.dmatrix("x")
    i = T.iscalar("i")
    v = T.ivector("v")
    assert pp(x[1:3, i]) == "x[1:3, i]"
    assert pp(x[i, ::2]) == "x[i, ::2]"
    assert pp(x[:, -1]) == "x[:, -1]"
    assert pp(x[i:i + 2]) == "x[i:(i + 2)]"
    assert pp(x[v] * 2.0) == "(x[v] * 2.0)"


# -- output size is linear in the graph (issue 13, item 9) ---------------------------
def _chain(n):
    y = T.dvector("x")
    for _ in range(n):
        y = T.tanh(y) + 1.0
    return y


def test_debugprint_output_is_linear_in_depth():
    # 20k nodes printed 601 million characters when every level indented further
    small, big = (len(debugprint(_chain(n), file="str")) for n in (5000, 10000))
    assert big < 2.05 * small
    assert big < 20000 * (2 * printing.MAX_NESTING + 60)


def test_debugprint_deep_subtree_continues_unindented(monkeypatch, xy):
    monkeypatch.setattr(printing, "MAX_NESTING", 2)
    x, y = xy
    a = T.log(x) + y
    z = T.exp(T.tanh(a))
    assert debugprint(z, file="str").splitlines() == [
        "Elemwise{exp} [id A] ''",
        " |Elemwise{tanh} [id B] ''",
        "   |Elemwise{add} [id C] ''" + printing.CONTINUED,
        "Elemwise{add} [id C] ''",
        " |Elemwise{log} [id D] ''",
        " | |x [id E]",
        " |y [id F]",
    ]
    # a reference to the continued node stays a reference; depth still counts levels
    text = debugprint([z, a], file="str").splitlines()
    assert text[-1] == "Elemwise{add} [id C] ''" and text.count(text[-1]) == 2
    assert len(debugprint(z, file="str", depth=3).splitlines()) == 3


def test_pp_deep_chain_is_linear():
    small, big = (len(pp(_chain(n))) for n in (5000, 10000))
    assert big == 2 * small - 1  # "(tanh(" + ... + " + 1.0)" per level, x once


def test_pp_names_repeated_subexpressions(monkeypatch, xy):
    x, y = xy
    a = x + y
    h = T.exp(a)
    assert pp(h * h) == "(exp((x + y)) * exp((x + y)))"  # short: printed in place
    monkeypatch.setattr(printing, "NAME_MIN", 5)
    assert pp(h * h + T.tanh(a)).splitlines() == [
        "((@2 * @2) + tanh(@1))",
        "@1 = (x + y)",
        "@2 = exp(@1)",
    ]


def test_pp_of_a_dag_with_repeats_is_linear():
    x = T.dvector("x")
    y = x
    for _ in range(200):  # each level uses the one below 3 times: 3**200 inline
        y = y * y + y
    text = pp(y)
    assert len(text) < 200 * 80
    assert text.splitlines()[1] == "@1 = ((((x * x) + x) * ((x * x) + x)) + ((x * x) + x))"
