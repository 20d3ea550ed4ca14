"""Looking at graphs: debugprint (text tree), pp (infix formula), pydotprint
(Graphviz picture); the Print op (prints a value at run time) lives in
theanine/tensor/python_ops.py and is re-exported here.

Invariants:
- Every walk here is iterative (explicit stacks or a toposort), so graphs of
  100,000+ nodes never hit Python's recursion limit.
- debugprint gives each Apply node (and each root variable) one id, in the
  order first printed; a node met again is printed as one line with its id and
  without its inputs, which is Theano's reference to the earlier subtree. A node
  MAX_NESTING levels deep is printed with "(continued below)" and its subtree
  follows, unindented, after the tree that holds it: lines are at most
  2 * MAX_NESTING characters of indentation plus their text, so the output is
  linear in the number of nodes.
- pp builds each node's text as a template of its own characters and references
  to its inputs' texts and joins them once at the end (no string is copied per
  level), and names a subexpression used more than once whose text is longer than
  NAME_MIN characters (``@1``, defined on lines after the formula), so a DAG
  whose subexpressions repeat prints in linear size.
"""

from __future__ import annotations

import io
import itertools
import os
import shutil
import sys
import tempfile

import numpy as np

from theanine.compile.function import Function
from theanine.compile.io import In, Out
from theanine.graph.basic import Apply, Constant, Op, Variable
from theanine.graph.fgraph import FunctionGraph
from theanine.graph.traversal import toposort
from theanine.tensor.python_ops import Print, _print_fn  # noqa: F401 - Theano's theano.printing.Print

__all__ = ["debugprint", "dprint", "pp", "pprint", "PPrinter", "pydotprint", "Print",
           "char_from_number"]

_IDS = ("CHAR", "int", "id", "")
# Deeper subtrees continue as trees of their own (indentation would make the output
# grow with the square of the depth: 601 million characters for a 20,000-node chain).
MAX_NESTING = 64
CONTINUED = "  (continued below)"


def char_from_number(number):
    """0 -> 'A', 25 -> 'Z', 26 -> 'BA' (base 26 with digits A..Z, as Theano)."""
    digits = ""
    while True:
        number, rem = divmod(number, 26)
        digits = chr(ord("A") + rem) + digits
        if number == 0:
            return digits


# -- debugprint -----------------------------------------------------------------
def debugprint(obj, depth=-1, print_type=False, file=None, ids="CHAR", stop_on_name=False,
               done=None, print_storage=False, used_ids=None):
    """Print a graph as an indented tree, one line per variable.

    obj: a Variable, an Apply, a compiled Function, a FunctionGraph, or a list of
    these. depth: levels to print (-1: all). print_type: append each variable's
    type. file: a stream, None (stdout) or 'str' (return the text). ids: 'CHAR'
    ([id A]), 'int' ([id 0]), 'id' (Python ids) or '' (none). stop_on_name: do
    not expand the inputs of named variables. done / used_ids: dicts shared
    between calls so that ids and "already printed" carry over. print_storage:
    append the values of constants and shared variables.

    A compiled function's nodes also show their position in the execution order.
    """
    if ids not in _IDS:
        raise ValueError(f"debugprint: ids must be one of {_IDS}, got {ids!r}")
    out = io.StringIO() if file == "str" else (sys.stdout if file is None else file)
    done = {} if done is None else done
    used_ids = done if used_ids is None else used_ids
    roots = []  # (variable, {id(node): position} or None)
    for item in obj if isinstance(obj, (list, tuple)) else [obj]:
        roots.extend(_roots_of(item, out))
    inner_ops = []
    for var, order in roots:
        _print_tree(var, order, depth, print_type, ids, stop_on_name, print_storage, done,
                    used_ids, out, "", inner_ops)
    if inner_ops:
        print("", file=out)
        print("Inner graphs:", file=out)
        shown = set()
        while inner_ops:
            var = inner_ops.pop(0)
            if id(var.owner) in shown:
                continue
            shown.add(id(var.owner))
            print("", file=out)
            _print_tree(var, None, 1, print_type, ids, False, print_storage, {}, used_ids,
                        out, "", [])
            for inner in _inner_outputs(var.owner.op):
                _print_tree(inner, None, depth, print_type, ids, stop_on_name,
                            print_storage, {}, used_ids, out, " >", inner_ops)
    if file == "str":
        return out.getvalue()
    if file is not None:
        return file
    out.flush()
    return None


