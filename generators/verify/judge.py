"""The trusted half of code verification: each test is split into *probes* (the parts that call the solution, run in
the sandbox) and a *skeleton* (everything else, evaluated here, in the parent, on plain data).

Over 400 lines: the test splitter and the skeleton evaluator are one whitelist read two ways (which nodes,
names, methods and attributes a test may use); apart, a node allowed by one and refused by the other would be a hole.

Why: a test like ``assert f(10) == 55`` run inside the sandbox calls ``==`` on whatever ``f`` returned, so an object
whose ``__eq__`` always answers True (a plain class, a ``str`` subclass) passes it; ``assert`` itself, the builtins
and the report channel share a process with the solution. Here the comparison happens outside that process, on
values the solution cannot have built: the sandbox converts what a probe returned into plain data by reading the
C-level contents of built-in types (`generators/verify/sandbox_child.py`, never calling a method of the solution's
objects), sends it as JSON, and this module rebuilds fresh Python objects from it and evaluates the rest of the test.

Plain data: None, bool, int, float, complex, str, bytes, bytearray, list, tuple, dict, set, frozenset, range; a
generator or other built-in iterator becomes an iterator over its (at most ``MAX_VALUES``) items; dict views stay
views. An instance of a subclass of a built-in type (``Counter``, ``defaultdict``, a namedtuple, an ``IntEnum``, a
``str`` subclass with a lying ``__eq__``) is read as its base type's contents: its own methods never run, so what
is compared is the data, not the object's claims about it. Anything else (a user class, a ``Fraction``) is not plain
data: a test that uses it fails, naming the type. Limits: ``MAX_DEPTH`` levels, ``MAX_VALUES`` values,
``MAX_CHARS`` characters of str/bytes per probe, integers up to ~4,300 digits.

A test is one or more ``assert`` statements (the message after a comma is ignored). Names in a test are either
**judge names** (the builtins and ``math`` members in `JUDGE_NAMES` / `MATH_NAMES`: the real ones, evaluated here,
even when the code rebinds the name by assignment or import, as in ``sorted = lambda xs: ...``) or **solution
names** (bound at the top level of the code: functions, classes, assignments, imports; a ``def`` or ``class`` named
like a builtin, ``def sum(a, b)``, is the code's, as Python would have it). Any other name (``globals``, ``setattr``, ``__import__``, a name the code
never binds) makes the test uncheckable, as do lambdas, comprehensions, assignment expressions and dunder
attributes: a test cannot mutate what another test sees. Probes are the maximal sub-expressions that involve a
solution name and that the skeleton cannot take apart: ``f(...)`` (its arguments are evaluated here when they do not
involve the solution, sent as plain data and rebuilt by trusted code in the sandbox, so a patched ``list`` or
``range`` in the solution's process cannot change a test's input), ``Stack().pop()``, a bare solution name. The
skeleton supports literals and displays, arithmetic, comparisons, ``and``/``or``/``not``, conditional expressions,
subscripts and slices, calls of judge names, and a fixed set of methods of plain values (``str.lower``,
``dict.items``, ...). Every probe of a test is evaluated in order (also one a short-circuit would skip; an exception
is only raised where the skeleton uses that probe's value). Sizes are bounded (``MAX_VALUES`` items, exponents,
shifts), so a test cannot make the parent allocate or loop without bound.
"""
from __future__ import annotations

import ast
import builtins
import math
import operator
from dataclasses import dataclass, field
from typing import Any

MAX_DEPTH = 50
MAX_VALUES = 100_000
MAX_CHARS = 1_000_000
MAX_INT_BITS = 14_000           # ~4,200 decimal digits (Python's own str conversion limit is 4,300)
MAX_TEST_NODES = 2_000

JUDGE_NAMES: dict[str, Any] = {n: getattr(builtins, n) for n in (
    "abs", "all", "any", "bin", "bool", "bytes", "chr", "complex", "dict", "divmod", "enumerate", "filter", "float",
    "frozenset", "hex", "int", "isinstance", "len", "list", "map", "max", "min", "oct", "ord", "pow", "range",
    "repr", "reversed", "round", "set", "sorted", "str", "sum", "tuple", "type", "zip")}
