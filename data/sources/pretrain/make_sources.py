"""Write the small local pretraining sources, each in its real hub schema (PROVENANCE.md).

    python data/sources/pretrain/make_sources.py [SHARED_REAL_DIR]

Text comes from GSM8K train (MIT, in this repo), ARC-Easy/Challenge train questions (CC BY-SA
4.0), the periodic-table summaries (CC BY-SA 3.0, from Wikipedia) and the Wikipedia timeline of
inventions (CC BY-SA 4.0), plus sentences written for this project. No evaluation split is used.
Metadata fields (ids, urls, dates, scores) are placeholders in the right shape: urls use the
reserved `.example` domain except the Wikipedia ones, which are the articles' real addresses.
Deterministic: the same inputs give byte-identical files.
"""

import csv
import hashlib
import json
import re
import sys
import uuid
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
sys.path.insert(0, str(REPO))
from ffdata.tokenizer import encode  # noqa: E402

_CALC = re.compile(r"<<[^>]*>>")
_FINAL = re.compile(r"\n#### (.+)$")
NS = uuid.UUID("6f1c0f52-2b7c-4a7e-9f57-3f0d0a0b0c0d")


def urn(key: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(NS, key)}>"


def gsm8k_problems() -> list[str]:
    out = []
    for line in (
        (REPO / "data/sources/gsm8k/train.jsonl")
        .read_text(encoding="utf-8")
        .strip("\n")
        .split("\n")
    ):
        row = json.loads(line)
        m = _FINAL.search(row["answer"])
        steps = _CALC.sub("", row["answer"][: m.start()]).strip()
        out.append(f"{row['question'].strip()}\n{steps}\nThe answer is {m.group(1).strip()}.")
    return out


def arc_paragraphs(path: Path) -> list[str]:
    out = []
    for line in path.read_text(encoding="utf-8").strip("\n").split("\n"):
        row = json.loads(line)
        answer = dict(zip(row["choices"]["label"], row["choices"]["text"], strict=True))[
            row["answerKey"]
        ]
        out.append(f"{row['question'].strip()} The correct answer is: {answer.strip()}.")
    return out


def groups(items: list[str], k: int, sep: str = "\n\n") -> list[str]:
    return [sep.join(items[i : i + k]) for i in range(0, len(items) - k + 1, k)]


def write_jsonl(name: str, rows: list[dict]) -> None:
    with open(HERE / name, "w", encoding="utf-8", newline="\n") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")


def fineweb_row(text: str, key: str, dump: str, i: int, url: str | None = None) -> dict:
    return {
        "text": text,
        "id": urn(key),
        "dump": dump,
        "url": url or f"https://www.{key.split(':')[0]}.example/page/{i}",
        "date": f"2024-02-{1 + i % 28:02d}T{i % 24:02d}:00:00Z",
        "file_path": f"s3://commoncrawl/crawl-data/{dump}/segments/example/warc/{i:05d}.warc.gz",
        "language": "en",
        "language_score": round(0.9 + (i % 10) / 100, 4),
        "token_count": len(encode(text)),
    }


def edu_row(text: str, key: str, i: int, score: float) -> dict:
    row = fineweb_row(text, key, "CC-MAIN-2024-10", i)
    row["score"] = score
    row["int_score"] = int(round(score))
    return row


# Documents written for this project to exercise the filters and dedup (each says why).
LOW_QUALITY = [
    # navigation boilerplate: short lines, few words -> quality filters
    "Home\nAbout us\nProducts\nContact\nLogin\nRegister\nCart (0)\nSearch\nFAQ\nSitemap",
    # lorem ipsum placeholder page -> c4_quality
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 12,
    # the same line over and over -> gopher_repetition
    "\n".join(["Buy cheap watches online today, free shipping on every order."] * 30),
    # too short to be a document -> gopher_quality
    "Click here to subscribe to our newsletter.",
    # code with curly brackets -> c4_quality
    "function init() { var x = document.getElementById('menu'); x.style.display = 'none'; }\n" * 8,
]