def _roots_of(item, out):
    if isinstance(item, Variable):
        return [(item, None)]
    if isinstance(item, Apply):
        return [(o, None) for o in item.outputs]
    if isinstance(item, (In, Out)):
        return [(item.variable, None)]
    fg = item.maker.fgraph if isinstance(item, Function) else item
    if isinstance(fg, FunctionGraph):
        order = {id(n): k for k, n in enumerate(fg.toposort())}
        return [(o, order) for o in fg.outputs]
    if isinstance(item, (int, float, np.ndarray, np.generic)):
        print(item, file=out)
        return []
    raise TypeError(f"debugprint: obj must be a Variable, Apply, Function, FunctionGraph or "
                    f"a list of these, got {type(item).__name__}: {item!r}")


def _inner_outputs(op):
    """Outputs of an op's inner graph (scan, OpFromGraph), or []."""
    inner = getattr(op, "inner_outputs", None)
    if inner is None and getattr(op, "fgraph", None) is not None:
        inner = op.fgraph.outputs
    return list(inner or [])


def _id_of(obj, ids, used_ids):
    if obj not in used_ids:
        n = len(used_ids)
        used_ids[obj] = {"CHAR": f"[id {char_from_number(n)}]", "int": f"[id {n}]",
                         "id": f"[id {id(obj)}]", "": ""}[ids]
    return used_ids[obj]


def _storage_str(var):
    if isinstance(var, Constant):
        return f" {var.data}"
    get_value = getattr(var, "get_value", None)
    return f" {get_value(borrow=True)}" if get_value is not None else ""


def _print_tree(top, order, depth, print_type, ids, stop_on_name, print_storage, done,
                used_ids, out, prefix, inner_ops):
    """Print the tree under `top`; subtrees deeper than MAX_NESTING levels continue
    as trees of their own after it (see module doc), so that the output stays linear
    in the number of nodes."""
    pending = [(top, depth)]
    while pending:
        root, dep = pending.pop(0)
        _print_one_tree(root, root is not top, order, dep, print_type, ids, stop_on_name,
                        print_storage, done, used_ids, out, prefix, inner_ops, pending)


def _print_one_tree(top, continued, order, depth, print_type, ids, stop_on_name,
                    print_storage, done, used_ids, out, prefix, inner_ops, pending):
    """Pre-order walk with an explicit stack of (var, prefix, child prefix, depth,
    level). `continued`: `top` was cut from a deeper tree and is expanded here."""
    stack = [(top, prefix, prefix, depth, 0)]
    while stack:
        var, pre, pre_child, dep, level = stack.pop()
        if dep == 0:
            continue
        type_str = f" <{var.type}>" if print_type else ""
        node = var.owner
        if node is None:
            data = _storage_str(var) if print_storage else ""
            line = f"{pre}{var} {_id_of(var, ids, used_ids)}{type_str}{data}"
            done.setdefault(var, used_ids[var])
            print(line.rstrip(), file=out)
            continue
        already = node in done and not (continued and var is top)
        id_str = _id_of(node, ids, used_ids)
        done[node] = id_str
        idx = "" if len(node.outputs) == 1 else f".{var.index}"
        pos = str(order[id(node)]) if order and id(node) in order else ""
        name = var.name if var.name is not None else ""
        expand = not already and not (stop_on_name and var.name is not None)
        cut = expand and node.inputs and level >= MAX_NESTING and dep != 1
        more = CONTINUED if cut else ""
        print(f"{pre}{node.op}{idx} {id_str}{type_str} '{name}'   {pos}".rstrip() + more,
              file=out)
        if _inner_outputs(node.op) and not already:
            inner_ops.append(var)
        if cut:
            pending.append((var, dep))
            continue
        if not expand:
            continue
        last = len(node.inputs) - 1
        for k in range(last, -1, -1):
            child_pre = pre_child + ("  " if k == last else " |")
            stack.append((node.inputs[k], pre_child + " |", child_pre, dep - 1, level + 1))


