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
CONTAINERS = ("bottles", "boxes", "jars", "cans")
THINGS = ("pizza", "cake", "pie", "garden", "wall")
OUTINGS = ("A hike", "A flight", "A film marathon", "A train journey", "A workshop")
# the words a family draws per item: masked out when questions are grouped by their stem
SLOT_WORDS = (*NAMES, *(w for pair in ITEMS for w in pair), *PLACES, *CONTAINERS, *THINGS, *OUTINGS)


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
    variant = rng.choice(("a", "b", "c", "d"))
    # every phrasing names the count, the price and the bill in that order (solve() reads them)
    q = {
        "a": f"{name} buys {n} {items} at {money(price)} each and pays with a ${bill} bill. "
        f"How much change does {name} get, in dollars?",
        "b": f"At {rng.choice(PLACES)}, {name} pays for {n} {items} costing {money(price)} each "
        f"with a ${bill} bill. How many dollars of change should {name} receive?",
        "c": f"{n} {items} cost {money(price)} each. {name} buys all of them and hands over a "
        f"${bill} bill. What is the change, in dollars?",
        "d": f"{name} orders {n} {items} priced at {money(price)} apiece and pays with a ${bill} "
        "bill. How many dollars come back as change?",
    }[variant]
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
    name = rng.choice(NAMES)
    variant = rng.choice(("a", "b", "c", "d"))
    q = {  # a, c: count first; b, d: total first
        "a": f"A box of {n} {items} costs {money(total)}. What is the price of one {item}, "
        "in dollars?",
        "b": f"{name} paid {money(total)} for {n} {items}, all at the same price. "
        f"How many dollars did one {item} cost?",
        "c": f"{n} {items} cost {money(total)} altogether. What does a single {item} cost, "
        "in dollars?",
        "d": f"{name} spent {money(total)} on {n} identical {items}. What was the price of each, "
        "in dollars?",
    }[variant]
    steps = [f"Price of one: {fmt(total)} ÷ {n} = {fmt(unit)}."]
    return variant, q, steps, unit


def _rate(rng, seed, index):
    variant = rng.choice(("distance", "speed", "work"))
    k = rng.randrange(3)
    if variant == "distance":
        v, t = rng.randint(30, 120), rng.randint(2, 9)
        q = (
            f"A train travels at a steady {v} kilometres per hour for {t} hours. "
            "How many kilometres does it travel?",
            f"A coach keeps to {v} kilometres per hour for {t} hours. "
            "How far does it go, in kilometres?",
            f"Driving at {v} km per hour without stopping, how many kilometres does a car cover "
            f"in {t} hours?",
        )[k]
        return variant, q, [f"Distance: {v} × {t} = {v * t}."], Fraction(v * t)
    if variant == "speed":
        v, t = rng.randint(8, 30), rng.randint(2, 8)
        d = v * t
        name = rng.choice(NAMES)
        q = (
            f"{name} cycles {d} kilometres in {t} hours at a steady pace. "
            "What is the speed, in kilometres per hour?",
            f"A boat covers {d} kilometres in {t} hours at constant speed. "
            "How many kilometres per hour is that?",
            f"Running {d} kilometres took {name} {t} hours at an even pace. "
            "What was the average speed in km per hour?",
        )[k]
        return variant, q, [f"Speed: {d} ÷ {t} = {v}."], Fraction(v)
    r, m = rng.randint(3, 40), rng.randint(4, 90)
    what = rng.choice(CONTAINERS)
    q = (
        f"A machine fills {r} {what} per minute. How many {what} does it fill in {m} minutes?",
        f"A packing line seals {r} {what} every minute. How many {what} are sealed in {m} minutes?",
        f"Working at {r} {what} a minute, how many {what} does a robot label in {m} minutes?",
    )[k]
    return variant, q, [f"{what.capitalize()}: {r} × {m} = {r * m}."], Fraction(r * m)


