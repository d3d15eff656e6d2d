"""Writes the SFT source fixtures in this folder. WRITTEN BY THE FFLLM PROJECT, not hub data.

Every row below was written by hand for ffllm in the real hub schema of its source, so the
adapters and cleaning steps run offline on the field layout they will meet at full scale. Some
rows are deliberately bad (empty turns, refusals, PII, duplicates, near duplicates, toxic and
non-English WildChat rows, an over-long answer, a pasted GSM8K test question) to exercise every
drop reason. Run `python data/sources/sft/write_fixtures.py` to regenerate; then update the
sha256 values in the manifests (see PROVENANCE.md).
"""

import hashlib
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

# (question, answer) pairs, single turn. Used by OpenHermes and, through it, distill_v3.
QA = [
    (
        "What causes the seasons on Earth?",
        "The seasons are caused by the tilt of Earth's axis, about 23.4 degrees. As Earth orbits the Sun, each hemisphere is tilted toward the Sun for part of the year, receiving more direct sunlight and longer days (summer), and tilted away for another part (winter).",
    ),
    (
        "Write a haiku about autumn leaves.",
        "Crimson leaves let go,\ndrifting on the cooling wind,\nthe old branch stands still.",
    ),
    (
        "Explain the difference between a list and a tuple in Python.",
        "A list is mutable: you can add, remove or change its items after creating it. A tuple is immutable: once created, its items cannot change. Tuples can be used as dictionary keys and are slightly faster; lists suit collections that grow or change.",
    ),
    ("How many bones are in the adult human body?", "An adult human body has 206 bones."),
    (
        "Give me three tips for a good night's sleep.",
        "1. Keep a regular schedule, going to bed and waking up at the same times.\n2. Avoid screens and caffeine in the hour before bed.\n3. Keep the bedroom dark, quiet and cool.",
    ),
    ("Translate 'Where is the train station?' into Spanish.", "¿Dónde está la estación de tren?"),
    (
        "What is photosynthesis?",
        "Photosynthesis is the process by which plants, algae and some bacteria use light energy to turn carbon dioxide and water into glucose and oxygen. It takes place mainly in the chloroplasts, using the pigment chlorophyll.",
    ),
    (
        "Summarize the plot of Romeo and Juliet in two sentences.",
        "Two young lovers from feuding families in Verona marry in secret. A chain of misunderstandings leads both to take their own lives, which finally reconciles their families.",
    ),
    ("What is the derivative of x^3 + 2x?", "The derivative is 3x^2 + 2."),
    (
        "Why is the sky blue?",
        "Sunlight is scattered by the molecules of the air, and shorter (blue) wavelengths are scattered much more strongly than longer (red) ones. This Rayleigh scattering sends blue light across the whole sky, so it looks blue from every direction.",
    ),
    (
        "Write a SQL query that counts the rows in a table named orders.",
        "SELECT COUNT(*) FROM orders;",
    ),
    (
        "Who painted the Mona Lisa?",
        "Leonardo da Vinci painted the Mona Lisa, in the early sixteenth century.",
    ),
    (
        "What are the three states of matter most people learn about in school?",
        "Solid, liquid and gas.",
    ),
    (
        "Suggest a name for a bakery that specializes in sourdough bread.",
        "Rise & Crumb Sourdough House.",
    ),
    ("What does HTTP stand for?", "HTTP stands for Hypertext Transfer Protocol."),
    ("Convert 100 degrees Fahrenheit to Celsius.", "100 °F is (100 - 32) × 5/9 ≈ 37.8 °C."),
    (
        "Describe a rainbow to someone who has never seen one.",
        "A rainbow is a wide arc of colour that appears in the sky when sunlight shines through falling rain. The colours run in bands from red on the outside through orange, yellow, green and blue to violet on the inside.",
    ),
    ("What is the capital city of Australia?", "Canberra is the capital city of Australia."),
    (
        "List two advantages of electric cars.",
        "1. They produce no tailpipe emissions.\n2. They cost less to run per kilometre than petrol cars.",
    ),
    (
        "How do vaccines work?",
        "A vaccine shows the immune system a harmless piece or weakened form of a germ. The body learns to recognize it and makes memory cells, so that a later infection is fought off quickly before it causes serious illness.",
    ),
    (
        "Write a short thank-you note to a teacher.",
        "Dear Ms. Lopez, thank you for your patience and encouragement this year. Your lessons made me enjoy learning, and I will remember your class for a long time. With gratitude, Sam.",
    ),
    (
        "What is the boiling point of water at sea level in Celsius?",
        "Water boils at 100 degrees Celsius at sea level.",
    ),
    (
        "Explain what a black hole is in simple terms.",
        "A black hole is a place in space where matter is packed so tightly that gravity pulls in everything nearby, even light. Because no light can escape, it looks completely black.",
    ),
    (
        "What is the main function of red blood cells?",
        "Red blood cells carry oxygen from the lungs to the tissues of the body, using the protein haemoglobin, and bring some carbon dioxide back to the lungs.",
    ),
    (
        "Recommend a good habit for learning a new language.",
        "Practise a little every day: fifteen minutes of daily listening and speaking helps more than one long session a week.",
    ),
    (
        "What is the Pythagorean theorem?",
        "In a right triangle, the square of the hypotenuse equals the sum of the squares of the other two sides: a^2 + b^2 = c^2.",
    ),
    (
        "Name a renewable source of energy and explain why it is renewable.",
        "Solar power is renewable because the Sun keeps delivering energy every day and using it does not use it up.",
    ),
    (
        "What is inflation in economics?",
        "Inflation is the general rise in prices over time, which means each unit of money buys fewer goods and services.",
    ),
    (
        "Write a one-sentence story about a lost key.",
        "After searching the whole house for an hour, Mia found her lost key in the pocket of the coat she was wearing.",
    ),
    (
        "How does a refrigerator keep food cold?",
        "A refrigerator pumps a refrigerant around a closed loop: it evaporates inside the fridge, absorbing heat from the food, and condenses in the coils at the back, releasing that heat into the room.",
    ),
    (
        "What is the largest planet in our solar system?",
        "Jupiter is the largest planet in our solar system.",
    ),
    (
        "Why do we have leap years?",
        "A year on Earth lasts about 365.24 days, so adding one extra day every four years keeps the calendar aligned with the seasons.",
    ),
    (
        "Give an example of a metaphor.",
        '"Time is a thief" is a metaphor: it describes time as something that steals moments from us.',
    ),
    (
        "What is the difference between weather and climate?",
        "Weather is the state of the atmosphere over hours or days; climate is the average pattern of weather in a region over many years.",
    ),
    (
        "How can I make my passwords more secure?",
        "Use long, unique passphrases for each account, store them in a password manager and turn on two-factor authentication wherever it is offered.",
    ),
    (
        "Who wrote the novel Pride and Prejudice?",
        "Jane Austen wrote Pride and Prejudice, published in 1813.",
    ),
]