dprint = debugprint


# -- pp -------------------------------------------------------------------------
_INFIX = {"Add": "+", "Sub": "-", "Mul": "*", "TrueDiv": "/", "IntDiv": "//", "Mod": "%",
          "Pow": "**", "EQ": "==", "NEQ": "!=", "LT": "<", "LE": "<=", "GT": ">",
          "GE": ">=", "AND": "&", "OR": "|", "XOR": "^"}
_PREFIX = {"Neg": "-", "Invert": "~"}
_MARK = "\x00"  # brackets an input's position in a template (see PPrinter.__call__)
NAME_MIN = 40  # a repeated subexpression longer than this is named once


class PPrinter:
    """Infix pretty printer. Every binary operation is parenthesised, so the
    text reads unambiguously: ``pp(x + y * 2) == '(x + (y * 2))'``.

    ``assign(condition, printer)``: condition is an Op (equal ops match), an Op
    class, or a predicate on the variable; printer(var, input_strings) -> str.
    Later assignments take precedence over earlier ones and the built-in rules.
    """

    def __init__(self):
        self.printers = []

    def assign(self, condition, printer):
        self.printers.insert(0, (condition, printer))

    def clone(self):
        cp = PPrinter()
        cp.printers = list(self.printers)
        return cp

    def __call__(self, var):
        if isinstance(var, (list, tuple)):
            return "\n".join(self(v) for v in var)
        if not isinstance(var, Variable):
            raise TypeError(f"pp: expected a symbolic variable, got {type(var).__name__}: "
                            f"{var!r}")
        nodes = toposort([var])
        uses = {}
        for node in nodes:
            for i in node.inputs:
                uses[id(i)] = uses.get(id(i), 0) + 1
        tmpl, size, names, defs = {}, {}, {}, []
        for node in nodes:
            args, custom = [], None
            for k, i in enumerate(node.inputs):
                if id(i) in names:
                    args.append(names[id(i)])
                elif id(i) in tmpl:
                    args.append(f"{_MARK}{k}{_MARK}")
                else:
                    args.append(self._leaf(i))
            for o in node.outputs:
                printer = self._printer_of(o)
                if printer is default_pp:
                    text = printer(o, args)
                else:  # a printer of the user's sees the inputs' full texts
                    if custom is None:
                        custom = [self._join(id(i), tmpl, names) if a.startswith(_MARK)
                                  else a for a, i in zip(args, node.inputs)]
                    text = printer(o, custom).replace(_MARK, "")
                parts, n = [], 0
                for j, piece in enumerate(text.split(_MARK)):
                    if j % 2 == 0:
                        parts.append(piece)
                        n += len(piece)
                    else:
                        ref = id(node.inputs[int(piece)])
                        parts.append(ref)
                        n += size[ref]
                tmpl[id(o)], size[id(o)] = parts, n
                if o is not var and uses.get(id(o), 0) > 1 and n > NAME_MIN:
                    names[id(o)] = f"@{len(defs) + 1}"
                    defs.append(id(o))
        if id(var) not in tmpl:
            return self._leaf(var)
        lines = [self._join(id(var), tmpl, names)]
        lines += [f"{names[k]} = {self._join(k, tmpl, names)}" for k in defs]
        return "\n".join(lines)

    @staticmethod
    def _join(key, tmpl, names):
        """The text of the variable with id `key`: its template, with the texts of
        unnamed inputs inserted (an explicit stack: graphs may be deep)."""
        pieces, stack = [], [iter(tmpl[key])]
        while stack:
            for part in stack[-1]:
                if type(part) is str:
                    pieces.append(part)
                elif part in names:
                    pieces.append(names[part])
                else:
                    stack.append(iter(tmpl[part]))
                    break
            else:
                stack.pop()
        return "".join(pieces)

    process = __call__

    def _leaf(self, var):
        if var.name is not None:
            return var.name
        if isinstance(var, Constant):
            data = np.asarray(var.data)
            if data.size == 1:  # scalars, and literals padded to the operand's ndim
                return str(data.reshape(()).item())
            return np.array2string(data, separator=", ")
        return f"<{var.type}>"

    def _printer_of(self, var):
        op = var.owner.op
        for cond, printer in self.printers:
            if (cond(var) if callable(cond) and not isinstance(cond, (Op, type))
                    else (isinstance(op, cond) if isinstance(cond, type) else op == cond)):
                return printer
        return default_pp