MATH_NAMES = frozenset({
    "isclose", "fabs", "sqrt", "floor", "ceil", "trunc", "pi", "e", "tau", "inf", "nan", "isnan", "isinf", "isfinite",
    "log", "log2", "log10", "exp", "gcd", "lcm", "factorial", "comb", "perm", "hypot", "dist", "fsum",
    "sin", "cos", "tan", "atan", "atan2", "degrees", "radians"})
_STR_METHODS = frozenset({
    "lower", "upper", "strip", "lstrip", "rstrip", "split", "rsplit", "startswith", "endswith", "count", "find",
    "rfind", "index", "rindex", "isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper", "isnumeric",
    "isdecimal", "istitle", "title", "capitalize", "casefold", "swapcase", "splitlines", "join", "replace"})
METHODS: dict[type, frozenset[str]] = {
    str: _STR_METHODS, bytes: _STR_METHODS - {"isnumeric", "isdecimal", "casefold"},
    list: frozenset({"count", "index", "copy"}), tuple: frozenset({"count", "index"}),
    dict: frozenset({"keys", "values", "items", "get", "copy"}),
    set: frozenset({"union", "intersection", "difference", "symmetric_difference", "issubset", "issuperset",
                    "isdisjoint", "copy"}),
    frozenset: frozenset({"union", "intersection", "difference", "symmetric_difference", "issubset", "issuperset",
                          "isdisjoint", "copy"}),
    int: frozenset({"bit_length"}), float: frozenset({"is_integer"}), complex: frozenset({"conjugate"})}
ATTRIBUTES = {complex: frozenset({"real", "imag"}), range: frozenset({"start", "stop", "step"})}
# Builtins a value may be (``int`` passed as an argument, a type returned): sent by name, resolved by trusted code
# on both sides. The sandbox child builds the same table from its own builtins before any untrusted code runs.
BUILTINS_BY_NAME: dict[str, Any] = {**JUDGE_NAMES, **{f"math.{n}": getattr(math, n) for n in sorted(MATH_NAMES)
                                                    if callable(getattr(math, n))}}
BUILTIN_NAMES: dict[int, str] = {id(v): k for k, v in BUILTINS_BY_NAME.items()}
_CONSTANT_TYPES = (type(None), bool, int, float, complex, str, bytes)
_SKELETON_NODES = (ast.Expression, ast.Constant, ast.Name, ast.Load, ast.Attribute, ast.Call, ast.keyword, ast.BinOp,
                   ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Subscript, ast.Slice, ast.List, ast.Tuple,
                   ast.Set, ast.Dict, ast.operator, ast.unaryop, ast.boolop, ast.cmpop)
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
           ast.LShift: operator.lshift, ast.RShift: operator.rshift, ast.BitAnd: operator.and_,
           ast.BitOr: operator.or_, ast.BitXor: operator.xor}
_CMPOPS = {ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
           ast.Gt: operator.gt, ast.GtE: operator.ge, ast.Is: operator.is_, ast.IsNot: operator.is_not,
           ast.In: lambda a, b: a in b, ast.NotIn: lambda a, b: a not in b}
_UNARY = {ast.Not: operator.not_, ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert}
_PROBE = "\x00probe"  # name prefix of a probe placeholder in a skeleton (no test can spell it)


class TestError(ValueError):
    """A test this module cannot check (a syntax it does not evaluate, a name it cannot resolve)."""


class TestFailure(Exception):
    """Raised while judging: the test does not hold (the message says why)."""


