"""Check math answers by evaluation, with a small AST interpreter (never `eval`, `exec` or a CAS parser).

An exercise's `work` is either an arithmetic expression that computes the answer from the question's numbers
(``(120 - 45) / 3``) or an equation in one unknown (``3*x + 5 = 26``). `check_math(work, answer)` evaluates the
work and compares it with the stated answer (``25``, ``x = 7``, ``3/4``, ``2 1/2``, ``$20.40``, ``12.5 km``,
``25%``).

Evaluator: the text is parsed with ``ast.parse(mode="eval")`` (parsing runs nothing) and walked node by node.
Allowed: int/decimal literals, ``+ - * / ** // %``, unary ``+ -``, parentheses, ``sqrt()`` and ``abs()``, and names
bound in ``variables``. Everything else (attributes, calls to anything else, subscripts, comprehensions, strings,
comparisons) is rejected. Arithmetic is exact (`fractions.Fraction`; decimal literals become exact fractions); only a
non-integer power or ``sqrt`` of a non-square gives a float. Bounds: at most 300 characters and 200 AST nodes, every
value's magnitude and every denominator at most 1e30, integer exponents at most 100 in magnitude (checked before
computing, so ``9**9**9`` is refused, not computed). Friendly spellings are rewritten first: ``^`` -> ``**``,
``×``/``·`` -> ``*``, ``÷`` -> ``/``, Unicode minus, thousands separators (``1,250``) and implicit products (``3x``).

Tolerance rules (`numbers_match`):
1. exact values (fractions) must be equal; if either side is a float, relative 1e-9 (absolute 1e-12 near 0);
2. an answer written with d >= 1 decimals also matches when it is the expected value rounded to d decimals
   (``0.67`` for 2/3, ``33.3%`` for 100/3 %): |given - expected| <= 0.5 * 10^-d. Integers get no such slack;
3. a percentage answer (``25%``) matches work that computes either the percentage (25) or the ratio (0.25).
Units: `parse_quantity` recognises common length, mass, time, volume, area, speed, money and percent units (many
spellings); `answers_match` converts between units of one dimension (``3.5 km`` equals ``3500 m``). Other words
after the number (``12 apples``) are count nouns and are ignored. Work expressions carry no units.
"""
from __future__ import annotations

import ast
import math
import operator
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Mapping, Union

Number = Union[Fraction, float]

MAX_CHARS = 300
MAX_NODES = 200
MAX_MAGNITUDE = Fraction(10) ** 30
MAX_EXPONENT = 100
REL_TOL = 1e-9
ABS_TOL = 1e-12


class MathError(ValueError):
    """The text is not an expression this evaluator accepts (or breaks a bound)."""


# ----------------------------------------------------------------------------------------------- evaluation
_REPLACE = {"^": "**", "×": "*", "·": "*", "÷": "/", "−": "-", "–": "-", "\u2212": "-"}
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_IMPLICIT = re.compile(r"(?<=[\d)])\s*(?=[a-df-zA-DF-Z_(])|(?<=\))\s*(?=\d)")
_BINOPS = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod}


def normalize_expression(text: str) -> str:
    """Rewrite friendly spellings into the Python-syntax subset the evaluator reads."""
    for a, b in _REPLACE.items():
        text = text.replace(a, b)
    text = _THOUSANDS.sub("", text)
    return _IMPLICIT.sub("*", text).strip()


def _check(v: Number) -> Number:
    if isinstance(v, float):
        if not math.isfinite(v) or abs(v) > MAX_MAGNITUDE:
            raise MathError("value out of bounds")
    elif abs(v) > MAX_MAGNITUDE or v.denominator > MAX_MAGNITUDE:
        raise MathError("value out of bounds")
    return v


def _pow(base: Number, exp: Number) -> Number:
    if isinstance(exp, Fraction) and exp.denominator == 1:
        e = int(exp)
        if abs(e) > MAX_EXPONENT:
            raise MathError("exponent too large")
        if base == 0:
            if e < 0:
                raise MathError("division by zero")
            return Fraction(0) if e else Fraction(1)
        if abs(e * math.log10(abs(float(base)))) > 30:
            raise MathError("value out of bounds")
        return _check(base ** e)
    if base < 0:
        raise MathError("non-integer power of a negative number")
    if base and abs(float(exp)) * abs(math.log10(float(base))) > 30:
        raise MathError("value out of bounds")
    return _check(float(base) ** float(exp))


