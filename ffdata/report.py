"""`ffdata report SET`: one self-contained HTML page about a built set.

Build facts, the checks and their status, composition against targets (each target against the
figure it names; validation is its own part in every chart), the answer-blind baseline panel,
reconciliation, drops by reason, contamination per evaluation set, length and token histograms
and the MCQ letter balance; plots are PNGs made by matplotlib and embedded as base64, so the file
can be mailed or archived on its own. It is made from the same results as `ffdata audit`.
"""

import base64
import html
import io
from pathlib import Path

from ffdata.audit import AuditDB, Result, connect, run_audit, view_name
from ffdata.storage import open_storage

MAX_GROUPS = 8  # histogram lines per plot: beyond this the plot is unreadable
MAX_BARS = 40  # bars per chart


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


def _bars(
    labels: list[str], series: dict[str, list[float]], title: str, xlabel: str, fmt: str = ",.0f"
) -> str:
    """Horizontal bars, one group per label, one bar per series."""
    fig, ax = _figure(7.5, max(2.2, 0.38 * len(labels) * max(1, len(series)) + 1))
    n = len(series)
    height = 0.8 / n
    for i, (name, values) in enumerate(series.items()):
        ys = [j + i * height for j in range(len(labels))]
        ax.barh(ys, values, height=height, label=name)
        for y, v in zip(ys, values, strict=True):
            ax.text(v, y, f" {v:{fmt}}", va="center", fontsize=8)
    ax.set_yticks([j + (n - 1) * height / 2 for j in range(len(labels))], labels, fontsize=8)
    # first label on top; limits hug the bars (the default 5% margin left empty bands on tall charts)
    ax.set_ylim(len(labels) - 1 + n * height, -height)
    ax.set_title(title, fontsize=10, loc="left")
    ax.set_xlabel(xlabel, fontsize=9)
    top = max((v for vs in series.values() for v in vs), default=0)
    ax.set_xlim(0, top * 1.12 or 1)  # room for the value labels
    if n > 1:  # above the plot, beside the title: never over a bar
        ax.legend(fontsize=8, loc="lower right", bbox_to_anchor=(1, 1), ncols=n, frameon=False)
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
        f"<p class=note>… {len(result.rows) - limit} more rows (ffdata audit shows all)</p>"
        if len(result.rows) > limit
        else ""
    )
    return f"<table><tr>{head}</tr>{''.join(body)}</table>{more}"