def openhermes_rows() -> list[dict]:
    def row(convs, source="airoboros2.2", category="general"):
        return {
            "custom_instruction": None,
            "topic": None,
            "model_name": None,
            "model": None,
            "skip_prompt_formatting": False,
            "category": category,
            "conversations": [{"from": f, "value": v, "weight": None} for f, v in convs],
            "views": None,
            "language": None,
            "id": None,
            "title": None,
            "idx": None,
            "hash": None,
            "avatarUrl": None,
            "system_prompt": None,
            "source": source,
        }

    rows = [row([("human", q), ("gpt", a)]) for q, a in QA]
    rows += [
        # a system turn (kept in meta.source_system)
        row(
            [
                ("system", "You are an AI assistant. Provide a detailed answer."),
                ("human", "What is a prime number?"),
                (
                    "gpt",
                    "A prime number is a whole number greater than 1 whose only divisors are 1 and itself, such as 2, 3, 5, 7 and 11.",
                ),
            ],
            "SlimOrca",
        ),
        # multi-turn: becomes a User/Assistant transcript
        row(
            [
                ("human", "I want to bake bread at home. Where do I start?"),
                ("gpt", "Start with a simple white loaf: flour, water, yeast and salt."),
                ("human", "How long should I knead the dough?"),
                (
                    "gpt",
                    "Knead it for about 10 minutes, until it is smooth and springs back when pressed.",
                ),
            ],
            "CamelAI",
        ),
        # refusal boilerplate
        row(
            [
                ("human", "What will the stock market do next week?"),
                ("gpt", "As an AI language model, I cannot predict future stock market movements."),
            ]
        ),
        # an empty answer
        row([("human", "Tell me a fun fact about octopuses."), ("gpt", "   ")]),
        # PII in the prompt: scrubbed, not dropped
        row(
            [
                (
                    "human",
                    "Write a short out-of-office reply. My email is jane.doe@example.com and my phone is +1 415-555-0132.",
                ),
                (
                    "gpt",
                    "Thank you for your message. I am out of the office until Monday and will reply when I return. For urgent matters, contact jane.doe@example.com.",
                ),
            ]
        ),
        # exact duplicate of QA[3] after normalization (case and spacing)
        row(
            [
                ("human", "How many bones are in the ADULT human body?"),
                ("gpt", "An adult  human body has 206 bones."),
            ]
        ),
        # near duplicate of the next row's instruction (one word differs)
        row(
            [
                (
                    "human",
                    "Write a friendly email to my neighbour asking them to keep the music down after ten in the evening on weekdays, because I start work very early in the morning, I need my sleep, and I would rather ask nicely than complain to the landlord. Keep it short and warm.",
                ),
                (
                    "gpt",
                    "Hi Alex, I hope you are well. Could I ask you to keep the music down after 10 pm on weekdays? I start work very early and need my sleep. Thanks so much for understanding!",
                ),
            ]
        ),
        row(
            [
                (
                    "human",
                    "Write a friendly email to my neighbour asking them to keep the music down after ten in the evening on weekdays, because I start work very early in the morning, I need my sleep, and I would rather ask nicely than complain to the landlord. Keep it short and friendly.",
                ),
                (
                    "gpt",
                    "Dear neighbour, would you mind turning the music down after ten on weeknights? I have to be up early for work. Many thanks!",
                ),
            ]
        ),
        # an unknown speaker role: dropped as malformed content
        row(
            [
                ("human", "What time is it in Tokyo?"),
                ("tool", '{"time": "09:00"}'),
                ("gpt", "It is 9 in the morning in Tokyo."),
            ]
        ),
        # an over-long answer (> 1,024 tokens once templated)
        row(
            [
                ("human", "Print the numbers from 1 to 400, one per line, each with its square."),
                ("gpt", "\n".join(f"{i}: {i * i}" for i in range(1, 401))),
            ]
        ),
    ]
    return rows