# ------------------------------------------------------------------------------------------------- wire format
def to_wire(value: Any, depth: int = 0, budget: list[int] | None = None) -> list:
    """A plain value (exact built-in types only) -> the JSON-able tagged form the sandbox child decodes."""
    budget = budget if budget is not None else [MAX_VALUES, MAX_CHARS]
    if depth > MAX_DEPTH:
        raise TestError(f"value nested deeper than {MAX_DEPTH}")
    budget[0] -= 1
    if budget[0] < 0:
        raise TestError(f"value with more than {MAX_VALUES} items")
    t = type(value)
    if value is None:
        return ["n"]
    if t is bool:
        return ["b", value]
    if t is int:
        if value.bit_length() > MAX_INT_BITS:
            raise TestError("integer too large")
        return ["i", value]
    if t is float:
        return ["f", value.hex()]
    if t is complex:
        return ["c", value.real.hex(), value.imag.hex()]
    if t in (str, bytes, bytearray):
        budget[1] -= len(value)
        if budget[1] < 0:
            raise TestError(f"value with more than {MAX_CHARS} characters")
        return ["s", value] if t is str else ["y" if t is bytes else "Y", value.hex()]
    if t is range:
        return ["r", value.start, value.stop, value.step]
    tags = {list: "l", tuple: "t", set: "S", frozenset: "F"}
    if t in tags:
        return [tags[t], [to_wire(v, depth + 1, budget) for v in value]]
    if t is dict:
        return ["d", [[to_wire(k, depth + 1, budget), to_wire(v, depth + 1, budget)] for k, v in value.items()]]
    name = BUILTIN_NAMES.get(id(value))
    if name is not None:
        return ["B", name]
    raise TestError(f"a {t.__name__} cannot be sent to the sandbox")


def from_wire(w: Any, depth: int = 0) -> Any:
    """The sandbox's tagged form -> fresh Python objects (exact built-in types). Raises ValueError when malformed."""
    if depth > MAX_DEPTH + 2 or type(w) is not list or not w or type(w[0]) is not str:
        raise ValueError("malformed value")
    tag, args = w[0], w[1:]

    def one(kind):
        if len(args) != 1 or type(args[0]) is not kind:
            raise ValueError(f"malformed {tag!r} value")
        return args[0]

    if tag == "n" and not args:
        return None
    if tag == "b":
        return one(bool)
    if tag == "i":
        return one(int)
    if tag == "f":
        return float.fromhex(one(str))
    if tag == "c":
        if len(args) != 2 or not all(type(a) is str for a in args):
            raise ValueError("malformed complex")
        return complex(float.fromhex(args[0]), float.fromhex(args[1]))
    if tag == "s":
        return one(str)
    if tag == "B":
        fn = BUILTINS_BY_NAME.get(one(str))
        if fn is None:
            raise ValueError(f"unknown builtin {args[0][:40]!r}")
        return fn
    if tag in ("y", "Y"):
        return (bytes if tag == "y" else bytearray).fromhex(one(str))
    if tag == "r":
        if len(args) != 3 or not all(type(a) is int for a in args):
            raise ValueError("malformed range")
        return range(*args)
    if tag in ("l", "t", "S", "F", "I", "K", "V"):
        items = [from_wire(v, depth + 1) for v in one(list)]
        if tag == "l":
            return items
        if tag == "t":
            return tuple(items)
        if tag in ("S", "F"):
            return set(items) if tag == "S" else frozenset(items)
        if tag == "I":
            return iter(items)
        return dict.fromkeys(items).keys() if tag == "K" else dict(enumerate(items)).values()
    if tag in ("d", "T"):
        pairs = one(list)
        if not all(type(p) is list and len(p) == 2 for p in pairs):
            raise ValueError("malformed dict")
        d = {from_wire(k, depth + 1): from_wire(v, depth + 1) for k, v in pairs}
        return d if tag == "d" else d.items()
    raise ValueError(f"unknown value tag {tag!r}")


# ------------------------------------------------------------------------------------------------ test plans
@dataclass
class Probe:
    """One sub-expression evaluated in the sandbox: ``expr`` (source, evaluated in the solution's namespace) or a
    call of ``callee`` (source, evaluated there) with arguments that are plain values (``["v", wire]``) or source
    (``["x", src]``)."""

    source: str                                   # the probe's text, for messages
    callee: str | None = None
    args: list = field(default_factory=list)
    kwargs: list = field(default_factory=list)    # [name, arg]

    def payload(self) -> dict:
        if self.callee is None:
            return {"expr": self.source}
        return {"call": self.callee, "args": self.args, "kwargs": self.kwargs}


@dataclass
class TestPlan:
    source: str
    asserts: list[ast.expr]                       # skeletons: probe sites replaced by placeholder names
    probes: list[Probe]

    def payload(self) -> list[dict]:
        return [p.payload() for p in self.probes]