def _img(b64: str, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{b64}">'


def _note(text: str) -> str:
    return f"<p class=note>{html.escape(text)}</p>"


def _find(audits: list[Result], source: str, words: str = "") -> Result | None:
    return next((r for r in audits if r.source == source and words in r.title), None)


def _label(part: str | None, block: str | None) -> str:
    """A part/block group as charts name it: "A" where part and block agree, else both."""
    if block is None or part == block:
        return str(part)
    return f"{part}/{block}" if part is not None else str(block)


# --- the status line ------------------------------------------------------------------------------
def check_status(audits: list[Result]) -> tuple[str, str, list[tuple]]:
    """("ok" | "bad" | "warn", the line, one row per check). A check is a result with an `ok`
    column (or an audit skipped for want of columns). "All checks passed" only when every check
    ran and none failed or was left unjudged; the shortcut panel leaves pools under its
    min_items unjudged by design."""
    rows, failed, unjudged, skipped = [], [], [], []
    for r in audits:
        name = (r.title or r.source).split(" (ok:")[0]  # the shortcut panel's rule is shown below
        if r.note:
            skipped.append(f"{r.source} ({r.note})")
            rows.append((r.source, name, 0, 0, "did not run: " + r.note))
            continue
        if "ok" not in r.columns:
            continue
        oks = [row[r.columns.index("ok")] for row in r.rows]
        bad = sum(ok is False for ok in oks)
        none = sum(ok is None for ok in oks) if r.source != "shortcuts" else 0
        if bad:
            failed.append(name)
        elif none:
            unjudged.append(name)
        status = "failed" if bad else "not judged" if none else "passed"
        rows.append((r.source, name, len(oks), bad, status))
    n = len(rows)
    if failed:
        line = f"{len(failed)} of {n} checks failed: " + "; ".join(failed)
        return "bad", line, rows
    if unjudged or skipped:
        parts = []
        if unjudged:
            parts.append(f"{len(unjudged)} could not be judged (a figure is missing): "
                         + "; ".join(unjudged))  # fmt: skip
        if skipped:
            parts.append(f"{len(skipped)} did not run: " + "; ".join(skipped))
        return "warn", f"No check failed, but not every check ran: {' / '.join(parts)}.", rows
    return "ok", f"All {n} checks ran and passed.", rows


# --- sections -------------------------------------------------------------------------------------
def _composition(db: AuditDB, audits: list[Result]) -> list[str]:
    out = ["<h2>Composition</h2>"]
    by_part = db.query(
        "SELECT part, block, sum(n) AS rows FROM composition GROUP BY part, block "
        "ORDER BY part IS NOT DISTINCT FROM 'validation', part, block"
    ).rows
    if by_part:
        out.append(_img(_bars([_label(p, b) for p, b, _ in by_part],
                              {"rows": [n for *_, n in by_part]},
                              "Rows by part and block (validation is its own part)", "rows"),
                        "rows by part and block"))  # fmt: skip
    held_out = "part = 'validation'"
    sources = db.query(
        "SELECT source, count(*) FILTER (WHERE NOT coalesce(" + held_out + ", false)) AS train, "
        "count(*) FILTER (WHERE " + held_out + ") AS validation FROM shards "
        "GROUP BY source ORDER BY count(*) DESC, source"
    ).rows if {"source", "part"} <= set(db.columns("shards")) else []  # fmt: skip
    if sources:
        series = {"training parts": [r[1] for r in sources]}
        if any(r[2] for r in sources):
            series["validation"] = [r[2] for r in sources]
        out.append(_img(_bars([r[0] for r in sources][:MAX_BARS],
                              {k: v[:MAX_BARS] for k, v in series.items()},
                              "Rows by source", "rows"), "rows by source"))  # fmt: skip

    targets = _find(audits, "composition.sql", "Targets vs actual")
    if targets is not None:
        cols = targets.columns
        key, target, actual = cols.index("key"), cols.index("target"), cols.index("actual")
        # the chart: counts of whole parts and blocks (per-pool targets are in the table)
        top = [r for r in targets.rows if r[target] > 1 and not r[key].startswith(
            ("pools.", "validation_by_pool.", "by_block_category."))]  # fmt: skip
        if top:
            out.append(_img(_bars([r[key] for r in top[:MAX_BARS]],
                                  {"target": [r[target] for r in top[:MAX_BARS]],
                                   "actual": [r[actual] for r in top[:MAX_BARS]]},
                                  "Targets vs actual: each target against the figure it names",
                                  "rows"), "targets vs actual"))  # fmt: skip
        dev = cols.index("deviation")
        met = sum(1 for r in targets.rows if r[dev] == 0)
        out.append(_note(f"{len(targets.rows)} targets compared, {met} met exactly. Validation "
                         "targets are compared with validation rows, training targets with the "
                         "training parts; a key and its declared.* copy are one row."))  # fmt: skip
        # the targets that miss first, then the rest in key order
        missed = sorted(targets.rows, key=lambda r: r[dev] in (0, None))
        out.append(_table(Result(targets.title, cols, missed), 120))
    ignored = _find(audits, "composition.sql", "does not compare")
    if ignored is not None and ignored.rows:
        out.append("<h3>Declared numbers not compared here</h3>")
        out.append(
            _note(
                "Rules, shares and plan figures with no row count of that name; "
                "a set's own audit may check them (repair_blocks: anchor shares)."
            )
        )
        out.append(_table(ignored, 40))
    return out


def _shortcuts(audits: list[Result]) -> list[str]:
    best = _find(audits, "shortcuts", "best one per pool")
    if best is None:
        return []
    cols = best.columns
    c = {name: cols.index(name) for name in cols}
    judged = sorted((r for r in best.rows if r[c["ok"]] is not None),
                    key=lambda r: (-r[c["gain"]], r[:4]))  # fmt: skip
    out = ["<h2>Answer-blind baselines</h2>",
           _note("How far a rule that never reads the question's meaning gets (always No, the "
                 "longest option, the number nearest the mean of the options, avoid the famous "
                 "name, …): accuracy against chance, with a 95% Wilson interval. The best rule "
                 "per pool is shown; every rule on every pool is in `ffdata audit`. "
                 "See docs/audits.md.")]  # fmt: skip
    if judged:
        shown = judged[:MAX_BARS]
        labels = [f"{_label(r[c['part']], r[c['block']])} {r[c['pool']]}: {r[c['baseline']]}"
                  for r in shown]  # fmt: skip
        out.append(_img(_bars(labels, {"baseline accuracy": [r[c["accuracy"]] for r in shown],
                                       "chance": [r[c["chance"]] for r in shown]},
                              "Best answer-blind baseline per judged pool", "accuracy",
                              fmt=".2f"), "answer-blind baselines"))  # fmt: skip
    out.append(_note(best.title.split("(", 1)[-1].rstrip(")")))
    # judged pools first, largest gain first; pools under min_items after them
    order = sorted(best.rows, key=lambda r: (r[c["ok"]] is None, -r[c["gain"]], r[:4]))
    ordered = Result(best.title, cols, order)
    out.append(_table(ordered, 60))
    balance = _find(audits, "shortcuts", "Key balance")
    if balance is not None and balance.rows:
        out.append("<h3>Key balance per pool</h3>" + _note(balance.title.split("(", 1)[-1][:-1]))
        ok = balance.columns.index("ok")
        out.append(_table(Result(balance.title, balance.columns,
                                 sorted(balance.rows, key=lambda r: r[ok] is None)), 60))  # fmt: skip
    return out


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
    kind, line, check_rows = check_status(audits)
    sections.append("<h2>Checks</h2>" + _table(
        Result("checks", ["audit", "check", "rows", "failed", "status"], check_rows), 200))  # fmt: skip

    sections += _composition(db, audits)
    sections += _shortcuts(audits)

    # reconciliation and drops
    sections.append("<h2>Reconciliation: input = kept + dropped</h2>")
    sections += [_table(r) for r in audits if r.source == "reconciliation.sql"][:2]
    reasons = db.query(
        "SELECT reason, n FROM reasons WHERE action = 'dropped' ORDER BY n DESC"
    ).rows
    if reasons:
        sections.append(_img(_bars([r[0] for r in reasons][:MAX_BARS],
                                   {"rows": [r[1] for r in reasons][:MAX_BARS]},
                                   "Dropped rows by reason", "rows"), "dropped by reason"))  # fmt: skip

    # contamination
    this_set = _find(audits, "contamination.sql", "This set")
    matched = _find(audits, "contamination.sql", "Which eval items")
    sections.append(
        "<h2>Contamination against the evaluation sets</h2>"
        + (_table(this_set) if this_set else "")
        + "<p class=note>Evaluation sets: MMLU test, ARC-Easy/Challenge test, GSM8K test, "
        "TruthfulQA, HellaSwag validation. Offline, HellaSwag has only 1,000 of its 10,042 "
        "validation items (the bundled subset).</p>" + (_table(matched, 10) if matched else "")
    )

    # lengths, per part and block
    if {"part", "block", "response", "instruction"} <= cols:
        groups_q = db.query(
            "SELECT part, block FROM shards GROUP BY ALL "
            f"ORDER BY count(*) DESC, part, block LIMIT {MAX_GROUPS}"
        ).rows
        labels = {(p, b): _label(p, b) for p, b in groups_q}
        groups: dict[str, list[float]] = {v: [] for v in labels.values()}
        for p, b, n in db.query("SELECT part, block, length(response) FROM shards").rows:
            if (p, b) in labels:
                groups[labels[(p, b)]].append(n)
        sections.append("<h2>Lengths</h2>")
        sections.append(_img(_hist(groups, "Response length by part and block", "characters"),
                             "lengths"))  # fmt: skip
        if "text" in cols:
            tok = db.query(
                "WITH s AS (SELECT part, block, text FROM shards ORDER BY hash(id), id "
                "LIMIT 20000) SELECT part, block, gpt2_tokens(text) FROM s"
            ).rows
            tgroups: dict[str, list[float]] = {v: [] for v in labels.values()}
            for p, b, n in tok:
                if (p, b) in labels:
                    tgroups[labels[(p, b)]].append(n)
            sections.append(_img(_hist(tgroups, "GPT-2 tokens of the rendered record "
                                       "(≤20,000 rows)", "tokens"), "tokens"))  # fmt: skip
        sections.extend(_table(r) for r in audits if r.source == "lengths.sql" and r.rows[:1])

    # MCQ letters, per part and block
    letters = _find(audits, "mcq_balance.sql", "Letter counts")
    if letters is not None and letters.rows:
        c = letters.columns
        by_group: dict[str, dict[str, int]] = {}
        for row in letters.rows:
            label = _label(row[c.index("part")], row[c.index("block")])
            by_group.setdefault(label, {})[row[c.index("letter")]] = row[c.index("rows")]
        all_letters = sorted({x for d in by_group.values() for x in d})
        series = {g: [by_group[g].get(x, 0) for x in all_letters] for g in sorted(by_group)}
        sections.append(
            "<h2>MCQ answer-letter balance</h2>"
            + _img(
                _bars(all_letters, series, "Gold letter per part and block", "rows"), "mcq letters"
            )  # fmt: skip
            + "".join(
                _table(r) for r in audits if r.source == "mcq_balance.sql" and r is not letters
            )
        )

    dup = [r for r in audits if r.source == "duplicates.sql"]
    if dup:
        sections.append("<h2>Duplicates</h2>" + "".join(_table(r, 10) for r in dup[:2]))

    status = f"<p class={kind}>{html.escape(line)}</p>"
    title = f"{built.name} — {built.fingerprint[:12]}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1000px; margin: 2em auto; color: #222; }}
h1 {{ font-size: 1.5em; }} h2 {{ font-size: 1.15em; border-bottom: 1px solid #ddd; }}
h3 {{ font-size: 1em; }}
table {{ border-collapse: collapse; margin: .6em 0; font-size: .85em; }}
td, th {{ border: 1px solid #ddd; padding: .25em .5em; text-align: left; }}
table.facts th {{ background: #f4f4f4; }} img {{ display: block; margin: .8em 0; max-width: 100%; }}
.note {{ color: #666; font-size: .85em; }} .bad {{ color: #b00; font-weight: bold; }}
.ok {{ color: #070; }} .warn {{ color: #a60; font-weight: bold; }}
</style></head><body>
<h1>ffdata report: {html.escape(title)}</h1>
{status}
{"".join(sections)}
</body></html>
"""


def write_report(set_name: str, root: str | None = None, out: str | Path | None = None) -> str:
    """Write the page to `out`, or to reports/<set>.html under the storage root (a local folder
    or S3); returns where it went."""
    db = connect(root)
    page = build_report(db, set_name)
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
        return str(path)
    storage = open_storage(root)
    key = f"reports/{set_name}.html"
    storage.write_bytes(key, page.encode("utf-8"))
    return storage.describe(key)