def _percentage(rng, seed, index):
    variant = rng.choice(("discount", "of"))
    k = rng.randrange(3)
    if variant == "discount":
        price = Fraction(rng.randrange(20, 400, 4))
        pct = rng.choice((10, 15, 20, 25, 30, 40, 50))
        disc = price * pct / 100
        sale = price - disc
        q = (
            f"A jacket costs ${fmt(price)}. It is on sale for {pct}% off. "
            "What is the sale price, in dollars?",
            f"A bicycle priced at ${fmt(price)} is reduced by {pct}%. "
            "How many dollars does it cost after the reduction?",
            f"A shop marks a ${fmt(price)} lamp down by {pct}%. What is the new price, in dollars?",
        )[k]
        steps = [
            f"Discount: {fmt(price)} × {pct} ÷ 100 = {fmt(disc)}.",
            f"Sale price: {fmt(price)} − {fmt(disc)} = {fmt(sale)}.",
        ]
        return variant, q, steps, sale
    pct = rng.choice((5, 10, 12, 20, 25, 30, 40, 60, 75))
    step = 100 // gcd(pct, 100)  # so that pct% of the group is a whole number of people
    whole = step * rng.randint(max(1, 20 // step), 500 // step)
    part = Fraction(whole * pct, 100)
    q = (
        f"A survey asked {whole} people, and {pct}% of them said yes. How many people said yes?",
        f"Of the {whole} runners in a race, {pct}% finished in under an hour. "
        "How many runners was that?",
        f"A school has {whole} pupils and {pct}% of them play chess. How many pupils play chess?",
    )[k]
    return variant, q, [f"Part: {whole} × {pct} ÷ 100 = {fmt(part)}."], part


def _multi_step_total(rng, seed, index):
    name = rng.choice(NAMES)
    (i1, i1s), (i2, i2s) = rng.sample(ITEMS, 2)
    a, b = rng.randint(2, 8), rng.randint(2, 8)
    x, y = _cents(rng, 50, 800), _cents(rng, 50, 800)
    c1, c2 = a * x, b * y
    total = c1 + c2
    variant = rng.choice(("a", "b", "c", "d"))
    q = {
        "a": f"{name} buys {a} {i1s} at {money(x)} each and {b} {i2s} at {money(y)} each. "
        f"How much does {name} spend in total, in dollars?",
        "b": f"For a trip, {name} gets {a} {i1s} costing {money(x)} each and {b} {i2s} costing "
        f"{money(y)} each. What is the total cost in dollars?",
        "c": f"A shopping list has {a} {i1s} at {money(x)} apiece and {b} {i2s} at {money(y)} "
        "apiece. How many dollars does everything cost together?",
        "d": f"{name} pays for {a} {i1s} ({money(x)} each) and {b} {i2s} ({money(y)} each). "
        "What is the bill, in dollars?",
    }[variant]
    steps = [
        f"{i1s.capitalize()}: {a} × {fmt(x)} = {fmt(c1)}.",
        f"{i2s.capitalize()}: {b} × {fmt(y)} = {fmt(c2)}.",
        f"Total: {fmt(c1)} + {fmt(c2)} = {fmt(total)}.",
    ]
    return variant, q, steps, total


def _plural(n: int, one: str) -> str:
    return f"{n} {one}" if n == 1 else f"{n} {one}s"


def _time(rng, seed, index):
    variant = rng.choice(("duration", "to_minutes"))
    k = rng.randrange(3)
    if variant == "duration":
        start = rng.randrange(6 * 60, 15 * 60, 5)
        length = rng.randrange(25, 300, 5)
        end = start + length
        s, e = divmod(start, 60), divmod(end, 60)
        a, b = f"{s[0]}:{s[1]:02d}", f"{e[0]}:{e[1]:02d}"
        q = (
            f"A bus leaves at {a} and arrives at {b} the same day. "
            "How many minutes does the trip take?",
            f"A concert starts at {a} and ends at {b}. How many minutes long is it?",
            f"{rng.choice(NAMES)} starts baking at {a} and finishes at {b} the same day. "
            "For how many minutes was the baking going on?",
        )[k]
        steps = [
            f"End: {e[0]} × 60 + {e[1]} = {end} minutes after midnight.",
            f"Start: {s[0]} × 60 + {s[1]} = {start} minutes after midnight.",
            f"Duration: {end} − {start} = {length}.",
        ]
        return variant, q, steps, Fraction(length)
    h, m = rng.randint(1, 12), rng.randint(1, 59)
    what = rng.choice(OUTINGS)
    span = f"{_plural(h, 'hour')} and {_plural(m, 'minute')}"
    q = (
        f"{what} takes {span}. How many minutes is that in total?",
        f"How many minutes are there in {span}?",
        f"{what} lasts {span}. Express that length in minutes.",
    )[k]
    steps = [f"Hours in minutes: {h} × 60 = {h * 60}.", f"Total: {h * 60} + {m} = {h * 60 + m}."]
    return variant, q, steps, Fraction(h * 60 + m)


def _fraction(rng, seed, index):
    variant = rng.choice(("of_group", "left"))
    k = rng.randrange(3)
    if variant == "of_group":
        b = rng.choice((2, 3, 4, 5, 6, 8))
        a = rng.choice([k for k in range(1, b) if gcd(k, b) == 1])  # 2/6 would read oddly
        n = b * rng.randint(3, 12)
        q = (
            f"A class has {n} students, and {a}/{b} of them walk to {rng.choice(PLACES)}. "
            "How many students walk?",
            f"There are {n} marbles in a jar and {a}/{b} of them are blue. "
            "How many marbles are blue?",
            f"A farmer has {n} sheep; {a}/{b} of the flock are black. How many sheep are black?",
        )[k]
        per = n // b
        steps = [f"One part: {n} ÷ {b} = {per}.", f"Part: {per} × {a} = {per * a}."]
        return variant, q, steps, Fraction(per * a)
    while True:  # two proper fractions in lowest terms that leave something over
        d1, d2 = rng.sample((2, 3, 4, 5, 6, 8, 10, 12), 2)
        a1 = rng.choice([k for k in range(1, d1) if gcd(k, d1) == 1])
        a2 = rng.choice([k for k in range(1, d2) if gcd(k, d2) == 1])
        f1, f2 = Fraction(a1, d1), Fraction(a2, d2)
        if f1 + f2 < 1:
            break
    left = 1 - f1 - f2
    name, thing = rng.choice(NAMES), rng.choice(THINGS)
    verb = {"pizza": "eats", "cake": "eats", "pie": "eats", "garden": "weeds", "wall": "paints"}
    q = (
        f"{name} {verb[thing]} {a1}/{d1} of a {thing} and a friend {verb[thing]} {a2}/{d2} "
        f"of it. What fraction of the {thing} is left?",
        f"Of a {thing}, {name} {verb[thing]} {a1}/{d1} and a friend {verb[thing]} {a2}/{d2}. "
        f"What fraction of the {thing} remains?",
        f"{name} and a friend share a {thing}. {name} {verb[thing]} {a1}/{d1} of it and the "
        f"friend {verb[thing]} {a2}/{d2}. What fraction is still left?",
    )[k]
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
        total, count = (n[1], n[0]) if variant in ("a", "c") else (n[0], n[1])
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


# --- plausible wrong answers (MCQ distractors), read from the rendered question like solve() ---


def mistakes(family: str, variant: str, question: str) -> list[Fraction]:
    """Answers a solver gets by a typical slip — a skipped step, the wrong operation, an
    off-by-one count or unit, a misread number — most telling first. May include the right
    answer or impossible values; the caller filters."""
    n = _numbers(question)
    if family == "change":
        count, price, bill = n
        return [
            count * price,  # stopped after the cost
            bill - price,  # forgot to multiply by the count
            bill - (count - 1) * price,
            bill - (count + 1) * price,
            bill - count * price + 1,
        ]
    if family == "unit_price":
        total, count = (n[1], n[0]) if variant in ("a", "c") else (n[0], n[1])
        return [total / (count - 1), total / (count + 1), total - count, total / count + 1]
    if family == "rate":
        a, b = n
        if variant == "speed":
            return [a - b, a / (b - 1), a / (b + 1), a * b]
        return [a + b, a * (b - 1), a * (b + 1), (a - 1) * b]
    if family == "percentage":
        whole, pct = n
        if variant == "discount":
            return [
                whole * pct / 100,  # gave the discount, not the price
                whole - pct,  # took the percent off as dollars
                whole + whole * pct / 100,  # added it
                whole * (100 - pct - 10) / 100,
            ]
        return [whole - whole * pct / 100, whole * (pct + 5) / 100, whole * (pct - 5) / 100]
    if family == "multi_step_total":
        a, x, b, y = n
        return [a * x + y, x + b * y, a * x, b * y, (a + b) * x, a * x + b * y + x]
    if family == "time":
        if variant == "duration":
            sh, sm, eh, em = n
            length = (eh * 60 + em) - (sh * 60 + sm)
            return [
                (eh - sh) * 100 + (em - sm),  # subtracted clock times as decimals
                (eh - sh) * 60,  # ignored the minutes
                length + 60,
                length - 60,
                length + 10,
                length - 10,
            ]
        h, m = n
        return [h * 100 + m, h * 60, h + m, (h + 1) * 60 + m, (h - 1) * 60 + m]
    if family == "fraction":
        if variant == "of_group":
            total, frac = n
            return [
                total / frac.denominator,  # one part only
                total - total * frac,  # the other part
                total * (frac.numerator + 1) / frac.denominator,
                total * frac + 1,
            ]
        f1, f2 = n
        naive = Fraction(f1.numerator + f2.numerator, f1.denominator + f2.denominator)
        return [f1 + f2, 1 - f1, 1 - f2, 1 - naive, naive]
    raise ValueError(f"unknown numeric family {family!r}")