def ultrachat_rows() -> list[dict]:
    convs = [
        [
            ("user", "Can you explain how compound interest works?"),
            (
                "assistant",
                "Compound interest is interest earned on both the original amount and on interest already added. If you invest 1,000 at 5% a year, after one year you have 1,050, and the next year's 5% is computed on 1,050, giving 1,102.50.",
            ),
            ("user", "So what happens over 10 years?"),
            (
                "assistant",
                "Over 10 years at 5%, 1,000 grows to about 1,629, because each year's growth builds on the last.",
            ),
        ],
        [
            ("user", "What are some good stretches after running?"),
            (
                "assistant",
                "Try a standing quad stretch, a hamstring stretch with your heel on a low step, a calf stretch against a wall and a gentle hip-flexor lunge. Hold each for 20 to 30 seconds without bouncing.",
            ),
        ],
        [
            ("user", "Help me plan a three-day trip to Rome."),
            (
                "assistant",
                "Day 1: the Colosseum, the Roman Forum and the Palatine Hill. Day 2: Vatican Museums, the Sistine Chapel and St Peter's Basilica. Day 3: the Pantheon, Piazza Navona, the Trevi Fountain and an evening in Trastevere.",
            ),
            ("user", "Thanks! Any food tips?"),
            (
                "assistant",
                "Try cacio e pepe and carbonara at a trattoria, pizza al taglio for lunch and gelato from a shop that keeps it in covered metal tins.",
            ),
            ("user", "Great, and what about transport?"),
        ],
        [
            ("user", "Why do cats purr?"),
            (
                "assistant",
                "Cats purr when they are content, but also when stressed or hurt; the low vibration may help calm them and even support healing.",
            ),
        ],
        [
            ("user", "Write a limerick about a forgetful cat."),
            (
                "assistant",
                "A cat with a memory like lace\nforgot where she'd left her own face;\nshe searched every chair,\nthe stairs and the stair,\nthen found it asleep in its place.",
            ),
        ],
        [
            ("user", "What is the difference between a virus and a bacterium?"),
            (
                "assistant",
                "Bacteria are living single cells that can reproduce on their own and can often be treated with antibiotics. Viruses are much smaller, cannot reproduce outside a host cell, and are not affected by antibiotics.",
            ),
        ],
        [
            ("user", "How do I politely decline a meeting invitation?"),
            (
                "assistant",
                "Thank the organizer, say briefly that you cannot attend, and offer an alternative, for example: 'Thanks for the invitation. I can't join on Thursday, but I'd be glad to read the notes or meet next week.'",
            ),
        ],
        # a pasted GSM8K test question: decontamination drops it
        [
            (
                "user",
                "Janet’s ducks lay 16 eggs per day. She eats three for breakfast every morning and bakes muffins for her friends every day with four. She sells the remainder at the farmers' market daily for $2 per fresh duck egg. How much in dollars does she make every day at the farmers' market?",
            ),
            (
                "assistant",
                "She sells 16 - 3 - 4 = 9 eggs a day, so she makes 9 × $2 = $18 every day.",
            ),
        ],
        # ends with the user: no answer at all
        [("user", "Are you there?")],
    ]
    rows = []
    for conv in convs:
        prompt = conv[0][1]
        rows.append(
            {
                "prompt": prompt,
                "prompt_id": hashlib.sha256(prompt.encode()).hexdigest(),
                "messages": [{"content": c, "role": r} for r, c in conv],
            }
        )
    return rows