OWN_PROSE = [
    "A reproducible data pipeline writes down every choice it makes. The sources are pinned to "
    "exact versions, the filters are named with their settings, and the output is named by a hash "
    "of all of that. When two people run the same recipe on the same inputs, they get the same "
    "bytes, and when the result changes, the recipe tells them why. This is slower to set up than "
    "a script that happens to work once, but it pays for itself the first time someone asks where "
    "a number came from.",
    "Deduplication matters more than most people expect. Web crawls revisit the same pages many "
    "times, mirror sites copy each other, and boilerplate text appears on thousands of pages. A "
    "model trained on such data sees some passages hundreds of times and learns to repeat them. "
    "Removing exact copies is cheap: hash the text and keep one document per hash. Removing near "
    "copies needs more care, and MinHash with locality-sensitive hashing is the usual tool for it.",
    "Evaluation sets leak into training data in quiet ways. A question from a benchmark is posted "
    "on a forum, copied into a study guide, and crawled a year later. If the model then answers "
    "that question correctly, the score says less than it seems to. Checking every training "
    "document for long overlaps with the evaluation items, and dropping the ones that match, keeps "
    "the scores honest, and recording what was dropped keeps the check itself honest.",
    "Token budgets shape a training mix. Each source is given a share of the total, and the "
    "builder either samples fewer documents from a large source or repeats a small one to reach "
    "its share. Repeating a source a few times is usually harmless; repeating it many times makes "
    "the model memorize it. That is why a mix should state a maximum repeat factor and refuse to "
    "build when a target cannot be reached within it, instead of silently repeating a source ten times.",
    "A sidecar table next to each token shard says which document sits where: its identifier, its "
    "source, the module it belongs to, and the offset and length of its tokens. With that table, "
    "questions about the composition of the training data become simple queries. How many tokens "
    "came from each source? How long are the documents? How often was each one repeated? The "
    "answers come from the same files the trainer reads, so they cannot drift apart.",
    "Quality filters are heuristics, and heuristics make mistakes. A filter that removes pages with "
    "too many short lines also removes some poems; a filter that requires terminal punctuation "
    "removes some lists that were worth keeping. The right response is not to trust the filters "
    "blindly, but to look at what they drop. Writing every dropped document with the name of the "
    "filter that dropped it makes that easy, and an audit can count the drops by reason.",
]