def _sqrt(x: Number) -> Number:
    if x < 0:
        raise MathError("square root of a negative number")
    if isinstance(x, Fraction):
        n, d = math.isqrt(x.numerator), math.isqrt(x.denominator)
        if n * n == x.numerator and d * d == x.denominator:
            return Fraction(n, d)
    return math.sqrt(float(x))


_FUNCS = {"sqrt": _sqrt, "abs": abs}


def _eval(node: ast.AST, variables: Mapping[str, Number]) -> Number:
    if isinstance(node, ast.Expression):
        return _eval(node.body, variables)
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not math.isfinite(v)):
            raise MathError(f"unsupported literal {v!r}")
        return _check(Fraction(v) if isinstance(v, int) else Fraction(repr(v)))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        v = _eval(node.operand, variables)
        return -v if isinstance(node.op, ast.USub) else v
    if isinstance(node, ast.BinOp):
        a, b = _eval(node.left, variables), _eval(node.right, variables)
        if isinstance(node.op, ast.Pow):
            return _pow(a, b)
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise MathError(f"unsupported operator {type(node.op).__name__}")
        if op in (operator.truediv, operator.floordiv, operator.mod) and b == 0:
            raise MathError("division by zero")
        return _check(op(a, b))
    if isinstance(node, ast.Name):
        if node.id not in variables:
            raise MathError(f"unknown name {node.id!r}")
        return variables[node.id]
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in _FUNCS
            and len(node.args) == 1 and not node.keywords):
        return _check(_FUNCS[node.func.id](_eval(node.args[0], variables)))
    raise MathError(f"unsupported syntax {type(node).__name__}")


def _parse(expr: str) -> ast.Expression:
    if not isinstance(expr, str):
        raise MathError(f"expected a string, got {type(expr).__name__}")
    text = normalize_expression(expr)
    if not text or len(text) > MAX_CHARS:
        raise MathError(f"expression empty or longer than {MAX_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError) as e:
        raise MathError(f"not an expression: {e.msg if isinstance(e, SyntaxError) else e}") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise MathError(f"expression has more than {MAX_NODES} nodes")
    return tree


def evaluate(expr: str, variables: Mapping[str, Number | int] | None = None) -> Number:
    """Value of an arithmetic expression (exact `Fraction`, or float after a non-integer power/sqrt)."""
    vars_ = {k: (Fraction(v) if isinstance(v, int) else v) for k, v in (variables or {}).items()}
    return _eval(_parse(expr), vars_)


def expression_names(expr: str) -> set[str]:
    """Names (unknowns) an expression uses, function names excluded."""
    tree = _parse(expr)
    funcs = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in funcs}


def numbers_in(text: str) -> list[Fraction]:
    """Every number literal written in a text (thousands separators allowed), as exact fractions."""
    text = _THOUSANDS.sub("", text)
    return [Fraction(m) for m in re.findall(r"(?<![\w.])\d+(?:\.\d+)?", text)]


