"""Writes the distill_v3 question fixtures. WRITTEN BY THE FFLLM PROJECT, not hub data.

The offline distill_v3 build needs TRAIN-split questions for sources whose train splits are not
on hand (the local HellaSwag copy is validation data, the local MMLU copy is dev/test, MATH is not
local). These rows were written by hand for ffllm in the hub schemas:
- hellaswag_train.jsonl: Rowan/hellaswag (`ind, activity_label, ctx_a, ctx_b, ctx, endings,
  source_id, split, split_type, label` with label a string, as on the hub);
- mmlu_auxiliary_train.jsonl: cais/mmlu auxiliary_train (`question, subject, choices, answer`);
- math_train.jsonl: hendrycks competition_math (`problem, level, type, solution` with \\boxed{}).
"""

import hashlib
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (activity, context a, context b, endings, index of the right ending)
HELLASWAG = [
    (
        "Making a sandwich",
        "A man lays two slices of bread on a cutting board.",
        "he",
        [
            "spreads butter on one slice and adds ham and cheese.",
            "throws the bread into the swimming pool.",
            "paints the cutting board bright blue.",
            "starts jogging around the kitchen table.",
        ],
        0,
    ),
    (
        "Washing dishes",
        "A woman fills the sink with warm soapy water.",
        "she",
        [
            "plants tomatoes in the soapy water.",
            "places the dirty plates in the water and scrubs them with a sponge.",
            "reads a newspaper under the tap.",
            "folds the water into a neat square.",
        ],
        1,
    ),
    (
        "Walking the dog",
        "A girl clips a leash onto her dog's collar at the front door.",
        "they",
        [
            "fly over the roofs of the houses.",
            "sit down to watch a film on the sofa.",
            "head out along the sidewalk toward the park.",
            "bake a cake together in the oven.",
        ],
        2,
    ),
    (
        "Changing a tire",
        "A man loosens the nuts on a flat tire, then raises the car with a jack.",
        "he",
        [
            "eats the nuts one by one.",
            "pulls the flat tire off and fits the spare onto the wheel hub.",
            "climbs onto the roof of the car to sing.",
            "pours coffee into the tire.",
        ],
        1,
    ),
    (
        "Brushing teeth",
        "A boy squeezes toothpaste onto his toothbrush.",
        "he",
        [
            "brushes his teeth in small circles and then rinses his mouth.",
            "uses the brush to comb the cat.",
            "puts the toothbrush in the freezer.",
            "writes a letter with the toothpaste.",
        ],
        0,
    ),
    (
        "Painting a fence",
        "A woman stirs a can of white paint next to a wooden fence.",
        "she",
        [
            "drinks the paint through a straw.",
            "dips a brush and paints the boards with long even strokes.",
            "buries the can in the garden.",
            "rolls the fence up like a carpet.",
        ],
        1,
    ),
    (
        "Playing the guitar",
        "A man sits on a stool and tunes the strings of his guitar.",
        "he",
        [
            "uses the guitar as a paddle in a canoe.",
            "puts the guitar in the oven to warm it.",
            "begins strumming a slow song while tapping his foot.",
            "cuts the strings with scissors and leaves.",
        ],
        2,
    ),
    (
        "Making tea",
        "A kettle whistles on the stove as a woman sets out a mug.",
        "she",
        [
            "pours the hot water over a tea bag in the mug.",
            "pours the hot water onto the floor to clean her shoes.",
            "places the mug on her head.",
            "throws the kettle out of the window.",
        ],
        0,
    ),
    (
        "Skateboarding",
        "A teenager pushes off on a skateboard toward a low ramp.",
        "he",
        [
            "stops to plant flowers on the ramp.",
            "rides up the ramp and lands a small jump.",
            "folds the skateboard into his pocket.",
            "takes a nap on the ramp.",
        ],
        1,
    ),
    (
        "Ironing clothes",
        "A man lays a wrinkled shirt flat on an ironing board.",
        "he",
        [
            "irons the sleeves and collar until the shirt is smooth.",
            "waters the shirt like a plant.",
            "uses the iron to make toast.",
            "cuts the shirt into strips for a kite.",
        ],
        0,
    ),
    (
        "Shoveling snow",
        "After a heavy snowfall, a woman steps outside with a shovel.",
        "she",
        [
            "shovels the snow off the driveway into a pile.",
            "builds a fire on the snow to cook dinner.",
            "uses the shovel to comb her hair.",
            "hides the shovel in the refrigerator.",
        ],
        0,
    ),
    (
        "Washing a car",
        "A man sprays his car with a hose and fills a bucket with soapy water.",
        "he",
        [
            "scrubs the car with a large sponge and then rinses it off.",
            "drives the car into a lake.",
            "fills the car with the soapy water.",
            "sells the bucket to a neighbor.",
        ],
        0,
    ),
    (
        "Baking cookies",
        "A girl spoons cookie dough onto a baking tray.",
        "she",
        [
            "puts the tray into the preheated oven.",
            "mails the tray to her grandmother unbaked.",
            "uses the dough to fix a leaking pipe.",
            "paints the dough green.",
        ],
        0,
    ),
    (
        "Mowing the lawn",
        "A man pulls the cord to start a lawn mower.",
        "he",
        [
            "pushes the mower in straight rows across the grass.",
            "rides the mower up a tree.",
            "uses the mower to vacuum the living room.",
            "feeds the mower a bowl of soup.",
        ],
        0,
    ),
    (
        "Swimming",
        "A swimmer stands on the starting block and the whistle blows.",
        "she",
        [
            "dives into the pool and swims toward the far wall.",
            "climbs down and goes home to sleep.",
            "throws her goggles at the referee.",
            "starts knitting a scarf on the block.",
        ],
        0,
    ),
    (
        "Tying shoelaces",
        "A child sits on the step and pulls on his sneakers.",
        "he",
        [
            "ties the laces into a bow.",
            "eats the laces for lunch.",
            "throws the sneakers onto the roof.",
            "paints the step with the laces.",
        ],
        0,
    ),
    (
        "Chopping vegetables",
        "A cook places a carrot on a cutting board and picks up a knife.",
        "she",
        [
            "slices the carrot into thin rounds.",
            "uses the carrot to write on the board.",
            "plants the knife in a flower pot.",
            "throws the carrot to the audience.",
        ],
        0,
    ),
    (
        "Fishing",
        "A man casts his line from a small boat on a calm lake.",
        "he",
        [
            "waits quietly for a fish to bite.",
            "jumps in to catch fish with his teeth.",
            "sets the boat on fire.",
            "reads the lake a bedtime story.",
        ],
        0,
    ),
    (
        "Vacuuming",
        "A woman plugs in a vacuum cleaner in the living room.",
        "she",
        [
            "runs it back and forth over the carpet.",
            "uses it to water the plants.",
            "puts it in the bathtub.",
            "feeds it to the dog.",
        ],
        0,
    ),
    (
        "Doing laundry",
        "A man loads dirty clothes into the washing machine.",
        "he",
        [
            "adds detergent, closes the door and starts the cycle.",
            "climbs into the machine himself.",
            "fills the machine with sand.",
            "plays football with the detergent box.",
        ],
        0,
    ),
    (
        "Riding a bike",
        "A girl buckles her helmet and climbs onto her bicycle.",
        "she",
        [
            "pedals down the quiet street.",
            "carries the bicycle up a ladder to the roof.",
            "uses the helmet as a flower pot.",
            "lies down under the bicycle to sleep.",
        ],
        0,
    ),
    (
        "Planting a tree",
        "A man digs a deep hole in the garden next to a young sapling.",
        "he",
        [
            "places the sapling in the hole and fills it with soil.",
            "fills the hole with milk.",
            "puts his shoes in the hole.",
            "covers the sapling with a blanket and leaves for a vacation.",
        ],
        0,
    ),
    (
        "Setting the table",
        "A woman lays a cloth on the dining table before dinner.",
        "she",
        [
            "places plates, glasses and cutlery at each seat.",
            "hangs the plates on the ceiling.",
            "lays the cutlery in the garden.",
            "pours soup onto the tablecloth.",
        ],
        0,
    ),
    (
        "Wrapping a present",
        "A boy cuts a sheet of colorful paper to fit a small box.",
        "he",
        [
            "folds the paper around the box and tapes it shut.",
            "eats the paper slowly.",
            "mails the empty paper to a friend.",
            "throws the box into the fireplace.",
        ],
        0,
    ),
    (
        "Rowing",
        "Two people push a canoe into the river and climb in.",
        "they",
        [
            "paddle together downstream.",
            "begin to dig a hole in the canoe.",
            "carry the river back to the car.",
            "start ironing their shirts.",
        ],
        0,
    ),
    (
        "Playing tennis",
        "A player tosses the ball high above her head at the baseline.",
        "she",
        [
            "serves the ball over the net.",
            "catches the ball in her mouth.",
            "leaves the court to buy groceries.",
            "buries the racket in the clay.",
        ],
        0,
    ),
    (
        "Cleaning windows",
        "A man sprays glass cleaner on a dusty window.",
        "he",
        [
            "wipes the glass with a cloth until it shines.",
            "paints the window black.",
            "drinks the glass cleaner.",
            "hangs his coat on the spray.",
        ],
        0,
    ),
    (
        "Making a bed",
        "A woman pulls the sheets straight on a mattress.",
        "she",
        [
            "tucks in the corners and places the pillows at the head.",
            "cuts the sheets into ribbons.",
            "sets the mattress on fire.",
            "puts the pillows in the oven.",
        ],
        0,
    ),
    (
        "Pouring cereal",
        "A boy takes a bowl and a box of cereal from the cupboard.",
        "he",
        [
            "pours cereal into the bowl and adds milk.",
            "pours the milk into his shoes.",
            "plants the cereal in the garden.",
            "uses the bowl as a hat and leaves.",
        ],
        0,
    ),
    (
        "Knitting",
        "An old woman sits by the fire with two needles and a ball of yarn.",
        "she",
        [
            "knits a row of stitches for a scarf.",
            "throws the yarn into the fire.",
            "uses the needles to eat soup.",
            "hides the yarn under the carpet.",
        ],
        0,
    ),
    (
        "Jump rope",
        "A girl holds the handles of a jump rope behind her.",
        "she",
        [
            "swings the rope over her head and jumps as it passes under her feet.",
            "ties the rope to a tree and sits down.",
            "cuts the rope into pieces.",
            "eats the rope handles.",
        ],
        0,
    ),
    (
        "Feeding a cat",
        "A man opens a can of cat food in the kitchen while the cat meows.",
        "he",
        [
            "spoons the food into the cat's bowl.",
            "eats the cat food himself.",
            "puts the cat in the cupboard.",
            "throws the can at the window.",
        ],
        0,
    ),
    (
        "Hanging a picture",
        "A woman holds a framed photo against the wall and marks the spot with a pencil.",
        "she",
        [
            "hammers a nail at the mark and hangs the frame.",
            "paints over the photo.",
            "throws the frame onto the floor.",
            "glues the pencil to the frame.",
        ],
        0,
    ),
    (
        "Sweeping the floor",
        "A janitor picks up a broom in the school hallway.",
        "he",
        [
            "sweeps the dust into a pile and collects it with a dustpan.",
            "uses the broom to play the piano.",
            "breaks the broom in half.",
            "rides the broom out of the window.",
        ],
        0,
    ),
    (
        "Watering plants",
        "A girl fills a watering can at the outdoor tap.",
        "she",
        [
            "waters the flowers along the garden path.",
            "pours the water into her schoolbag.",
            "throws the can over the fence.",
            "uses the can as a drum.",
        ],
        0,
    ),
    (
        "Slicing bread",
        "A baker takes a fresh loaf out of the oven and lets it cool.",
        "he",
        [
            "cuts the loaf into even slices with a bread knife.",
            "puts the loaf back in the bag of flour.",
            "uses the loaf as a pillow.",
            "throws the loaf to the ducks in the river.",
        ],
        0,
    ),
    (
        "Putting on makeup",
        "A woman sits in front of a mirror and opens her makeup bag.",
        "she",
        [
            "applies foundation and then a little mascara.",
            "paints the mirror with lipstick.",
            "throws the bag out of the window.",
            "eats the makeup brushes.",
        ],
        0,
    ),
    (
        "Climbing",
        "A climber ties into the rope at the base of an indoor climbing wall.",
        "she",
        [
            "reaches for the first hold and starts up the wall.",
            "unties the rope and goes home.",
            "paints the holds purple.",
            "sleeps at the bottom of the wall.",
        ],
        0,
    ),
    (
        "Kayaking",
        "A man pushes his kayak off the sandy beach into the waves.",
        "he",
        [
            "paddles steadily away from the shore.",
            "sinks the kayak on purpose.",
            "carries the beach home in the kayak.",
            "builds a sandcastle inside the kayak.",
        ],
        0,
    ),
    (
        "Grilling",
        "A man lights charcoal in a barbecue grill in the backyard.",
        "he",
        [
            "places burgers on the grill once the coals are hot.",
            "puts the grill in the swimming pool.",
            "cooks the burgers in the mailbox.",
            "waters the charcoal with a hose.",
        ],
        0,
    ),
]