def solution_names(code: str) -> set[str] | None:
    """Names the code binds at its top level (functions, classes, assignments, imports, ``global`` statements);
    None when the code does not parse. A judge name is included only when a ``def``/``class`` defines it (rebinding
    a builtin by assignment does not change what a test's ``sorted`` means)."""
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    names: set[str] = set()
    defined: set[str] = set()

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if top:
                    names.add(child.name)
                    defined.add(child.name)
                visit(child, False)
            elif isinstance(child, (ast.Import, ast.ImportFrom)) and top:
                names.update((a.asname or a.name).split(".")[0] for a in child.names if a.name != "*")
            elif isinstance(child, ast.Global):
                names.update(child.names)
            elif isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store) and top:
                names.add(child.id)
            elif isinstance(child, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
                visit(child, False)
            else:
                visit(child, top)

    visit(tree, True)
    return {n for n in names if n in defined or (n not in JUDGE_NAMES and n != "math")}


def compile_test(test: str, names: set[str]) -> TestPlan:
    """Split one test (assert statements) into probes and skeletons; TestError when it cannot be checked."""
    try:
        tree = ast.parse(test)
    except (SyntaxError, ValueError, RecursionError, MemoryError) as e:
        raise TestError(f"does not parse: {type(e).__name__}") from None
    if not tree.body or not all(isinstance(s, ast.Assert) for s in tree.body):
        raise TestError("is not an assert statement")
    if sum(1 for _ in ast.walk(tree)) > MAX_TEST_NODES:
        raise TestError(f"has more than {MAX_TEST_NODES} syntax nodes")
    probes: list[Probe] = []
    asserts = [_Splitter(names, probes).split(s.test) for s in tree.body]
    return TestPlan(test, asserts, probes)


class _Splitter:
    def __init__(self, names: set[str], probes: list[Probe]):
        self.names, self.probes = names, probes

    def involves(self, node: ast.AST) -> bool:
        return any(isinstance(n, ast.Name) and n.id in self.names for n in ast.walk(node))

    def check_plain(self, node: ast.AST) -> None:
        """A sub-tree the skeleton evaluates: only supported syntax and judge names."""
        for n in ast.walk(node):
            if not isinstance(n, _SKELETON_NODES):
                raise TestError(f"uses {type(n).__name__}, which a test may not")
            if isinstance(n, ast.Name) and n.id not in JUDGE_NAMES and n.id != "math":
                raise TestError(f"uses `{n.id}`, which is neither the code's nor an allowed builtin")
            if isinstance(n, ast.Attribute) and n.attr.startswith("_"):
                raise TestError(f"uses the attribute `{n.attr}`")
            if isinstance(n, ast.Constant) and not isinstance(n.value, _CONSTANT_TYPES):
                raise TestError("uses a constant that is not plain data")
            if isinstance(n, ast.Starred) or (isinstance(n, ast.keyword) and n.arg is None):
                raise TestError("uses * or ** arguments")

    def probe(self, node: ast.expr, probe: Probe) -> ast.expr:
        for n in ast.walk(node):
            if isinstance(n, ast.Attribute) and n.attr.startswith("__"):
                raise TestError(f"uses the attribute `{n.attr}`")
            if isinstance(n, (ast.NamedExpr, ast.Lambda, ast.Await, ast.Yield, ast.YieldFrom)):
                raise TestError(f"uses {type(n).__name__}, which a test may not")
            if isinstance(n, ast.Name) and n.id not in self.names and n.id not in JUDGE_NAMES and n.id != "math":
                raise TestError(f"uses `{n.id}`, which is neither the code's nor an allowed builtin")
        self.probes.append(probe)
        return ast.copy_location(ast.Name(id=f"{_PROBE}{len(self.probes) - 1}", ctx=ast.Load()), node)

    def split(self, node: ast.expr) -> ast.expr:
        if not self.involves(node):
            self.check_plain(node)
            return node
        if isinstance(node, ast.Call):
            f = node.func
            math_fn = (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "math"
                       and f.attr in MATH_NAMES)
            if isinstance(f, ast.Name) and f.id in JUDGE_NAMES and f.id not in self.names or math_fn or (
                    isinstance(f, ast.Attribute) and _is_plain_method(f.attr)):
                if isinstance(f, ast.Attribute):  # a method of a plain value (the value may be a probe)
                    f.value = self.split(f.value)
                if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
                    raise TestError("uses * or ** arguments")
                node.args = [self.split(a) for a in node.args]
                for k in node.keywords:
                    k.value = self.split(k.value)
                return node
            src = ast.unparse(node)
            if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
                return self.probe(node, Probe(src))
            args = [self.argument(a) for a in node.args]
            kwargs = [[k.arg, self.argument(k.value)] for k in node.keywords]
            return self.probe(node, Probe(src, ast.unparse(f), args, kwargs))
        if isinstance(node, (ast.Name, ast.Attribute)):
            if isinstance(node, ast.Attribute) and _is_plain_attribute(node.attr) and self.involves(node.value):
                node.value = self.split(node.value)
                return node
            return self.probe(node, Probe(ast.unparse(node)))
        if isinstance(node, (ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Subscript, ast.Slice,
                             ast.List, ast.Tuple, ast.Set, ast.Dict)):
            for name, value in ast.iter_fields(node):
                if isinstance(value, ast.expr):
                    setattr(node, name, self.split(value))
                elif isinstance(value, list) and value and isinstance(value[0], (ast.expr, type(None))):
                    if any(v is None or isinstance(v, ast.Starred) for v in value):
                        raise TestError("uses * or ** unpacking")
                    setattr(node, name, [self.split(v) for v in value])
            return node
        raise TestError(f"uses {type(node).__name__} around the code's names, which a test may not")

    def argument(self, node: ast.expr) -> list:
        """A probe's argument: evaluated here (plain data) when it does not involve the solution, else source."""
        if self.involves(node):
            for n in ast.walk(node):
                if isinstance(n, ast.Attribute) and n.attr.startswith("__"):
                    raise TestError(f"uses the attribute `{n.attr}`")
                if isinstance(n, (ast.NamedExpr, ast.Lambda)):
                    raise TestError(f"uses {type(n).__name__}, which a test may not")
                if isinstance(n, ast.Name) and n.id not in self.names and n.id not in JUDGE_NAMES and n.id != "math":
                    raise TestError(f"uses `{n.id}`, which is neither the code's nor an allowed builtin")
            return ["x", ast.unparse(node)]
        self.check_plain(node)
        try:
            value = Judge([]).eval(node)
        except TestFailure as e:
            raise TestError(f"argument {ast.unparse(node)[:60]} cannot be evaluated: {e}") from None
        return ["v", to_wire(value)]


def _is_plain_method(name: str) -> bool:
    return any(name in ms for ms in METHODS.values())


def _is_plain_attribute(name: str) -> bool:
    return any(name in a for a in ATTRIBUTES.values())


# ------------------------------------------------------------------------------------------------- the judge
class ProbeValue:
    """A probe's outcome as the skeleton sees it: a value, or the reason there is none (raised when used)."""

    __slots__ = ("ok", "value", "why")

    def __init__(self, ok: bool, value: Any = None, why: str = ""):
        self.ok, self.value, self.why = ok, value, why


def probe_value(result: Any, source: str) -> ProbeValue:
    """The sandbox's report for one probe -> ProbeValue (malformed reports are a failure, never trusted)."""
    if type(result) is not list or not result or type(result[0]) is not str:
        return ProbeValue(False, why=f"{source}: malformed result")
    kind = result[0]
    if kind == "ok" and len(result) == 2:
        try:
            return ProbeValue(True, from_wire(result[1]))
        except (ValueError, TypeError, OverflowError, RecursionError, MemoryError) as e:
            return ProbeValue(False, why=f"{source}: unreadable result ({e})")
    if kind == "raised" and len(result) == 3:
        msg = f": {str(result[2])[:120]}" if result[2] else ""
        return ProbeValue(False, why=f"{source} raised {str(result[1])[:60]}{msg}")
    if kind == "notplain" and len(result) == 2:
        return ProbeValue(False, why=f"{source} returned a {str(result[1])[:60]}, which is not plain data")
    if kind == "toolarge" and len(result) == 2:
        return ProbeValue(False, why=f"{source} returned a value that is too large ({str(result[1])[:80]})")
    return ProbeValue(False, why=f"{source}: {str(kind)[:40]}")


class Judge:
    """Evaluates a skeleton over plain data, with probe placeholders bound to their ProbeValues. Every failure,
    including an exception of the evaluated operation, is a TestFailure with a message."""

    def __init__(self, probes: list[ProbeValue]):
        self.probes = probes

    def eval(self, node: ast.expr) -> Any:
        try:
            return self._eval(node)
        except TestFailure:
            raise
        except RecursionError:
            raise TestFailure("the test nests too deeply") from None
        except Exception as e:  # noqa: BLE001 - an operation on plain data raised: the assert does not hold
            raise TestFailure(f"raised {type(e).__name__}: {str(e)[:120]}") from None

    def _eval(self, node: ast.expr) -> Any:
        ev = self._eval
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.Name):
            if node.id.startswith(_PROBE):
                p = self.probes[int(node.id[len(_PROBE):])]
                if not p.ok:
                    raise TestFailure(p.why)
                return p.value
            if node.id == "math":
                return math
            return JUDGE_NAMES[node.id]
        if isinstance(node, ast.Attribute):
            value = ev(node.value)
            if value is math and node.attr in MATH_NAMES:
                return getattr(math, node.attr)
            if type(value) in ATTRIBUTES and node.attr in ATTRIBUTES[type(value)]:
                return getattr(value, node.attr)
            if type(value) in METHODS and node.attr in METHODS[type(value)]:
                return _BoundMethod(value, node.attr)
            raise TestFailure(f"{_describe(value)} has no attribute `{node.attr}` a test may use")
        if isinstance(node, ast.Call):
            fn = ev(node.func)
            args = [ev(a) for a in node.args]
            kwargs = {k.arg: ev(k.value) for k in node.keywords}
            return _sized(_call(fn, args, kwargs))
        if isinstance(node, ast.BinOp):
            a, b = ev(node.left), ev(node.right)
            _check_binop(type(node.op), a, b)
            return _sized(_BINOPS[type(node.op)](a, b))
        if isinstance(node, ast.UnaryOp):
            return _UNARY[type(node.op)](ev(node.operand))
        if isinstance(node, ast.BoolOp):
            value = ev(node.values[0])
            for v in node.values[1:]:
                if (not value) if isinstance(node.op, ast.And) else value:
                    return value
                value = ev(v)
            return value
        if isinstance(node, ast.Compare):
            left = ev(node.left)
            for op, right_node in zip(node.ops, node.comparators):
                right = ev(right_node)
                if not _CMPOPS[type(op)](left, right):
                    return False
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return ev(node.body) if ev(node.test) else ev(node.orelse)
        if isinstance(node, ast.Subscript):
            return _sized(ev(node.value)[ev(node.slice)])
        if isinstance(node, ast.Slice):
            return slice(*(None if x is None else ev(x) for x in (node.lower, node.upper, node.step)))
        if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
            items = [ev(e) for e in node.elts]
            return _sized({ast.List: list, ast.Tuple: tuple, ast.Set: set}[type(node)](items))
        if isinstance(node, ast.Dict):
            return _sized({ev(k): ev(v) for k, v in zip(node.keys, node.values)})
        raise TestFailure(f"cannot evaluate {type(node).__name__}")