def default_pp(var, args):
    """The built-in rules: infix arithmetic, transparent broadcasting, f(args)."""
    node = var.owner
    op = node.op
    sop = getattr(op, "scalar_op", None)
    if sop is not None:
        kind = type(sop).__name__
        if kind in _INFIX and len(args) >= 2:
            return "(" + f" {_INFIX[kind]} ".join(args) + ")"
        if kind in _PREFIX and len(args) == 1:
            return f"{_PREFIX[kind]}{args[0]}"
        return f"{sop}({', '.join(args)})"
    if type(op).__name__ == "DimShuffle":
        order = [d for d in op.new_order if d != "x"]
        if order == sorted(order):
            return args[0]  # only adds or drops broadcastable dims
        if order == list(range(len(op.input_broadcastable)))[::-1]:
            return f"{args[0]}.T"
    pattern = getattr(op, "idx_list", None)
    if type(op).__name__ in ("Subtensor", "AdvancedSubtensor") and pattern is not None:
        return f"{args[0]}[{_index_text(pattern, args[1:])}]"
    name = type(op).__name__.lower() if not op.__props__ else str(op)
    call = f"{name}({', '.join(args)})"
    return call if len(node.outputs) == 1 else f"{call}.{var.index}"


def _index_text(pattern, slot_texts):
    """x[...] text of a subtensor pattern: ints, slices, and "s"/"a" slot inputs."""
    slots = iter(slot_texts)

    def part(q):
        return "" if q is None else (next(slots, "?") if q in ("s", "a") else str(q))

    items = []
    for p in pattern:
        if isinstance(p, tuple):
            text = f"{part(p[1])}:{part(p[2])}"
            items.append(text + (f":{part(p[3])}" if p[3] is not None else ""))
        else:
            items.append(part(p))
    return ", ".join(items) if items else ":"


pprint = PPrinter()
pp = pprint


# -- pydotprint -------------------------------------------------------------------
_COLORS = {"input": "limegreen", "shared": "cyan", "constant": "lightgray",
           "output": "dodgerblue", "apply": "#FFAABB"}
_SOURCE_FORMATS = ("dot", "gv", "canon")


def pydotprint(fct, outfile=None, compact=True, format="png", with_ids=False,
               high_contrast=True, max_label_size=70, var_with_name_simple=False,
               print_output_file=True, return_image=False):
    """Draw the graph of `fct` (a compiled Function, a FunctionGraph, a Variable
    or a list of Variables) with Graphviz.

    Apply nodes are ellipses; inputs (green), shared variables (cyan),
    constants (gray) and outputs (blue) are boxes. With compact, unnamed
    intermediate results are edges rather than boxes. format 'dot' writes the
    Graphviz source and needs nothing installed; other formats ('png', 'svg',
    'pdf', ...) need the `graphviz` Python package and the Graphviz `dot` program.
    return_image: return the bytes instead of writing a file.
    """
    src = graph_to_dot(fct, compact=compact, with_ids=with_ids, high_contrast=high_contrast,
                       max_label_size=max_label_size,
                       var_with_name_simple=var_with_name_simple)
    if format in _SOURCE_FORMATS:
        data = src.encode()
    else:
        data = _render(src, format)
    if return_image:
        return data
    if outfile is None:
        outfile = os.path.join(tempfile.gettempdir(), f"theano.pydotprint.cpu.{format}")
    with open(outfile, "wb") as fh:
        fh.write(data)
    if print_output_file:
        print(f"The output file is available at {outfile}")
    return None