def main(shared: Path) -> None:
    gsm = gsm8k_problems()
    arc_easy = arc_paragraphs(shared / "arc/ARC-Easy-train.jsonl")
    arc_chal = arc_paragraphs(shared / "arc/ARC-Challenge-train.jsonl")

    # FineWeb general (M1 BASE): GSM8K train problems 0-1799, two per document, + low quality.
    general_texts = groups(gsm[0:1800], 2)
    general = [
        fineweb_row(t, f"fineweb:{i}", "CC-MAIN-2024-10", i) for i, t in enumerate(general_texts)
    ]
    for j, t in enumerate(LOW_QUALITY):
        general.insert(50 + 97 * j, fineweb_row(t, f"fineweb:lowq{j}", "CC-MAIN-2024-10", 9000 + j))
    empty = fineweb_row("", "fineweb:empty", "CC-MAIN-2024-10", 9999)
    empty["text"] = "   "  # an empty document: dropped as malformed, and counted
    general.insert(400, empty)
    write_jsonl("fineweb.jsonl", general)

    # FineWeb sample-10BT (M1 Extra25): problems 1800-2999, plus 30 exact copies of FineWeb
    # documents (the real sample is a subset of FineWeb) and 15 near-copies at other urls.
    tenbt = [
        fineweb_row(t, f"fineweb10bt:{i}", "CC-MAIN-2023-50", i)
        for i, t in enumerate(groups(gsm[1800:3000], 2))
    ]
    for j in range(30):
        tenbt.insert(7 * j, dict(general[5 + 11 * j]))
    for j in range(15):
        src = general_texts[300 + 13 * j]
        near = src.replace(" the ", " a ", 1) + "\nThat is how the problem is solved."
        tenbt.append(fineweb_row(near, f"fineweb10bt:near{j}", "CC-MAIN-2023-50", 8000 + j))
    write_jsonl("fineweb_10bt.jsonl", tenbt)

    # FineWeb-EDU (M2 BASE, high): ARC-Easy train, five questions per document.
    edu = [
        edu_row(t, f"fineweb-edu:{i}", i, 3.2 + (i % 15) / 10)
        for i, t in enumerate(groups(arc_easy, 5))
    ]
    write_jsonl("fineweb_edu.jsonl", edu)

    # FineWeb-EDU score-2 (M2 Extra): ARC-Challenge train, plus 20 documents also in FineWeb-EDU
    # (score >= 3 pages are in both): exact dedup keeps the higher-quality FineWeb-EDU copy.
    ext = [
        edu_row(t, f"fineweb-edu-2:{i}", i, 2.1 + (i % 9) / 10)
        for i, t in enumerate(groups(arc_chal, 5))
    ]
    for j in range(20):
        ext.insert(5 * j, dict(edu[3 + 17 * j]))
    write_jsonl("fineweb_edu_ext.jsonl", ext)

    # C4 en (M1 C4): problems 3000-4799, one line per paragraph like C4.
    c4 = [
        {
            "text": t,
            "timestamp": f"2019-04-{1 + i % 28:02d}T{i % 24:02d}:15:00Z",
            "url": f"https://blog.c4.example/post/{i}",
        }  # fmt: skip
        for i, t in enumerate(groups(gsm[3000:4800], 2, sep="\n"))
    ]
    write_jsonl("c4_en.jsonl", c4)

    # Wikipedia en (M1 BASE, low): periodic-table summaries and the timeline of inventions.
    elements = json.loads((shared / "facts/PeriodicTableJSON.json").read_text())["elements"]
    wiki = []
    for el in elements:
        facts = [
            f"{el['name']} has the chemical symbol {el['symbol']} and atomic number {el['number']}.",
            f"Its standard atomic mass is about {el['atomic_mass']}.",
        ]
        if el.get("category"):
            facts.append(f"It is classified as a {el['category']}.")
        if el.get("phase"):
            facts.append(f"At room temperature it is a {el['phase'].lower()}.")
        if el.get("appearance"):
            facts.append(f"In appearance it is {el['appearance']}.")
        if el.get("discovered_by"):
            facts.append(f"It was discovered by {el['discovered_by']}.")
        if el.get("named_by"):
            facts.append(f"It was named by {el['named_by']}.")
        text = f"{el['summary'].strip()}\n\n{' '.join(facts)}"
        wiki.append(
            {"id": str(el["number"]), "url": el["source"], "title": el["name"], "text": text}
        )
    with open(shared / "facts/inventions.csv", encoding="utf-8", newline="") as f:
        inventions = [r for r in csv.DictReader(f) if r["description"].strip()]
    for k in range(0, len(inventions) - 7, 8):
        part = inventions[k : k + 8]
        paras = [
            f"{r['name'].strip().capitalize()} ({r['date'].strip()}): {r['description'].strip()}"
            for r in part
        ]
        title = f"Timeline of historic inventions ({part[0]['date'].strip()} to {part[-1]['date'].strip()})"
        wiki.append({
            "id": str(100000 + k),
            "url": f"https://en.wikipedia.org/wiki/Timeline_of_historic_inventions#part-{k // 8}",
            "title": title, "text": "\n\n".join(paras),
        })  # fmt: skip
    pq.write_table(
        pa.Table.from_pylist(
            wiki, schema=pa.schema([(n, pa.string()) for n in ("id", "url", "title", "text")])
        ),
        HERE / "wikipedia_en.parquet",
        compression="zstd",
    )

    # Custom clean web (M1 BASE/Extra, low): prose written for this project + problems 4800-5999.
    clean = [{"id": f"clean-{i}", "url": f"https://notes.clean.example/{i}", "text": t}
             for i, t in enumerate(OWN_PROSE)]  # fmt: skip
    clean += [
        {"id": f"clean-gsm-{i}", "url": f"https://math.clean.example/{i}", "text": t}
        for i, t in enumerate(groups(gsm[4800:6000], 2))
    ]
    write_jsonl("clean_web.jsonl", clean)

    # News crawl (M1 BASE, low), cc_news schema: problems 6000-7472; one story reuses another's
    # url with slightly different text (a re-crawl): URL dedup keeps one.
    news = []
    for i, t in enumerate(groups(gsm[6000:7473], 2)):
        first = t.split("\n", 1)[0]
        title = first if len(first) <= 80 else first[:77].rsplit(" ", 1)[0] + "..."
        news.append({
            "title": title, "text": t, "domain": "news.example",
            "date": f"2018-0{1 + i % 9}-{1 + i % 28:02d} 00:00:00", "description": first[:150],
            "url": f"https://news.example/story/{i}", "image_url": "",
        })  # fmt: skip
    recrawl = dict(news[1])
    recrawl["text"] += "\nThis story was updated with a correction to the second paragraph."
    news.append(recrawl)
    write_jsonl("news.jsonl", news)

    for name in sorted(p.name for p in HERE.iterdir() if p.suffix in (".jsonl", ".parquet")):
        digest = hashlib.sha256((HERE / name).read_bytes()).hexdigest()
        print(f"{name} {digest}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/data/real"))