MMLU_AUX = [
    (
        "Which gas do plants absorb from the air for photosynthesis?",
        ["oxygen", "nitrogen", "carbon dioxide", "helium"],
        2,
    ),
    (
        "What is the main source of energy for Earth's water cycle?",
        ["the Moon", "the Sun", "volcanoes", "wind"],
        1,
    ),
    ("Which of these is a mammal?", ["shark", "frog", "dolphin", "eagle"], 2),
    (
        "A student drops a ball from a table. Which force pulls the ball to the floor?",
        ["friction", "magnetism", "gravity", "tension"],
        2,
    ),
    ("Which organ pumps blood through the human body?", ["lungs", "heart", "liver", "kidneys"], 1),
    (
        "What do bees collect from flowers to make honey?",
        ["pollen", "nectar", "leaves", "seeds"],
        1,
    ),
    (
        "Which tool is best for measuring the mass of a rock?",
        ["ruler", "thermometer", "balance", "stopwatch"],
        2,
    ),
    (
        "Which of the following is a renewable resource?",
        ["coal", "oil", "natural gas", "sunlight"],
        3,
    ),
    ("Which layer of Earth do we live on?", ["core", "mantle", "crust", "outer core"], 2),
    (
        "What happens to water when it freezes?",
        ["it becomes a gas", "it becomes a solid", "it disappears", "it becomes heavier"],
        1,
    ),
    ("Which material conducts electricity best?", ["rubber", "wood", "copper", "glass"], 2),
    (
        "What causes day and night on Earth?",
        ["Earth's rotation", "Earth's orbit", "the Moon's phases", "clouds"],
        0,
    ),
    ("Which animal is a herbivore?", ["lion", "rabbit", "wolf", "hawk"], 1),
    (
        "Which unit is used to measure temperature?",
        ["meter", "degree Celsius", "kilogram", "liter"],
        1,
    ),
    # Was "Which planet is closest to the Sun?": a question of the factual bench
    # (ffllm/eval/factbench.jsonl), which decontamination rightly drops.
    (
        "Which simple machine is a rigid bar that turns about a fixed point?",
        ["pulley", "wedge", "lever", "screw"],
        2,
    ),
    (
        "What is the boiling point of pure water at sea level in degrees Fahrenheit?",
        ["100", "180", "212", "32"],
        2,
    ),
]