def _render(src, format):
    try:
        import graphviz
    except ImportError:
        raise RuntimeError(f"pydotprint: format={format!r} needs the 'graphviz' Python "
                           "package (pip install graphviz); format='dot' writes the "
                           "Graphviz source without it") from None
    if shutil.which("dot") is None:
        raise RuntimeError(f"pydotprint: format={format!r} needs the Graphviz 'dot' program, "
                           "which is not on PATH; install Graphviz (e.g. apt-get install "
                           "graphviz) or use format='dot' to write the source")
    return graphviz.Source(src).pipe(format=format)


def _quote(text, limit):
    text = str(text)
    if len(text) > limit:
        text = text[:limit - 3] + "..."
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def graph_to_dot(fct, compact=True, with_ids=False, high_contrast=True, max_label_size=70,
                 var_with_name_simple=False):
    """The Graphviz (DOT language) source of pydotprint's picture."""
    fg = fct.maker.fgraph if isinstance(fct, Function) else fct
    if isinstance(fg, FunctionGraph):
        inputs, outputs = fg.inputs, fg.outputs
    elif isinstance(fct, Variable) or (isinstance(fct, (list, tuple))
                                       and all(isinstance(v, Variable) for v in fct)):
        outputs = [fct] if isinstance(fct, Variable) else list(fct)
        inputs = []
    else:
        raise TypeError("pydotprint: fct must be a Function, FunctionGraph, Variable or list "
                        f"of Variables, got {type(fct).__name__}")
    style = "filled" if high_contrast else "solid"
    lines = ["digraph G {", "  graph [ordering=in];"]
    names = {}
    counter = itertools.count()
    out_ids = {id(v) for v in outputs}
    input_ids = {id(v) for v in inputs}

    def var_box(v):
        if id(v) in names:
            return names[id(v)]
        names[id(v)] = key = f"v{next(counter)}"
        if isinstance(v, Constant):
            d = np.asarray(v.data)
            kind, label = "constant", f"constant {d.reshape(()) if d.size == 1 else d}"
        elif hasattr(v, "get_value"):
            kind, label = "shared", v.name or str(v.type)
        elif v.owner is None:
            kind, label = "input", v.name or str(v.type)
        else:
            kind, label = "output" if id(v) in out_ids else "apply", v.name or str(v.type)
        if v.name and not var_with_name_simple and kind != "constant":
            label = f"{v.name} {v.type}"
        if with_ids:
            label = f"{key} {label}"
        color = _COLORS[kind] if kind != "apply" else "white"
        lines.append(f"  {key} [label={_quote(label, max_label_size)}, shape=box, "
                     f"style={style}, fillcolor={_quote(color, 99)}];")
        return key

    nodes = toposort(outputs, stop_at=inputs)
    for k, node in enumerate(nodes):
        key = f"n{k}"
        label = f"{key} {node.op}" if with_ids else str(node.op)
        lines.append(f"  {key} [label={_quote(label, max_label_size)}, shape=ellipse, "
                     f"style={style}, fillcolor={_quote(_COLORS['apply'], 99)}];")
        for o in node.outputs:
            if id(o) in out_ids or not compact or o.name is not None:
                lines.append(f"  {key} -> {var_box(o)};")
            else:
                names[id(o)] = key  # compact: consumers draw an edge from the node
        for j, v in enumerate(node.inputs):
            src = names[id(v)] if id(v) in names else var_box(v)
            label = f"{j} {v.type}" if len(node.inputs) > 1 else str(v.type)
            lines.append(f"  {src} -> {key} [label={_quote(label, max_label_size)}];")
    for v in outputs:
        if v.owner is None or id(v) in input_ids:
            var_box(v)
    lines.append("}")
    return "\n".join(lines) + "\n"