def wildchat_rows() -> list[dict]:
    items = [
        (
            "English",
            False,
            False,
            [
                ("user", "write a short poem about the ocean at night"),
                (
                    "assistant",
                    "Beneath the moon the waters sigh,\nsilver ribbons, dark and high;\nthe tide keeps time with distant stars\nand hums the world's old lullabies.",
                ),
            ],
        ),
        (
            "English",
            False,
            False,
            [
                ("user", "what is the difference between affect and effect"),
                (
                    "assistant",
                    "'Affect' is usually a verb meaning to influence (the weather affects my mood). 'Effect' is usually a noun meaning a result (the medicine had a quick effect).",
                ),
            ],
        ),
        (
            "English",
            False,
            True,
            [
                (
                    "user",
                    "Draft a message to my landlord. My name is <PII> and I live at <PII>; the heating is broken.",
                ),
                (
                    "assistant",
                    "Dear landlord, I am writing to let you know that the heating in my flat is not working. Could you please arrange a repair as soon as possible? Thank you.",
                ),
            ],
        ),
        (
            "Chinese",
            False,
            False,
            [
                ("user", "请用一句话介绍长城。"),
                ("assistant", "长城是中国古代修建的宏伟防御工程，绵延数千公里。"),
            ],
        ),
        (
            "English",
            True,
            False,
            [
                ("user", "write an insult for my coworker"),
                (
                    "assistant",
                    "I'd rather help you talk to your coworker about what is bothering you.",
                ),
            ],
        ),
        (
            "English",
            False,
            False,
            [
                ("user", "my server at 192.168.10.24 won't answer ssh, what should I check"),
                (
                    "assistant",
                    "Check that the machine is up (ping 192.168.10.24), that sshd is running, that port 22 is open in the firewall, and look at /var/log/auth.log for errors.",
                ),
            ],
        ),
        (
            "English",
            False,
            False,
            [("user", "hi"), ("assistant", "I'm sorry, but I cannot help with that request.")],
        ),
        (
            "English",
            False,
            False,
            [
                ("user", "give me a recipe for pancakes"),
                (
                    "assistant",
                    "Whisk 1 cup flour, 1 tbsp sugar, 2 tsp baking powder and a pinch of salt. Add 1 cup milk, 1 egg and 2 tbsp melted butter, stir until just combined, then cook ladlefuls on a hot greased pan until bubbles form; flip and cook another minute.",
                ),
            ],
        ),
    ]
    rows = []
    for i, (lang, toxic, redacted, conv) in enumerate(items):
        rows.append(
            {
                "conversation_hash": hashlib.md5(f"ffllm-wildchat-{i}".encode()).hexdigest(),
                "model": "gpt-3.5-turbo-0613",
                "timestamp": f"2023-0{1 + i % 9}-1{i} 10:00:00+00:00",
                "conversation": [
                    {
                        "content": c,
                        "country": "United States",
                        "hashed_ip": None,
                        "header": None,
                        "language": lang,
                        "redacted": redacted,
                        "role": r,
                        "state": None,
                        "timestamp": None,
                        "toxic": toxic,
                        "turn_identifier": 1000 + i,
                    }
                    for r, c in conv
                ],
                "turn": sum(r == "user" for r, _ in conv),
                "language": lang,
                "openai_moderation": [],
                "detoxify_moderation": [],
                "toxic": toxic,
                "redacted": redacted,
                "state": None,
                "country": "United States",
                "hashed_ip": hashlib.sha256(f"ip-{i}".encode()).hexdigest(),
                "header": {"accept-language": "en-US,en;q=0.9", "user-agent": "Mozilla/5.0"},
            }
        )
    return rows


