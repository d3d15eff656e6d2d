"""Block D numeric micro-reasoning: short word problems with worked steps and a final number.

Each family draws its numbers from `random.Random(f"{seed}:{family}:{index}")` (string seeds are
hashed with SHA-512, so draws are identical on every machine and Python run), computes the
answer with exact fractions, and renders the steps. `check()` re-derives the answer from the
rendered question text alone and re-does every step's arithmetic, so a template or renderer bug
cannot ship a wrong answer.
"""

import random
import re
from dataclasses import dataclass, field
from fractions import Fraction
from math import gcd

from ffdata.formats import final_number, is_numeric

FAMILIES = ("change", "unit_price", "rate", "percentage", "multi_step_total", "time", "fraction")

NAMES = (
    "Ana",
    "Ben",
    "Chen",
    "Dara",
    "Eli",
    "Fatima",
    "Gus",
    "Hana",
    "Ivan",
    "Jade",
    "Kofi",
    "Lena",
    "Mateo",
    "Nia",
    "Omar",
    "Priya",
    "Quinn",
    "Rosa",
    "Sami",
    "Tara",
    "Uma",
    "Victor",
    "Wen",
    "Yusuf",
    "Zoe",
)
ITEMS = (
    ("notebook", "notebooks"),
    ("pencil", "pencils"),
    ("apple", "apples"),
    ("ticket", "tickets"),
    ("mug", "mugs"),
    ("sandwich", "sandwiches"),
    ("bottle of juice", "bottles of juice"),
    ("candle", "candles"),
    ("postcard", "postcards"),
    ("towel", "towels"),
    ("muffin", "muffins"),
    ("pack of stickers", "packs of stickers"),
    ("bag of rice", "bags of rice"),
)
PLACES = ("school", "the library", "the market", "the park", "the museum", "the station")


@dataclass
class Problem:
    family: str
    variant: str
    seed: int
    index: int
    question: str
    steps: list[str]
    answer: str
    meta: dict = field(default_factory=dict)

    @property
    def response(self) -> str:
        return "\n".join([*self.steps, f"The answer is {self.answer}."])


def fmt(x: Fraction, money: bool = False) -> str:
    """Integers plainly; money and other terminating decimals with two places."""
    if x.denominator == 1:
        return str(x.numerator)
    cents = x * 100
    if cents.denominator != 1:
        raise ValueError(f"{x} is not a whole number of hundredths")
    whole, frac = divmod(abs(cents.numerator), 100)
    sign = "-" if x < 0 else ""
    return f"{sign}{whole}.{frac:02d}"


def money(x: Fraction) -> str:
    return f"${fmt(x, money=True)}"


def _cents(rng: random.Random, lo: int, hi: int, step: int = 25) -> Fraction:
    return Fraction(rng.randrange(lo, hi + 1, step), 100)


def _change(rng, seed, index):
    name, (_item, items) = rng.choice(NAMES), rng.choice(ITEMS)
    n = rng.randint(2, 9)
    price = _cents(rng, 50, 900)
    cost = n * price
    bill = next(b for b in (5, 10, 20, 50, 100) if b >= cost + 1)
    change = bill - cost
    variant = rng.choice(("a", "b"))
    if variant == "a":
        q = (
            f"{name} buys {n} {items} at {money(price)} each and pays with a ${bill} bill. "
            f"How much change does {name} get, in dollars?"
        )
    else:
        q = (
            f"At {rng.choice(PLACES)}, {name} pays for {n} {items} costing {money(price)} each "
            f"with a ${bill} bill. How many dollars of change should {name} receive?"
        )
    steps = [
        f"Cost: {n} × {fmt(price)} = {fmt(cost)}.",
        f"Change: {bill} − {fmt(cost)} = {fmt(change)}.",
    ]
    return variant, q, steps, change


def _unit_price(rng, seed, index):
    (item, items) = rng.choice(ITEMS)
    n = rng.randint(3, 12)
    unit = _cents(rng, 25, 600)
    total = n * unit
    variant = rng.choice(("a", "b"))
    if variant == "a":
        q = f"A box of {n} {items} costs {money(total)}. What is the price of one {item}, in dollars?"
    else:
        q = (
            f"{rng.choice(NAMES)} paid {money(total)} for {n} {items}, all at the same price. "
            f"How many dollars did one {item} cost?"
        )
    steps = [f"Price of one: {fmt(total)} ÷ {n} = {fmt(unit)}."]
    return variant, q, steps, unit