@dataclass(frozen=True)
class _BoundMethod:
    obj: Any
    name: str


def _describe(value: Any) -> str:
    return f"a {type(value).__name__}"


def _length(x: Any) -> int:
    return len(x) if isinstance(x, (str, bytes, bytearray, list, tuple, dict, set, frozenset, range)) else 0


def _sized(x: Any) -> Any:
    """`x`, if its expanded size (a list holding one list 1,000 times counts it 1,000 times) is within bounds: every
    later operation on it (comparison, ``str``, ``sum``) is then bounded too."""
    budget = [10 * MAX_VALUES, MAX_CHARS]
    stack = [x]
    while stack:
        v = stack.pop()
        budget[0] -= 1
        if type(v) in (str, bytes, bytearray):
            budget[1] -= len(v)
        elif type(v) is int and v.bit_length() > 10 * MAX_INT_BITS:
            raise TestFailure("an integer in the test is too large")
        elif type(v) in (list, tuple, set, frozenset):
            stack.extend(v)
        elif type(v) is dict:
            stack.extend(v.keys())
            stack.extend(v.values())
        elif type(v) is range and len(v) > MAX_VALUES:
            raise TestFailure("a range in the test is too long")
        if budget[0] < 0 or budget[1] < 0:
            raise TestFailure("a value in the test is too large")
    return x