def numinamath_rows() -> list[dict]:
    items = [
        (
            "cn_k12",
            "Find the value of $x$ if $3x + 7 = 22$.",
            "Subtract 7 from both sides: $3x = 15$. Divide by 3: $x = 5$. The answer is $\\boxed{5}$.",
        ),
        (
            "orca_math",
            "A shop sells pencils at 3 for 45 cents. How many cents do 12 pencils cost?",
            "Twelve pencils are 4 groups of 3, and each group costs 45 cents, so the cost is $4 \\times 45 = 180$ cents. The answer is $\\boxed{180}$.",
        ),
        (
            "synthetic_math",
            "What is the sum of the interior angles of a hexagon, in degrees?",
            "The interior angles of an $n$-gon sum to $(n-2) \\times 180^\\circ$. For $n = 6$: $4 \\times 180 = 720$. The answer is $\\boxed{720}$.",
        ),
        (
            "olympiads",
            "How many positive divisors does 36 have?",
            "$36 = 2^2 \\cdot 3^2$, so it has $(2+1)(2+1) = 9$ positive divisors. The answer is $\\boxed{9}$.",
        ),
        (
            "aops_forum",
            "Compute $\\sqrt{144} + \\sqrt{25}$.",
            "$\\sqrt{144} = 12$ and $\\sqrt{25} = 5$, so the sum is $17$. The answer is $\\boxed{17}$.",
        ),
        (
            "cn_k12",
            "If $f(x) = 2x^2 - 1$, find $f(3)$.",
            "$f(3) = 2 \\cdot 9 - 1 = 17$. The answer is $\\boxed{17}$.",
        ),
        (
            "synthetic_amc",
            "A rectangle has perimeter 30 and length 9. What is its area?",
            "Width $= 30/2 - 9 = 6$, so the area is $9 \\times 6 = 54$. The answer is $\\boxed{54}$.",
        ),
        (
            "gsm8k",
            "Tom reads 12 pages a day. How many pages does he read in 3 weeks?",
            "Three weeks have 21 days, so Tom reads $12 \\times 21 = 252$ pages. The answer is $\\boxed{252}$.",
        ),
    ]
    rows = []
    for i, (src, problem, solution) in enumerate(items):
        row = {"source": src, "problem": problem, "solution": solution}
        # the hub rows carry `messages`; one row without them exercises the problem/solution path
        row["messages"] = (
            []
            if i == 3
            else [{"content": problem, "role": "user"}, {"content": solution, "role": "assistant"}]
        )
        rows.append(row)
    return rows


OT_SYSTEM = (
    "Your role as an assistant involves thoroughly exploring questions through a systematic long "
    "thinking process before providing the final precise and accurate solutions. Structure your "
    "response into two main sections: Thought and Solution."
)


