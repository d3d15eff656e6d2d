"""Block B misconception items: a question a common misconception answers wrongly, and the
correct short answer (manifests/tables/misconceptions.csv, one sourced row each)."""

from collections.abc import Iterator

from ffdata.errors import FFDataError
from ffdata.formats import is_short_fact
from ffdata.generators.mcq import Candidate


def items(tables, seed) -> Iterator[Candidate]:
    table = tables["misconceptions"]
    for r in table.rows:
        if not is_short_fact(r["answer"]):
            raise FFDataError(
                f"{table.path}:{r['_line']}: field 'answer': not one short sentence under 100 "
                f"characters: {r['answer']!r}"
            )
        yield Candidate(
            key=f"misconceptions:{r['_row']}",
            question=r["question"],
            answer=r["answer"],
            category="misconception",
            format="short_fact",
            meta={
                "table": "misconceptions",
                "row": r["_row"],
                "template": "misconception",
                "topic": r["topic"],
                "facts": [f"misconceptions:{r['_row']}:row"],
            },
        )