# ----------------------------------------------------------------------------------------------- quantities
_DIMENSIONS: dict[str, tuple[str, Fraction]] = {
    "mm": ("length", Fraction(1, 1000)), "cm": ("length", Fraction(1, 100)), "m": ("length", Fraction(1)),
    "km": ("length", Fraction(1000)), "in": ("length", Fraction("0.0254")), "ft": ("length", Fraction("0.3048")),
    "yd": ("length", Fraction("0.9144")), "mi": ("length", Fraction("1609.344")),
    "mg": ("mass", Fraction(1, 1000)), "g": ("mass", Fraction(1)), "kg": ("mass", Fraction(1000)),
    "lb": ("mass", Fraction("453.59237")), "oz": ("mass", Fraction("28.349523125")),
    "s": ("time", Fraction(1)), "min": ("time", Fraction(60)), "h": ("time", Fraction(3600)),
    "day": ("time", Fraction(86400)), "week": ("time", Fraction(604800)),
    "ml": ("volume", Fraction(1, 1000)), "l": ("volume", Fraction(1)),
    "cm^2": ("area", Fraction(1, 10000)), "m^2": ("area", Fraction(1)), "km^2": ("area", Fraction(10**6)),
    "m/s": ("speed", Fraction(1)), "km/h": ("speed", Fraction(1000, 3600)), "mph": ("speed", Fraction("0.44704")),
    "$": ("money", Fraction(1)), "%": ("percent", Fraction(1)),
}
_ALIASES = {
    "millimetre": "mm", "millimeter": "mm", "centimetre": "cm", "centimeter": "cm", "metre": "m", "meter": "m",
    "kilometre": "km", "kilometer": "km", "inch": "in", "inches": "in", "foot": "ft", "feet": "ft", "yard": "yd",
    "mile": "mi", "milligram": "mg", "gram": "g", "kilogram": "kg", "pound": "lb", "lbs": "lb", "ounce": "oz",
    "sec": "s", "second": "s", "minute": "min", "mins": "min", "hour": "h", "hr": "h", "hrs": "h", "days": "day",
    "weeks": "week", "millilitre": "ml", "milliliter": "ml", "litre": "l", "liter": "l",
    "m2": "m^2", "m²": "m^2", "square metre": "m^2", "square meter": "m^2", "sq m": "m^2",
    "cm2": "cm^2", "cm²": "cm^2", "square centimetre": "cm^2", "square centimeter": "cm^2",
    "km2": "km^2", "km²": "km^2", "square kilometre": "km^2", "square kilometer": "km^2",
    "metres per second": "m/s", "meters per second": "m/s", "kilometres per hour": "km/h",
    "kilometers per hour": "km/h", "kph": "km/h", "miles per hour": "mph",
    "dollar": "$", "dollars": "$", "usd": "$", "percent": "%", "per cent": "%",
}
_NUMBER = re.compile(r"^([-+]?(?:\d+(?:\.\d*)?|\.\d+))(?:\s+(\d+)\s*/\s*(\d+)|\s*/\s*(\d+))?")
_ASSIGN = re.compile(r"^\s*([A-Za-z_]\w*)\s*=\s*(.+)$", re.S)


@dataclass(frozen=True)
class Quantity:
    """A parsed answer: value, canonical unit (None, a known unit, or a count noun) and decimals written."""

    value: Fraction
    unit: str | None = None
    decimals: int = 0
    variable: str | None = None

    @property
    def dimension(self) -> str | None:
        return _DIMENSIONS[self.unit][0] if self.unit in _DIMENSIONS else None


def canonical_unit(word: str) -> str | None:
    """Canonical spelling of a unit ("kilometres" -> "km"); count nouns come back lower-cased, as they are."""
    w = " ".join(word.strip().strip(".").lower().split())
    if not w:
        return None
    if w in _DIMENSIONS:
        return w
    if w in _ALIASES:
        return _ALIASES[w]
    if w.endswith("s") and (w[:-1] in _ALIASES or w[:-1] in _DIMENSIONS):
        return _ALIASES.get(w[:-1], w[:-1])
    return w


def parse_quantity(text: str) -> Quantity:
    """Parse an answer such as ``x = 7``, ``-2.5``, ``3/4``, ``2 1/2``, ``$1,250.00``, ``12 km``, ``25%``."""
    if not isinstance(text, str) or not text.strip():
        raise MathError("empty answer")
    s = text.strip().rstrip(".")
    variable = None
    m = _ASSIGN.match(s)
    if m:
        variable, s = m.group(1), m.group(2).strip()
    for a, b in _REPLACE.items():
        s = s.replace(a, b)
    unit = None
    if s.startswith("$"):
        unit, s = "$", s[1:].lstrip()
    elif s.startswith("-$"):
        unit, s = "$", "-" + s[2:].lstrip()
    s = _THOUSANDS.sub("", s)
    m = _NUMBER.match(s)
    if not m:
        raise MathError(f"no number at the start of the answer {text!r}")
    lit = m.group(1)
    value = Fraction(lit)
    decimals = len(lit.split(".")[1]) if "." in lit else 0
    if m.group(2):  # mixed number "2 1/2"
        frac = Fraction(int(m.group(2)), int(m.group(3)) or _raise("division by zero"))
        value = value - frac if value < 0 or lit.startswith("-") else value + frac
        decimals = 0
    elif m.group(4):
        value = value / (int(m.group(4)) or _raise("division by zero"))
        decimals = 0
    rest = s[m.end():].strip()
    if rest:
        if unit is not None:
            raise MathError(f"two units in {text!r}")
        unit = canonical_unit(rest)
    return Quantity(value, unit, decimals, variable)


def _raise(msg: str):
    raise MathError(msg)


