"""Writes the preference-pair fixtures in this folder. WRITTEN BY THE FFLLM PROJECT, not hub data.

Rows were written by hand for ffllm in the hub schemas the DPO builders read:
- ultrafeedback_binarized_preferences.jsonl: argilla/ultrafeedback-binarized-preferences
  (`source, instruction, chosen_response, rejected_response, chosen_avg_rating,
  rejected_avg_rating, chosen_model`);
- alpaca_farm_preference.jsonl: tatsu-lab/alpaca_farm preference splits
  (`instruction, input, output_1, output_2, preference` with preference 1 or 2);
- wizardlm_pairs.jsonl: the plain `prompt, chosen, rejected` pair layout.
Bad rows exercise the drop reasons: a tie, identical answers, an empty answer, a duplicate
prompt and a pasted ARC test question.
"""

import hashlib
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent

UF = [
    (
        "evol_instruct",
        "Explain what a hash table is.",
        "A hash table stores key-value pairs in an array. A hash function turns each key into an index, so lookups, inserts and deletes take constant time on average; collisions are handled by chaining or open addressing.",
        "It is a table of hashes.",
        4.75,
        2.0,
        "gpt-4",
    ),
    (
        "ultrachat",
        "Give me two tips for writing a clear email.",
        "1. Put the main request in the first sentence.\n2. Keep it short and use a specific subject line.",
        "Write well and be clear.",
        4.5,
        2.25,
        "gpt-3.5-turbo",
    ),
    (
        "flan_v2_niv2",
        "Classify the sentiment of: 'The service was slow but the food was excellent.'",
        "Mixed: negative about the service, positive about the food.",
        "Positive.",
        4.0,
        3.0,
        "wizardlm-70b",
    ),
    (
        "sharegpt",
        "What is the capital of Canada?",
        "Ottawa is the capital of Canada.",
        "Toronto is the capital of Canada.",
        5.0,
        1.5,
        "gpt-4",
    ),
    (
        "false_qa",
        "How many legs does a snake have?",
        "Snakes have no legs.",
        "Snakes have four short legs.",
        4.75,
        1.0,
        "llama-2-70b-chat",
    ),
    (
        "evol_instruct",
        "Write a Python one-liner that sums the squares of 1..10.",
        "sum(i * i for i in range(1, 11))",
        "sum(range(10))**2",
        4.5,
        2.0,
        "gpt-4",
    ),
    # a tie: the binarized set keeps it, preference training cannot use it
    ("ultrachat", "Name a primary colour.", "Red.", "Blue.", 4.0, 4.0, "gpt-3.5-turbo"),
    # identical answers
    ("sharegpt", "Say hello in French.", "Bonjour.", "Bonjour.", 5.0, 3.0, "gpt-4"),
    # an empty chosen answer
    (
        "evol_instruct",
        "Describe the water cycle briefly.",
        "  ",
        "Water goes up and comes down.",
        4.0,
        2.0,
        "gpt-4",
    ),
    # the same prompt again (normalized): the first row wins
    (
        "ultrachat",
        "what is the capital of  canada?",
        "The capital of Canada is Ottawa.",
        "Montreal.",
        4.5,
        1.25,
        "gpt-4",
    ),
    # an ARC-Challenge test question (allenai/ai2_arc, CC BY-SA 4.0): decontamination drops it
    (
        "flan_v2_cot",
        "An astronomer observes that a planet rotates faster after a meteorite impact. Which is the most likely effect of this increase in rotation?",
        "Planetary days will become shorter.",
        "Planetary gravity will become stronger.",
        4.5,
        2.0,
        "gpt-4",
    ),
]

ALPACA_FARM = [
    (
        "Give three tips for staying focused while studying.",
        "",
        "1. Silence your phone.\n2. Work in 25-minute blocks with short breaks.\n3. Set one clear goal per session.",
        "Just focus harder.",
        1,
    ),
    (
        "Rewrite the sentence in the passive voice.",
        "The chef cooked the meal.",
        "The meal was cooked by the chef.",
        "The chef was cooking the meal.",
        1,
    ),
    (
        "Name the largest ocean on Earth.",
        "",
        "The Atlantic Ocean.",
        "The Pacific Ocean is the largest ocean on Earth.",
        2,
    ),
    (
        "Suggest a title for a blog post about home gardening.",
        "",
        "Gardening.",
        "From Seed to Salad: A Beginner's Guide to Home Gardening",
        2,
    ),
    ("Convert 5 kilometres to miles.", "", "5 km is about 3.11 miles.", "5 km is 8 miles.", 1),
    (
        "Summarize the text in one sentence.",
        "The city council voted on Tuesday to extend library opening hours on weekends, citing strong demand from students and families.",
        "The council extended weekend library hours because of demand from students and families.",
        "The council met on Tuesday.",
        1,
    ),
]

WIZARDLM = [
    (
        "Explain recursion to a beginner programmer.",
        "Recursion is when a function solves a problem by calling itself on a smaller version of the same problem, stopping at a simple base case. For example, factorial(n) = n * factorial(n - 1), with factorial(0) = 1.",
        "Recursion is recursion.",
    ),
    (
        "Write a short motivational quote about persistence.",
        "Small steps, taken every day, climb the highest mountains.",
        "Never do anything.",
    ),
    (
        "What are the benefits of drinking water?",
        "Water keeps you hydrated, helps regulate body temperature, supports digestion and keeps joints lubricated.",
        "It is wet.",
    ),
    (
        "Describe the taste of a lemon.",
        "A lemon tastes sharply sour with a slightly bitter, fresh citrus note.",
        "Sweet like candy.",
    ),
    (
        "Give an example of a renewable resource.",
        "Wind energy is a renewable resource.",
        "Coal is a renewable resource.",
    ),
]


def main() -> None:
    files = {
        "ultrafeedback_binarized_preferences.jsonl": [
            dict(
                zip(
                    [
                        "source",
                        "instruction",
                        "chosen_response",
                        "rejected_response",
                        "chosen_avg_rating",
                        "rejected_avg_rating",
                        "chosen_model",
                    ],
                    r,
                    strict=True,
                )
            )
            for r in UF
        ],
        "alpaca_farm_preference.jsonl": [
            dict(
                zip(["instruction", "input", "output_1", "output_2", "preference"], r, strict=True)
            )
            for r in ALPACA_FARM
        ],
        "wizardlm_pairs.jsonl": [
            dict(zip(["prompt", "chosen", "rejected"], r, strict=True)) for r in WIZARDLM
        ],
    }
    for name, rows in files.items():
        path = HERE / name
        path.write_text(
            "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8"
        )
        print(f"{name}\t{len(rows)} rows\t{hashlib.sha256(path.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()