def _rate(rng, seed, index):
    variant = rng.choice(("distance", "speed", "work"))
    if variant == "distance":
        v, t = rng.randint(30, 120), rng.randint(2, 9)
        q = (
            f"A train travels at a steady {v} kilometres per hour for {t} hours. "
            "How many kilometres does it travel?"
        )
        return variant, q, [f"Distance: {v} × {t} = {v * t}."], Fraction(v * t)
    if variant == "speed":
        v, t = rng.randint(8, 30), rng.randint(2, 8)
        d = v * t
        q = (
            f"{rng.choice(NAMES)} cycles {d} kilometres in {t} hours at a steady pace. "
            "What is the speed, in kilometres per hour?"
        )
        return variant, q, [f"Speed: {d} ÷ {t} = {v}."], Fraction(v)
    r, m = rng.randint(3, 40), rng.randint(4, 90)
    what = rng.choice(("bottles", "boxes", "jars", "cans"))
    q = f"A machine fills {r} {what} per minute. How many {what} does it fill in {m} minutes?"
    return variant, q, [f"{what.capitalize()}: {r} × {m} = {r * m}."], Fraction(r * m)


def _percentage(rng, seed, index):
    variant = rng.choice(("discount", "of"))
    if variant == "discount":
        price = Fraction(rng.randrange(20, 400, 4))
        pct = rng.choice((10, 15, 20, 25, 30, 40, 50))
        disc = price * pct / 100
        sale = price - disc
        q = (
            f"A jacket costs ${fmt(price)}. It is on sale for {pct}% off. "
            "What is the sale price, in dollars?"
        )
        steps = [
            f"Discount: {fmt(price)} × {pct} ÷ 100 = {fmt(disc)}.",
            f"Sale price: {fmt(price)} − {fmt(disc)} = {fmt(sale)}.",
        ]
        return variant, q, steps, sale
    pct = rng.choice((5, 10, 12, 20, 25, 30, 40, 60, 75))
    step = 100 // gcd(pct, 100)  # so that pct% of the group is a whole number of people
    whole = step * rng.randint(max(1, 20 // step), 500 // step)
    part = Fraction(whole * pct, 100)
    q = f"A survey asked {whole} people, and {pct}% of them said yes. How many people said yes?"
    return variant, q, [f"Yes answers: {whole} × {pct} ÷ 100 = {fmt(part)}."], part


def _multi_step_total(rng, seed, index):
    name = rng.choice(NAMES)
    (i1, i1s), (i2, i2s) = rng.sample(ITEMS, 2)
    a, b = rng.randint(2, 8), rng.randint(2, 8)
    x, y = _cents(rng, 50, 800), _cents(rng, 50, 800)
    c1, c2 = a * x, b * y
    total = c1 + c2
    q = (
        f"{name} buys {a} {i1s} at {money(x)} each and {b} {i2s} at {money(y)} each. "
        f"How much does {name} spend in total, in dollars?"
    )
    steps = [
        f"{i1s.capitalize()}: {a} × {fmt(x)} = {fmt(c1)}.",
        f"{i2s.capitalize()}: {b} × {fmt(y)} = {fmt(c2)}.",
        f"Total: {fmt(c1)} + {fmt(c2)} = {fmt(total)}.",
    ]
    return "a", q, steps, total


def _time(rng, seed, index):
    variant = rng.choice(("duration", "to_minutes"))
    if variant == "duration":
        start = rng.randrange(6 * 60, 15 * 60, 5)
        length = rng.randrange(25, 300, 5)
        end = start + length
        s, e = divmod(start, 60), divmod(end, 60)
        q = (
            f"A bus leaves at {s[0]}:{s[1]:02d} and arrives at {e[0]}:{e[1]:02d} the same day. "
            "How many minutes does the trip take?"
        )
        steps = [
            f"Arrival: {e[0]} × 60 + {e[1]} = {end} minutes after midnight.",
            f"Departure: {s[0]} × 60 + {s[1]} = {start} minutes after midnight.",
            f"Trip: {end} − {start} = {length}.",
        ]
        return variant, q, steps, Fraction(length)
    h, m = rng.randint(1, 12), rng.randint(1, 59)
    what = rng.choice(("A hike", "A flight", "A film marathon", "A train journey", "A workshop"))
    q = f"{what} takes {h} hours and {m} minutes. How many minutes is that in total?"
    steps = [f"Hours in minutes: {h} × 60 = {h * 60}.", f"Total: {h * 60} + {m} = {h * 60 + m}."]
    return variant, q, steps, Fraction(h * 60 + m)


def _fraction(rng, seed, index):
    variant = rng.choice(("of_group", "left"))
    if variant == "of_group":
        b = rng.choice((2, 3, 4, 5, 6, 8))
        a = rng.choice([k for k in range(1, b) if gcd(k, b) == 1])  # 2/6 would read oddly
        n = b * rng.randint(3, 12)
        q = (
            f"A class has {n} students, and {a}/{b} of them walk to {rng.choice(PLACES)}. "
            "How many students walk?"
        )
        per = n // b
        steps = [f"One part: {n} ÷ {b} = {per}.", f"Walkers: {per} × {a} = {per * a}."]
        return variant, q, steps, Fraction(per * a)
    while True:  # two proper fractions that leave something over
        d1, d2 = rng.sample((2, 3, 4, 5, 6, 8, 10, 12), 2)
        a1, a2 = rng.randint(1, d1 - 1), rng.randint(1, d2 - 1)
        f1, f2 = Fraction(a1, d1), Fraction(a2, d2)
        if f1 + f2 < 1:
            break
    left = 1 - f1 - f2
    name, thing = rng.choice(NAMES), rng.choice(("pizza", "cake", "pie", "garden", "wall"))
    verb = {"pizza": "eats", "cake": "eats", "pie": "eats", "garden": "weeds", "wall": "paints"}
    q = (
        f"{name} {verb[thing]} {a1}/{d1} of a {thing} and a friend {verb[thing]} {a2}/{d2} "
        f"of it. What fraction of the {thing} is left?"
    )
    eaten = f1 + f2
    steps = [
        f"Done: {a1}/{d1} + {a2}/{d2} = {_frac(eaten)}.",
        f"Left: 1 − {_frac(eaten)} = {_frac(left)}.",
    ]
    return variant, q, steps, left


def _frac(x: Fraction) -> str:
    return f"{x.numerator}/{x.denominator}" if x.denominator != 1 else str(x.numerator)


_MAKERS = {
    "change": _change,
    "unit_price": _unit_price,
    "rate": _rate,
    "percentage": _percentage,
    "multi_step_total": _multi_step_total,
    "time": _time,
    "fraction": _fraction,
}


def generate(family: str, seed: int, index: int) -> Problem:
    if family not in _MAKERS:
        raise ValueError(f"unknown numeric family {family!r}; expected one of {FAMILIES}")
    rng = random.Random(f"{seed}:{family}:{index}")
    variant, question, steps, answer = _MAKERS[family](rng, seed, index)
    rendered = _frac(answer) if family == "fraction" and variant == "left" else fmt(answer)
    return Problem(family, variant, seed, index, question, steps, rendered)


# --- the checker: everything below reads only rendered text ------------------------------------

_NUM = r"\d+(?:\.\d+)?"
_FRAC = r"\d+/\d+"
_TERM = rf"(?:{_FRAC}|{_NUM})"
_STEP = re.compile(rf"({_TERM}(?: [+−×÷] {_TERM})+) = ({_TERM})")


def _q(text: str) -> Fraction:
    return Fraction(text)  # Fraction parses "2.50" and "3/4" exactly


def evaluate(expr: str) -> Fraction:
    """Evaluate "a × b + c" style text with the usual precedence (× ÷ before + −)."""
    tokens = expr.split(" ")
    terms, ops = [_q(tokens[0])], []
    for op, tok in zip(tokens[1::2], tokens[2::2], strict=True):
        if op in "×÷":
            terms[-1] = terms[-1] * _q(tok) if op == "×" else terms[-1] / _q(tok)
        else:
            ops.append(op)
            terms.append(_q(tok))
    total = terms[0]
    for op, t in zip(ops, terms[1:], strict=True):
        total = total + t if op == "+" else total - t
    return total


def _numbers(question: str) -> list[Fraction]:
    """The numbers of a question in reading order (times as h and m, fractions whole)."""
    out = []
    for tok in re.findall(rf"\d+:\d\d|{_FRAC}|{_NUM}", question):
        if ":" in tok:
            h, m = tok.split(":")
            out += [Fraction(int(h)), Fraction(int(m))]
        else:
            out.append(_q(tok))
    return out


def solve(family: str, variant: str, question: str) -> Fraction:
    """Re-derive the answer from the question text only."""
    n = _numbers(question)
    if family == "change":
        count, price, bill = n
        return bill - count * price
    if family == "unit_price":
        total, count = (n[1], n[0]) if variant == "a" else (n[0], n[1])
        return total / count
    if family == "rate":
        return n[0] / n[1] if variant == "speed" else n[0] * n[1]
    if family == "percentage":
        if variant == "discount":
            return n[0] - n[0] * n[1] / 100
        return n[0] * n[1] / 100
    if family == "multi_step_total":
        a, x, b, y = n
        return a * x + b * y
    if family == "time":
        if variant == "duration":
            sh, sm, eh, em = n
            return (eh * 60 + em) - (sh * 60 + sm)
        return n[0] * 60 + n[1]
    if family == "fraction":
        if variant == "of_group":
            total, frac = n[0], n[1]
            return total * frac
        return 1 - n[0] - n[1]
    raise ValueError(f"unknown numeric family {family!r}")


def check(problem: Problem) -> list[str]:
    """Problems with a rendered item (empty when it is right)."""
    errors = []
    response = problem.response
    if not is_numeric(response, allow_steps=True):
        errors.append("response is not steps + 'The answer is N.'")
    for step in problem.steps:
        for m in _STEP.finditer(step):
            expr, result = m.groups()
            value = evaluate(expr)
            if value != _q(result):
                errors.append(f"step {m.group(0)!r} is wrong (= {value})")
    final = final_number(response)
    derived = solve(problem.family, problem.variant, problem.question)
    if final is None or _q(final) != derived:
        errors.append(f"final answer {final} differs from the re-derived {derived}")
    if not any(_STEP.search(s) for s in problem.steps):
        errors.append("no checkable arithmetic in the steps")
    return errors