def openthoughts_rows() -> list[dict]:
    items = [
        (
            "Return your final response within \\boxed{}. What is the remainder when 2^10 is divided by 7?",
            "<|begin_of_thought|>\n\n2^3 = 8 ≡ 1 (mod 7), so 2^9 ≡ 1 and 2^10 ≡ 2.\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\nSince 2^3 ≡ 1 (mod 7), 2^10 = (2^3)^3 · 2 ≡ 2. The remainder is \\boxed{2}.\n\n<|end_of_solution|>",
        ),
        (
            "Generate an executable Python function that returns the second largest distinct number in a list, or None if there is none.",
            "<|begin_of_thought|>\n\nTake the distinct values, sort them, and return the second from the end if it exists.\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n```python\ndef second_largest(nums):\n    values = sorted(set(nums))\n    return values[-2] if len(values) >= 2 else None\n```\n\n<|end_of_solution|>",
        ),
        (
            "Return your final response within \\boxed{}. A train travels 180 km in 2.5 hours. What is its average speed in km/h?",
            "<|begin_of_thought|>\n\nSpeed = distance / time = 180 / 2.5 = 72.\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\nThe average speed is 180 / 2.5 = \\boxed{72} km/h.\n\n<|end_of_solution|>",
        ),
        (
            "Return your final response within \\boxed{}. How many ways can 4 different books be arranged on a shelf?",
            "<|begin_of_thought|>\n\nPermutations of 4 items: 4! = 24.\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\nThere are 4! = \\boxed{24} arrangements.\n\n<|end_of_solution|>",
        ),
    ]
    return [
        {
            "system": OT_SYSTEM,
            "conversations": [{"from": "user", "value": q}, {"from": "assistant", "value": a}],
        }
        for q, a in items
    ]


def ultrainteract_rows() -> list[dict]:
    items = [
        (
            "Coding",
            "codecontest",
            "Write Python code to solve the task:\nGiven a string s, print it reversed.",
            "```python\ns = input()\nprint(s[::-1])\n```",
        ),
        (
            "Math_CoT",
            "mathqa",
            "Solve the following math problem step-by-step.\nWhat is 15% of 240?",
            "Step 1: 15% is 0.15.\nStep 2: 0.15 × 240 = 36.\nAnswer:\n\\boxed{36}",
        ),
        (
            "Math_PoT",
            "gsm8k",
            "Tool available:\n[1] Python interpreter\nSolve: a farmer has 17 sheep and buys 8 more. How many sheep does he have?",
            "Step 1: Add the sheep.\n```python\nprint(17 + 8)\n```\nAnswer: 25",
        ),
        (
            "Logic",
            "strategyqa",
            "Answer the following question by reasoning step-by-step.\nCan a penguin fly to the Moon?",
            "Step 1: Penguins cannot fly at all.\nStep 2: Nothing flies to the Moon without a spacecraft.\nAnswer:\nNo",
        ),
        (
            "Coding",
            "codecontest",
            "Write Python code to solve the task:\nRead two integers a and b and print their greatest common divisor.",
            "```python\nimport math\na, b = map(int, input().split())\nprint(math.gcd(a, b))\n```",
        ),
    ]
    return [
        {
            "task": task,
            "dataset": ds,
            "instruction": ins,
            "response": resp,
            "id": f"ffllm_fixture_{i}_1",
            "parent_id": f"ffllm_fixture_{i}",
        }
        for i, (task, ds, ins, resp) in enumerate(items)
    ]


FILES = {
    "openhermes.jsonl": openhermes_rows,
    "ultrachat_200k.jsonl": ultrachat_rows,
    "wildchat.jsonl": wildchat_rows,
    "numinamath_cot.jsonl": numinamath_rows,
    "openthoughts.jsonl": openthoughts_rows,
    "ultrainteract_sft.jsonl": ultrainteract_rows,
}


def main() -> None:
    for name, make in FILES.items():
        lines = [json.dumps(r, ensure_ascii=False) for r in make()]
        (HERE / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
        digest = hashlib.sha256((HERE / name).read_bytes()).hexdigest()
        print(f"{name}\t{len(lines)} rows\t{digest}")


if __name__ == "__main__":
    main()