def numbers_match(given: Number, expected: Number, decimals: int = 0) -> bool:
    """The tolerance rules 1-2 of the module docstring."""
    if isinstance(given, Fraction) and isinstance(expected, Fraction) and given == expected:
        return True
    if isinstance(given, float) or isinstance(expected, float):
        if math.isclose(float(given), float(expected), rel_tol=REL_TOL, abs_tol=ABS_TOL):
            return True
    if decimals >= 1:
        return abs(float(given) - float(expected)) <= 0.5 * 10.0 ** -decimals + 1e-12
    return False


def answers_match(given: str, expected: str) -> bool:
    """Two written answers agree: same number after converting units of one dimension (rules in the docstring)."""
    g, e = parse_quantity(given), parse_quantity(expected)
    ev = e.value
    if g.dimension and e.dimension:
        if g.dimension != e.dimension:
            return False
        ev = ev * _DIMENSIONS[e.unit][1] / _DIMENSIONS[g.unit][1]  # expected in the given answer's unit
    if numbers_match(g.value, ev, g.decimals):
        return True
    return g.unit == "%" and e.unit != "%" and numbers_match(g.value / 100, ev, g.decimals + 2 if g.decimals else 0)


# ----------------------------------------------------------------------------------------------- checks
@dataclass(frozen=True)
class MathCheck:
    """Outcome of a check: ok, or a reject reason (``unparseable_answer``, ``unparseable_work``, ``bad_equation``,
    ``wrong_answer``) with a short detail; `check` names the method used (written into output rows); `value` is the
    work's value (expression) or the root that was substituted (equation)."""

    ok: bool
    reason: str | None = None
    detail: str = ""
    check: str = ""
    value: float | None = None


def check_expression(work: str, answer: str) -> MathCheck:
    """The answer equals the value of the work expression (percent answers: rule 3)."""
    try:
        q = parse_quantity(answer)
    except MathError as e:
        return MathCheck(False, "unparseable_answer", str(e), "math:expression")
    try:
        value = evaluate(work)
    except MathError as e:
        return MathCheck(False, "unparseable_work", str(e), "math:expression")
    ok = numbers_match(q.value, value, q.decimals)
    if not ok and q.unit == "%":
        ok = numbers_match(q.value / 100, value, q.decimals + 2 if q.decimals else 0)
    detail = f"work={float(value):.10g} answer={float(q.value):.10g}"
    return MathCheck(ok, None if ok else "wrong_answer", detail, "math:expression", float(value))


def check_equation(equation: str, answer: str) -> MathCheck:
    """The answer satisfies an equation in one unknown, and the unknown matters (answer + 1 does not satisfy it)."""
    parts = equation.split("=")
    if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
        return MathCheck(False, "bad_equation", "an equation needs exactly one '='", "math:equation")
    try:
        names = expression_names(parts[0]) | expression_names(parts[1])
    except MathError as e:
        return MathCheck(False, "bad_equation", str(e), "math:equation")
    if len(names) != 1:
        return MathCheck(False, "bad_equation", f"expected one unknown, found {sorted(names)}", "math:equation")
    (name,) = names
    try:
        q = parse_quantity(answer)
    except MathError as e:
        return MathCheck(False, "unparseable_answer", str(e), "math:equation")
    if q.variable is not None and q.variable != name:
        return MathCheck(False, "wrong_answer", f"answer names {q.variable}, equation solves {name}", "math:equation")

    def residual(v: Number) -> Number:
        return evaluate(parts[0], {name: v}) - evaluate(parts[1], {name: v})

    try:
        r0, r1 = residual(q.value), residual(q.value + 1)
    except MathError as e:
        return MathCheck(False, "bad_equation", str(e), "math:equation")
    ok = numbers_match(r0, Fraction(0), 0) and not numbers_match(r1, Fraction(0), 0)
    if not ok and q.decimals >= 1:  # a rounded root: the residual changes sign within the stated precision
        h = Fraction(1, 2 * 10 ** q.decimals)
        try:
            lo, hi = residual(q.value - h), residual(q.value + h)
            ok = (lo <= 0 <= hi or hi <= 0 <= lo) and lo != hi
        except MathError:
            ok = False
    detail = f"{name}={float(q.value):.10g} residual={float(r0):.3g}"
    return MathCheck(ok, None if ok else "wrong_answer", detail, "math:equation", float(q.value))


def check_math(work: str, answer: str) -> MathCheck:
    """Dispatch: work with one '=' is an equation (`check_equation`), otherwise an expression (`check_expression`)."""
    if not isinstance(work, str) or not work.strip():
        return MathCheck(False, "unparseable_work", "empty work", "math")
    return check_equation(work, answer) if "=" in work else check_expression(work, answer)