def _check_binop(op: type, a: Any, b: Any) -> None:
    seq = (str, bytes, bytearray, list, tuple)
    if op is ast.Mult and (isinstance(a, seq) or isinstance(b, seq)):
        n, s = (b, a) if isinstance(a, seq) else (a, b)
        if isinstance(n, int) and n > 0 and len(s) * n > MAX_VALUES * 10:
            raise TestFailure("a repeated sequence in the test is too large")
    if op is ast.Pow and isinstance(a, int) and isinstance(b, int) and b > 0:
        if b > 100_000 or max(1, a.bit_length()) * b > 10 * MAX_INT_BITS:
            raise TestFailure("a power in the test is too large")
    if op is ast.LShift and isinstance(b, int) and b > 10 * MAX_INT_BITS:
        raise TestFailure("a shift in the test is too large")
    if op is ast.Mod and isinstance(a, (str, bytes, bytearray)):
        raise TestFailure("%-formatting is not available in a test")


_CALLABLE_ARGS = frozenset(JUDGE_NAMES.values()) | {getattr(math, n) for n in MATH_NAMES
                                                      if callable(getattr(math, n))}


def _call(fn: Any, args: list, kwargs: dict) -> Any:
    if isinstance(fn, _BoundMethod):
        obj, name = fn.obj, fn.name
        if name == "replace" and len(args) >= 2:
            old, new = args[0], args[1]
            if isinstance(old, (str, bytes)) and isinstance(new, (str, bytes)):
                n = obj.count(old) if old else len(obj) + 1
                if len(obj) + n * len(new) > MAX_CHARS:
                    raise TestFailure("a replaced string in the test is too large")
        if name == "join" and isinstance(args[0] if args else None, (list, tuple)):
            if sum(_length(x) for x in args[0]) + len(obj) * len(args[0]) > MAX_CHARS:
                raise TestFailure("a joined string in the test is too large")
        return getattr(obj, name)(*args, **kwargs)
    if fn is range:
        r = range(*args)
        if len(r) > MAX_VALUES:
            raise TestFailure("a range in the test is too long")
        return r
    if fn in (math.factorial, math.comb, math.perm) and any(isinstance(a, int) and a > 5000 for a in args):
        raise TestFailure("a factorial in the test is too large")
    if fn is pow and len(args) == 2:
        _check_binop(ast.Pow, args[0], args[1])
    if fn is bytes and args and isinstance(args[0], int) and args[0] > MAX_CHARS:
        raise TestFailure("a bytes value in the test is too large")
    if fn is type and len(args) != 1:
        raise TestFailure("type() takes one argument in a test")
    for a in list(args) + list(kwargs.values()):
        if callable(a) and not isinstance(a, type) and a not in _CALLABLE_ARGS:
            raise TestFailure("only builtins may be passed as functions in a test")
    if fn not in _CALLABLE_ARGS:
        raise TestFailure(f"{fn!r} cannot be called in a test")
    return fn(*args, **kwargs)


def judge(plan: TestPlan, results: list[Any]) -> tuple[bool, str]:
    """(passed, why not) for one test, given the sandbox's report for each of its probes."""
    if len(results) != len(plan.probes):
        return False, "the sandbox did not report every probe"
    judge_ = Judge([probe_value(r, p.source[:80]) for r, p in zip(results, plan.probes)])
    for i, node in enumerate(plan.asserts):
        try:
            value = judge_.eval(node)
            ok = bool(value)
        except TestFailure as e:
            return False, str(e)
        except Exception as e:  # noqa: BLE001 - bool() of plain data cannot really raise; stay closed if it does
            return False, f"raised {type(e).__name__}"
        if not ok:
            return False, _explain(plan, judge_, i)
    return True, ""


def _explain(plan: TestPlan, judge_: Judge, i: int) -> str:
    """'assert f(10) == 55' is false (f(10) is 'abc')."""
    got = [f"{p.source[:60]} is {_short(v.value)}" for p, v in zip(plan.probes, judge_.probes) if v.ok]
    return f"false{' (' + '; '.join(got[:3]) + ')' if got else ''}"


def _short(value: Any) -> str:
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001
        text = f"<{type(value).__name__}>"
    return text if len(text) <= 80 else text[:77] + "..."
