"""Exercise families of the procedural teacher (`generators.backends.procedural`): math word problems with
exact answers, and small reference Python functions whose source is the solution and whose outputs are the tests.

Every family returns a complete, correct exercise; numbers are chosen so the exact answer is a short decimal.
Topic words only theme the wording ("a class project on <topic>"), so no fact is invented.
"""
from __future__ import annotations

import inspect
import random
import re
import textwrap
from fractions import Fraction
from typing import Callable

NAMES = ("Ava", "Ben", "Chloe", "Diego", "Emma", "Farid", "Grace", "Hiro", "Isla", "Jonas", "Kemi", "Liam",
         "Maya", "Noah", "Olga", "Priya")
SCALE = {"young_children": 1, "high_school": 2, "college": 3, "professionals": 3}
SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+")


def fmt(x: Fraction) -> str:
    """Exact decimal text of a fraction with a terminating decimal expansion (12, 2.5, 20.45)."""
    if x.denominator == 1:
        return str(x.numerator)
    for d in range(1, 7):
        if (x * 10 ** d).denominator == 1:
            return f"{float(x):.{d}f}"
    raise ValueError(f"{x} has no short decimal form")


# ------------------------------------------------------------------------------------------------ math families
def _problem(question, steps, work, answer, check):
    return {"question": question, "steps": steps, "work": work, "answer": answer, "check": check}


def add_sub(rng, topic, s):
    n, a, b = rng.choice(NAMES), rng.randint(5, 20 * s), rng.randint(5, 20 * s)
    c = rng.randint(1, a + b - 1)
    return _problem(
        f"{n} is collecting pictures for a class project on {topic}. On Monday {n} finds {a} pictures and on "
        f"Tuesday {b} more, then gives {c} of them to a classmate. How many pictures does {n} have now?",
        [f"{n} starts with {a} pictures and finds {b} more, so {a} + {b} = {a + b}.",
         f"Giving away {c} leaves {a + b} - {c} = {a + b - c}."],
        f"{a} + {b} - {c}", str(a + b - c), f"Adding the {c} pictures back gives {a + b - c} + {c} = {a + b}.")