MATH = [
    (
        "What is the value of $2^5 - 3^3$?",
        "Level 1",
        "Prealgebra",
        "$2^5 = 32$ and $3^3 = 27$, so the value is $32 - 27 = \\boxed{5}$.",
    ),
    (
        "Solve for $x$: $5x - 3 = 2x + 9$.",
        "Level 2",
        "Algebra",
        "Subtracting $2x$ gives $3x - 3 = 9$, so $3x = 12$ and $x = \\boxed{4}$.",
    ),
    (
        "How many positive multiples of 7 are less than 100?",
        "Level 2",
        "Number Theory",
        "The multiples are $7, 14, \\ldots, 98 = 7 \\cdot 14$, so there are $\\boxed{14}$.",
    ),
    (
        "What is the area of a circle with radius 3? Express your answer in terms of $\\pi$.",
        "Level 1",
        "Geometry",
        "The area is $\\pi r^2 = \\boxed{9\\pi}$.",
    ),
    (
        "Compute $\\binom{6}{2}$.",
        "Level 1",
        "Counting & Probability",
        "$\\binom{6}{2} = \\frac{6 \\cdot 5}{2} = \\boxed{15}$.",
    ),
    (
        "What is the greatest common divisor of 48 and 180?",
        "Level 2",
        "Number Theory",
        "$48 = 2^4 \\cdot 3$ and $180 = 2^2 \\cdot 3^2 \\cdot 5$, so the gcd is $2^2 \\cdot 3 = \\boxed{12}$.",
    ),
    (
        "If $f(x) = x^2 + 1$, what is $f(f(1))$?",
        "Level 2",
        "Algebra",
        "$f(1) = 2$, and $f(2) = 5$, so $f(f(1)) = \\boxed{5}$.",
    ),
    (
        "The sum of two numbers is 20 and their difference is 4. What is the larger number?",
        "Level 1",
        "Algebra",
        "Adding the equations gives $2x = 24$, so the larger number is $\\boxed{12}$.",
    ),
    (
        "A fair coin is flipped 3 times. What is the probability of getting exactly two heads? Express your answer as a common fraction.",
        "Level 2",
        "Counting & Probability",
        "There are $\\binom{3}{2} = 3$ favourable outcomes out of 8, so the probability is $\\boxed{\\frac{3}{8}}$.",
    ),
    (
        "What is the sum of the interior angles of a pentagon, in degrees?",
        "Level 1",
        "Geometry",
        "$(5 - 2) \\cdot 180^\\circ = \\boxed{540}$ degrees.",
    ),
    (
        "Simplify $\\sqrt{50}$.",
        "Level 2",
        "Algebra",
        "$\\sqrt{50} = \\sqrt{25 \\cdot 2} = \\boxed{5\\sqrt{2}}$.",
    ),
    (
        "What is the remainder when 1234 is divided by 9?",
        "Level 1",
        "Number Theory",
        "The digit sum is $1 + 2 + 3 + 4 = 10$, which leaves remainder 1 when divided by 9, so the answer is $\\boxed{1}$.",
    ),
    (
        "Find the slope of the line through $(1, 2)$ and $(4, 11)$.",
        "Level 1",
        "Algebra",
        "The slope is $\\frac{11 - 2}{4 - 1} = \\boxed{3}$.",
    ),
    (
        "How many diagonals does a hexagon have?",
        "Level 2",
        "Geometry",
        "A polygon with $n$ sides has $\\frac{n(n-3)}{2}$ diagonals: $\\frac{6 \\cdot 3}{2} = \\boxed{9}$.",
    ),
]


def main() -> None:
    hs = []
    for i, (label, a, b, endings, gold) in enumerate(HELLASWAG):
        # rotate the endings so the right one sits at every position in turn
        shift = (i % 4 - gold) % 4
        endings = endings[-shift:] + endings[:-shift] if shift else endings
        gold = (gold + shift) % 4
        hs.append(
            {
                "ind": 90000 + i,
                "activity_label": label,
                "ctx_a": a,
                "ctx_b": b,
                "ctx": f"{a} {b}",
                "endings": endings,
                "source_id": f"ffllm-fixture~{i}",
                "split": "train",
                "split_type": "indomain",
                "label": str(gold),
            }
        )
    mmlu = [{"question": q, "subject": "", "choices": c, "answer": a} for q, c, a in MMLU_AUX]
    math = [{"problem": p, "level": lv, "type": t, "solution": s} for p, lv, t, s in MATH]
    for name, rows in (
        ("hellaswag_train.jsonl", hs),
        ("mmlu_auxiliary_train.jsonl", mmlu),
        ("math_train.jsonl", math),
    ):
        path = HERE / name
        path.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
        print(f"{name}\t{len(rows)} rows\t{hashlib.sha256(path.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
