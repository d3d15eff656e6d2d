"""`ffdata report SET`: one self-contained HTML page about a built set.

Build facts, reconciliation, composition against targets, drops by reason, contamination per
evaluation set, length and token histograms and the MCQ letter balance; plots are PNGs made by
matplotlib and embedded as base64, so the file can be mailed or archived on its own. It is made
from the same DuckDB views as the saved audits.
"""

import base64
import html
import io
from pathlib import Path

from ffdata.audit import AuditDB, Result, connect, run_audit, view_name

MAX_BLOCKS = 8  # histogram lines per plot: beyond this the plot is unreadable


def _png(fig) -> str:
    buf = io.BytesIO()
    # no Software/date metadata: the same data gives the same bytes
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata={"Software": None})
    import matplotlib.pyplot as plt

    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def _figure(width: float = 7.5, height: float = 3.4):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height))
    ax.grid(alpha=0.3)
    return fig, ax


def _bars(labels: list[str], series: dict[str, list[float]], title: str, xlabel: str) -> str:
    """Horizontal bars, one group per label, one bar per series."""
    fig, ax = _figure(7.5, max(2.2, 0.38 * len(labels) * max(1, len(series)) + 1))
    n = len(series)
    height = 0.8 / n
    for i, (name, values) in enumerate(series.items()):
        ys = [j + i * height for j in range(len(labels))]
        ax.barh(ys, values, height=height, label=name)
        for y, v in zip(ys, values, strict=True):
            ax.text(v, y, f" {v:,.0f}", va="center", fontsize=8)
    ax.set_yticks([j + (n - 1) * height / 2 for j in range(len(labels))], labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_xlabel(xlabel, fontsize=9)
    if n > 1:
        ax.legend(fontsize=8)
    return _png(fig)


def _hist(groups: dict[str, list[float]], title: str, xlabel: str, log: bool = True) -> str:
    import numpy as np

    fig, ax = _figure()
    values = [v for vs in groups.values() for v in vs if v > 0]
    if log and values:
        bins = np.logspace(np.log10(max(min(values), 1)), np.log10(max(values) + 1), 40)
        ax.set_xscale("log")
    else:
        bins = 40
    for name, vs in groups.items():
        ax.hist([v for v in vs if v > 0], bins=bins, histtype="step", linewidth=1.4, label=name)
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_xlabel(xlabel, fontsize=9)
    ax.set_ylabel("rows", fontsize=9)
    if len(groups) > 1:
        ax.legend(fontsize=8)
    return _png(fig)


def _table(result: Result, limit: int = 30) -> str:
    if not result.rows:
        return "<p class=note>(no rows)</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in result.columns)
    body = []
    for row in result.rows[:limit]:
        cells = []
        for c, v in zip(result.columns, row, strict=True):
            cls = ' class="bad"' if c == "ok" and v is False else ""
            cells.append(f"<td{cls}>{html.escape('' if v is None else str(v))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    more = (
        f"<p class=note>… {len(result.rows) - limit} more rows</p>"
        if len(result.rows) > limit
        else ""
    )
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _top_blocks(db: AuditDB) -> list[str]:
    rows = db.query(
        f"SELECT block FROM shards GROUP BY block ORDER BY count(*) DESC, block LIMIT {MAX_BLOCKS}"
    ).rows
    return [r[0] for r in rows]


def build_report(db: AuditDB, set_name: str) -> str:
    """The HTML page for one set (its latest build)."""
    audits = run_audit(db, set_name)
    built = db.sets[view_name(set_name)]
    rec = built.record
    cols = set(db.columns("shards"))
    sections: list[str] = []

    facts = [
        ("set", built.name),
        ("fingerprint", built.fingerprint),
        ("path", built.uri),
        ("built at", rec.get("built_at", "")),
        ("rows", f"{rec.get('rows', 0):,}"),
        ("tokens (GPT-2)", f"{rec['tokens']:,}" if rec.get("tokens") else "—"),
        ("input rows", f"{(rec.get('reconciliation') or {}).get('input', 0):,}"),
        ("dropped", f"{(rec.get('dropped') or {}).get('total', 0):,}"),
        ("builder", f"{rec.get('builder', '')} v{rec.get('builder_version', '')}"),
    ]
    sections.append(
        "<table class=facts>"
        + "".join(f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>" for k, v in facts)
        + "</table>"
    )

    # composition
    comp = db.query(
        "SELECT kind, key, n FROM counts WHERE kind IN ('by_block', 'by_source') "
        "ORDER BY kind, n DESC, key"
    ).rows
    plots = []
    for kind in ("by_block", "by_source"):
        rows = [(k, n) for kd, k, n in comp if kd == kind]
        if rows:
            plots.append(
                _img(
                    _bars(
                        [k for k, _ in rows],
                        {"rows": [n for _, n in rows]},
                        f"Rows {kind.replace('_', ' ')}",
                        "rows",
                    ),  # fmt: skip
                    f"rows {kind}",
                )
            )
    targets = [r for r in audits if r.source == "composition.sql" and "target" in r.columns]
    target_rows = [r for r in targets[0].rows if r[2] is not None] if targets else []
    if target_rows:
        labels = [r[0] for r in target_rows]
        plots.append(
            _img(
                _bars(
                    labels,
                    {"target": [r[1] for r in target_rows], "actual": [r[2] for r in target_rows]},
                    "Targets vs actual (counts; shares are fractions of the rows)",
                    "rows",
                ),
                "targets vs actual",
            )  # fmt: skip
        )
    sections.append("<h2>Composition</h2>" + "".join(plots))
    if targets:
        sections.append(_table(targets[0]))

    # reconciliation and drops
    recon = [r for r in audits if r.source == "reconciliation.sql"]
    sections.append("<h2>Reconciliation: input = kept + dropped</h2>" + _table(recon[0]))
    reasons = db.query(
        "SELECT reason, n FROM reasons WHERE action = 'dropped' ORDER BY n DESC"
    ).rows
    if reasons:
        sections.append(
            _img(
                _bars(
                    [r[0] for r in reasons],
                    {"rows": [r[1] for r in reasons]},
                    "Dropped rows by reason",
                    "rows",
                ),  # fmt: skip
                "dropped by reason",
            )
        )

    # contamination
    contam = [r for r in audits if r.source == "contamination.sql"]
    sections.append(
        "<h2>Contamination against the evaluation sets</h2>"
        + _table(contam[0])
        + "<p class=note>Evaluation sets: MMLU test, ARC-Easy/Challenge test, GSM8K test, "
        "TruthfulQA, HellaSwag validation. Offline, HellaSwag has only 1,000 of its 10,042 "
        "validation items (the bundled subset).</p>"
        + (_table(contam[2], 10) if len(contam) > 2 else "")
    )

    # lengths
    if {"block", "response", "instruction"} <= cols:
        blocks = _top_blocks(db)
        groups = {}
        for b in blocks:
            rows = db.query(
                "SELECT length(response) FROM shards WHERE block = "
                f"'{b.replace(chr(39), chr(39) * 2)}'"
            ).rows
            groups[b] = [r[0] for r in rows]
        sections.append("<h2>Lengths</h2>")
        sections.append(_img(_hist(groups, "Response length by block", "characters"), "lengths"))
        if "text" in cols:
            tok = db.query(
                "WITH s AS (SELECT block, text FROM shards ORDER BY hash(id), id LIMIT 20000) "
                "SELECT block, gpt2_tokens(text) FROM s"
            ).rows
            tgroups: dict[str, list[float]] = {b: [] for b in blocks}
            for b, n in tok:
                if b in tgroups:
                    tgroups[b].append(n)
            sections.append(
                _img(
                    _hist(tgroups, "GPT-2 tokens of the rendered record (≤20,000 rows)", "tokens"),
                    "tokens",
                )
            )
        sections.extend(_table(r) for r in audits if r.source == "lengths.sql" and r.rows[:1])

    # MCQ letters
    mcq = [r for r in audits if r.source == "mcq_balance.sql" and r.rows]
    if mcq:
        letters = mcq[0]
        by_block: dict[str, dict[str, int]] = {}
        for block, letter, n, _ in letters.rows:
            by_block.setdefault(block, {})[letter] = n
        all_letters = sorted({letter for d in by_block.values() for letter in d})
        series = {b: [by_block[b].get(x, 0) for x in all_letters] for b in sorted(by_block)}
        sections.append(
            "<h2>MCQ answer-letter balance</h2>"
            + _img(_bars(all_letters, series, "Gold letter per block", "rows"), "mcq letters")
            + "".join(_table(r) for r in mcq[1:])
        )

    dup = [r for r in audits if r.source == "duplicates.sql"]
    if dup:
        sections.append("<h2>Duplicates</h2>" + "".join(_table(r, 10) for r in dup[:2]))

    failed = [r.title or r.source for r in audits if r.failed]
    status = (
        f"<p class=bad>Failed checks: {html.escape('; '.join(failed))}</p>"
        if failed
        else "<p class=ok>All checks passed.</p>"
    )
    title = f"{built.name} — {built.fingerprint[:12]}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto; color: #222; }}
h1 {{ font-size: 1.5em; }} h2 {{ font-size: 1.15em; border-bottom: 1px solid #ddd; }}
table {{ border-collapse: collapse; margin: .6em 0; font-size: .85em; }}
td, th {{ border: 1px solid #ddd; padding: .25em .5em; text-align: left; }}
table.facts th {{ background: #f4f4f4; }} img {{ display: block; margin: .8em 0; max-width: 100%; }}
.note {{ color: #666; font-size: .85em; }} .bad {{ color: #b00; font-weight: bold; }}
.ok {{ color: #070; }}
</style></head><body>
<h1>ffdata report: {html.escape(title)}</h1>
{status}
{"".join(sections)}
</body></html>
"""


def write_report(set_name: str, root: str | None = None, out: str | Path | None = None) -> Path:
    db = connect(root)
    page = build_report(db, set_name)
    path = Path(out) if out else Path("artifacts") / "reports" / f"{set_name}.html"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