def equal_groups(rng, topic, s):
    g, k = rng.randint(2, min(12, 4 * s)), rng.randint(2, 9 * s)
    total = g * k
    p = rng.choice([d for d in range(2, 13) if total % d == 0])
    return _problem(
        f"For a lesson on {topic}, a teacher has {g} boxes of cards with {k} cards in each box. The cards are "
        f"shared equally among {p} groups. How many cards does each group get?",
        [f"First find the total number of cards: {g} × {k} = {total}.",
         f"Then share them equally: {total} ÷ {p} = {total // p}."],
        f"{g} * {k} / {p}", str(total // p), f"{total // p} cards for each of {p} groups is {total} cards.")


def percent_of(rng, topic, s):
    n, p = 20 * rng.randint(2, 10 * s), rng.choice([5, 10, 15, 20, 25, 30, 40, 45, 50, 60, 75, 80])
    ans = n * p // 100
    return _problem(
        f"In a survey about {topic}, {n} people answered and {p}% of them said they wanted to learn more. "
        f"How many people is that?",
        [f"{p}% means {p} out of every 100.", f"So the number is {n} × {p} ÷ 100 = {ans}."],
        f"{n} * {p} / 100", str(ans), f"{ans} out of {n} is {fmt(Fraction(ans * 100, n))}%, as required.")


def discount(rng, topic, s):
    price, p = rng.randint(8, 40 * s), rng.choice([10, 15, 20, 25, 30, 40, 50])
    new = Fraction(price * (100 - p), 100)
    return _problem(
        f"A book about {topic} costs ${price}. It is on sale for {p}% off. What is the sale price?",
        [f"A discount of {p}% leaves {100 - p}% of the price to pay.",
         f"{100 - p}% of ${price} is {price} × {100 - p} ÷ 100 = {fmt(new)} dollars."],
        f"{price} * (100 - {p}) / 100", f"${new.numerator / new.denominator:.2f}",
        f"The discount is ${fmt(price - new)}, and {fmt(new)} + {fmt(price - new)} = {price}.")


_CONVERSIONS = (("kilometres", "km", "metres", "m", 1000), ("metres", "m", "centimetres", "cm", 100),
                ("kilograms", "kg", "grams", "g", 1000), ("hours", "h", "minutes", "min", 60),
                ("litres", "l", "millilitres", "ml", 1000))


def unit_conversion(rng, topic, s):
    big, big_u, small, small_u, f = rng.choice(_CONVERSIONS[:2] if s == 1 else _CONVERSIONS)
    x = Fraction(rng.randint(2, 20 * s), 1 if s == 1 else 2)
    n = rng.choice(NAMES)
    if rng.random() < 0.5:  # big -> small
        return _problem(
            f"During a project on {topic}, {n} measures {fmt(x)} {big}. How many {small} is that?",
            [f"There are {f} {small} in one {big[:-1] if big.endswith('s') else big}.",
             f"So multiply: {fmt(x)} × {f} = {fmt(x * f)}."],
            f"{fmt(x)} * {f}", f"{fmt(x * f)} {small_u}",
            f"{fmt(x * f)} ÷ {f} = {fmt(x)}, the amount we started with.")
    return _problem(
        f"During a project on {topic}, {n} measures {fmt(x * f)} {small}. How many {big} is that?",
        [f"There are {f} {small} in one {big[:-1]}.", f"So divide: {fmt(x * f)} ÷ {f} = {fmt(x)}."],
        f"{fmt(x * f)} / {f}", f"{fmt(x)} {big_u}", f"{fmt(x)} × {f} = {fmt(x * f)}, the amount we started with.")


def linear_equation(rng, topic, s):
    n, x, a = rng.choice(NAMES), rng.randint(2, 15 * s), rng.randint(2, 9)
    b = rng.randint(1, 30 * s)
    c = a * x + b
    return _problem(
        f"{n} buys {a} identical posters for an exhibition on {topic} and pays a delivery fee of ${b}. The total "
        f"cost is ${c}. Write an equation for the price x of one poster in dollars and solve it.",
        [f"The posters cost {a}x dollars and the fee is {b} dollars, so {a}x + {b} = {c}.",
         f"Subtract {b} from both sides: {a}x = {c - b}.", f"Divide both sides by {a}: x = {x}."],
        f"{a}*x + {b} = {c}", f"x = {x}", f"{a} × {x} + {b} = {a * x} + {b} = {c}.")


def mean_score(rng, topic, s):
    k = rng.choice([4, 5])
    vals = [rng.randint(40, 100) for _ in range(k)]
    total = sum(vals)
    m = Fraction(total, k)
    listed = ", ".join(map(str, vals[:-1])) + f" and {vals[-1]}"
    return _problem(
        f"{k} students took a quiz on {topic} and scored {listed} points. What is the mean score?",
        [f"Add the scores: {' + '.join(map(str, vals))} = {total}.",
         f"Divide by the number of scores: {total} ÷ {k} = {fmt(m)}."],
        f"({' + '.join(map(str, vals))}) / {k}", fmt(m), f"{fmt(m)} × {k} = {total}, the sum of the scores.")


def travel_time(rng, topic, s):
    v, t = rng.randint(3, 15 * s), rng.randint(2, 8)
    return _problem(
        f"A team collecting information about {topic} travels {v * t} km at a steady {v} km per hour. How many "
        f"hours does the trip take?",
        ["Time is distance divided by speed.", f"So the time is {v * t} ÷ {v} = {t} hours."],
        f"{v * t} / {v}", f"{t} hours", f"In {t} hours at {v} km per hour the team covers {v} × {t} = {v * t} km.")


def rectangle_area(rng, topic, s):
    length, width = rng.randint(2, 12 * s), rng.randint(2, 9 * s)
    return _problem(
        f"A display board for a project on {topic} is {length} m long and {width} m wide. What is its area "
        f"in square metres?",
        ["The area of a rectangle is its length times its width.", f"So the area is {length} × {width} = "
                                                                   f"{length * width} square metres."],
        f"{length} * {width}", f"{length * width} m^2", f"{length * width} ÷ {width} = {length}, the length.")


def fraction_of(rng, topic, s):
    den = rng.choice([2, 4] if s == 1 else [2, 3, 4, 5, 8, 10])
    num = rng.randint(1, den - 1)
    total = den * rng.randint(2, 10 * s)
    ans = total * num // den
    return _problem(
        f"{total} visitors came to a talk on {topic}, and {num}/{den} of them asked a question. How many "
        f"visitors asked a question?",
        [f"One part in {den} is {total} ÷ {den} = {total // den} visitors.",
         f"{num} such parts are {num} × {total // den} = {ans}."],
        f"{total} * {num} / {den}", str(ans), f"{ans} is {num}/{den} of {total}, since {ans} × {den} = "
                                               f"{ans * den} = {num} × {total}.")


MATH_FAMILIES: dict[str, Callable] = {f.__name__: f for f in (
    add_sub, equal_groups, percent_of, discount, unit_conversion, linear_equation, mean_score, travel_time,
    rectangle_area, fraction_of)}
_YOUNG = ("add_sub", "equal_groups", "unit_conversion", "fraction_of", "rectangle_area")


def math_problem(rng: random.Random, topic: str, audience: str | None) -> dict:
    scale = SCALE.get(audience or "", 2)
    names = _YOUNG if scale == 1 else tuple(MATH_FAMILIES)
    return MATH_FAMILIES[rng.choice(names)](rng, topic, scale)


# ------------------------------------------------------------------------------------------------ code families
def count_word(text, word):
    """Count how many times `word` appears in `text` as a whole word, ignoring case.

    Lower-case both, split the text on whitespace and strip punctuation from each word before comparing."""
    target = word.lower()
    return sum(1 for w in text.lower().split() if w.strip(".,;:!?\"'()") == target)


def longest_word(text):
    """Return the longest word in `text`, ignoring punctuation; the first one wins a tie ("" for no words).

    Keep the best word seen so far and replace it only by a strictly longer one."""
    best = ""
    for w in text.split():
        w = w.strip(".,;:!?\"'()")
        if len(w) > len(best):
            best = w
    return best


def acronym(phrase):
    """Return the upper-case acronym of `phrase`: the first letter of every word that starts with a letter.

    Split on whitespace and join the first characters."""
    return "".join(w[0].upper() for w in phrase.split() if w[0].isalpha())


def running_total(values):
    """Return the running totals of `values`: element i is the sum of values[0] to values[i].

    Keep one accumulator and append it after each addition."""
    totals, acc = [], 0
    for v in values:
        acc += v
        totals.append(acc)
    return totals


def percent_of_total(part, whole):
    """Return `part` as a percentage of `whole`, rounded to one decimal place (0.0 when `whole` is 0).

    Guard against division by zero, then scale the ratio by 100 and round."""
    if whole == 0:
        return 0.0
    return round(100 * part / whole, 1)


def is_palindrome(text):
    """Return True when the letters of `text` read the same backwards, ignoring case and everything else.

    Keep only the letters, lower-cased, and compare the list with its reverse."""
    letters = [c.lower() for c in text if c.isalpha()]
    return letters == letters[::-1]


def top_words(text, k):
    """Return the `k` most frequent words of `text` (lower-cased, punctuation stripped) as (word, count) pairs,
    most frequent first, ties in alphabetical order.

    Count with a dictionary, then sort by negative count and by word."""
    counts = {}
    for w in text.lower().split():
        w = w.strip(".,;:!?\"'()")
        if w:
            counts[w] = counts.get(w, 0) + 1
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:k]


def celsius_to_fahrenheit(celsius):
    """Convert a temperature from degrees Celsius to degrees Fahrenheit, rounded to one decimal place.

    Use F = C * 9 / 5 + 32."""
    return round(celsius * 9 / 5 + 32, 1)


def vowel_count(text):
    """Count the vowels (a, e, i, o, u, either case) in `text`.

    Lower-case the text and count the characters that are in "aeiou"."""
    return sum(1 for c in text.lower() if c in "aeiou")


def caesar_shift(text, shift):
    """Shift every ASCII letter of `text` by `shift` places in the alphabet, wrapping around and keeping its case;
    other characters stay as they are.

    Work with positions 0-25 relative to 'a' or 'A' and take them modulo 26."""
    out = []
    for c in text:
        if "a" <= c <= "z" or "A" <= c <= "Z":
            base = ord("a") if c.islower() else ord("A")
            out.append(chr(base + (ord(c) - base + shift) % 26))
        else:
            out.append(c)
    return "".join(out)


def mean_of(values):
    """Return the mean of `values` rounded to two decimal places, or 0.0 for an empty list.

    Divide the sum by the length, after checking the list is not empty."""
    if not values:
        return 0.0
    return round(sum(values) / len(values), 2)


def chunk_list(values, size):
    """Split the list `values` into consecutive chunks of `size` items (the last may be shorter).

    Slice the list in steps of `size`."""
    return [values[i:i + size] for i in range(0, len(values), size)]


def _inputs(fn, rng, topics, sents):
    t, u = topics[0], topics[1 % len(topics)]
    ints = [rng.randint(-5, 30) for _ in range(rng.randint(3, 6))]
    s = rng.choice(sents)
    return {
        count_word: [(s, t), (f"{t.capitalize()} and {t}, then {u}.", t), ("", t)],
        longest_word: [(s,), (f"{t} {u}",), ("a bb ccc bb",), ("",)],
        acronym: [(" ".join(topics[:3]),), ("portable network graphics",), (t,)],
        running_total: [(ints,), ([],), ([5],)],
        percent_of_total: [(rng.randint(1, 50), rng.randint(51, 200)), (0, 10), (3, 0)],
        is_palindrome: [(t,), ("Never odd or even",), (t[::-1] + t,), ("ab",)],
        top_words: [(s, 3), (f"{t} {u} {t}", 2), ("", 1)],
        celsius_to_fahrenheit: [(0,), (100,), (rng.randint(-30, 45),), (-40,)],
        vowel_count: [(t,), (s,), ("rhythm",)],
        caesar_shift: [(t, 3), ("Hello, World!", 1), ("xyz", 3), (caesar_shift(u, 5), 21)],
        mean_of: [(ints,), ([],), ([2, 3],)],
        chunk_list: [(list(range(rng.randint(5, 9))), 3), ([], 2), ([1, 2], 5)],
    }[fn]


CODE_FAMILIES = (count_word, longest_word, acronym, running_total, percent_of_total, is_palindrome, top_words,
                 celsius_to_fahrenheit, vowel_count, caesar_shift, mean_of, chunk_list)


def code_exercise(rng: random.Random, topics: list[str], extract: str) -> dict:
    fn = rng.choice(CODE_FAMILIES)
    sents = ([x for x in SENTENCE_SPLIT.split(extract) if 20 <= len(x) <= 200]
             or [f"The study of {topics[0]} is useful."])
    doc = inspect.getdoc(fn) or ""
    spec, _, how = doc.partition("\n\n")
    params = ", ".join(inspect.signature(fn).parameters)
    tests = [f"assert {fn.__name__}({', '.join(map(repr, args))}) == {fn(*args)!r}"
             for args in _inputs(fn, rng, topics, sents)]
    return {"kind": "code", "answer": "", "work": "", "tests": tests,
            "question": f"Write a Python function `{fn.__name__}({params})`. {' '.join(spec.split())} "
                        f"It will be used on texts and data about {topics[0]}.",
            "solution": " ".join(how.split()) or "See the code.",
            "code": textwrap.dedent(inspect.getsource(fn)).strip() + "\n"}


def math_exercise(rng: random.Random, topic: str, audience: str | None) -> dict:
    p = math_problem(rng, topic, audience)
    return {"kind": "math", "question": p["question"], "solution": " ".join(p["steps"] + [p["check"]]),
            "answer": p["answer"], "work": p["work"], "code": "", "tests": []}
