"""`ffdata`: build, list, inspect, verify and audit the FF-LLM training sets."""

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ffdata.errors import FFDataError, one_line

console = Console()
err_console = Console(stderr=True)

RootOpt = Annotated[
    str | None,
    typer.Option(
        "--root", help="Storage root: a folder (default artifacts/) or s3://bucket/prefix"
    ),
]


class _App(typer.Typer):
    """Typer app that turns FFDataError, and the failures a user can act on (a full disk, a bad
    S3 endpoint, errors.one_line), into one clear line and exit status 2."""

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except Exception as e:
            message = one_line(e)
            if message is None:
                raise  # a bug: its traceback helps
            err_console.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
            sys.exit(2)


app = _App(
    help="Build the FF-LLM training sets reproducibly and audit them with SQL.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def build(
    name: Annotated[str, typer.Argument(help="Set name, e.g. repair_blocks")],
    manifest: Annotated[
        str | None, typer.Option("--manifest", help="Manifest file (default manifests/NAME.yaml)")
    ] = None,
    root: RootOpt = None,
    force: Annotated[bool, typer.Option("--force", help="Rebuild even if it exists")] = False,
    executor: Annotated[
        str | None,
        typer.Option("--executor", help="datatrove executor for engine builds: local, slurm, ray"),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="processes to use: datatrove tasks at once (pretrain_mix), or processes for "
            "the SFT builders' per-row work; the set's bytes do not depend on it",
        ),
    ] = None,
    source: Annotated[
        str | None,
        typer.Option("--source", help="local (default) or hf: draw Block A from hub datasets"),
    ] = None,
):
    """Build a set from its manifest; prints the set's path and fingerprint."""
    import os

    from ffdata.build import build_set

    # Scheduling only (datatrove builds, ffdata.workers): never fingerprinted.
    if executor:
        os.environ["FFDATA_EXECUTOR"] = executor
    if workers:
        os.environ["FFDATA_WORKERS"] = str(workers)

    options = {"block_a_source": source} if source else None
    built, fresh = build_set(name, manifest, root, force, options=options)
    rec = built.record
    if not fresh:
        typer.echo("already built: fingerprint unchanged, nothing to do (--force rebuilds)")
    typer.echo(f"set:         {built.name}")
    typer.echo(f"fingerprint: {built.fingerprint}")
    typer.echo(f"path:        {built.uri}")
    typer.echo(
        f"rows:        {rec['rows']}  dropped: {rec['dropped']['total']}  tokens: {rec['tokens']}"
    )
    typer.echo(f"by part:     {json.dumps(rec['counts']['by_part'])}")


@app.command("ls")
def list_cmd(root: RootOpt = None):
    """List every built set under the root."""
    from ffdata.sets import latest_fingerprint, list_sets

    sets = list_sets(root)
    table = Table("set", "fingerprint", "rows", "tokens", "built_at", "latest", "path")
    table.columns[-1].overflow = "fold"
    for s in sets:
        latest = latest_fingerprint(s.storage, s.layout) == s.fingerprint
        table.add_row(
            s.name,
            s.fingerprint[:12],
            str(s.record["rows"]),
            str(s.record.get("tokens") or ""),
            s.record.get("built_at", ""),
            "*" if latest else "",
            s.uri,
        )
    console.print(table)


@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@FINGERPRINT or LAYOUT/FP")],
    root: RootOpt = None,
):
    """Print a set's build record summary."""
    from ffdata.sets import open_set

    s = open_set(root, ref)
    rec = dict(s.record)
    rec.pop("manifest", None)
    console.print_json(json.dumps(rec))


@app.command()
def verify(
    ref: Annotated[str, typer.Argument(help="NAME, NAME@FINGERPRINT or LAYOUT/FP")],
    root: RootOpt = None,
):
    """Re-hash every shard against the build record; non-zero exit on any mismatch."""
    from ffdata.sets import open_set

    s = open_set(root, ref)
    shards = s.verify()
    typer.echo(
        f"ok: {s.name} {s.fingerprint[:12]} — {len(shards)} shards, {s.record['rows']} rows verified"
    )


FormatOpt = Annotated[str, typer.Option("--format", help="table, csv or json")]


def _print_results(results, fmt: str) -> None:
    from ffdata.audit import result_csv, result_json, result_table

    if fmt not in ("table", "csv", "json"):
        raise FFDataError(f"--format must be table, csv or json, got {fmt!r}")
    if fmt == "json" and all(r.source == "sql" for r in results):  # plain query: its rows
        rows = [[dict(zip(r.columns, row, strict=True)) for row in r.rows] for r in results]
        typer.echo(json.dumps(rows[0] if len(rows) == 1 else rows, indent=1, default=str))
        return
    if fmt == "json":
        typer.echo(result_json(results))
        return
    for r in results:
        if fmt == "csv":
            if r.source != "sql":  # an audit: say which result this is
                typer.echo(f"# {r.source}: {r.title or r.note}")
            typer.echo(result_csv(r), nl=False)
        elif r.note:
            console.print(f"[dim]{r.source}: {r.note}[/]")
        else:
            console.print(result_table(r))


@app.command()
def sql(
    query: Annotated[
        str, typer.Argument(help="SQL over the views: <set>, <set>__dropped, sets, …")
    ],
    root: RootOpt = None,
    fmt: FormatOpt = "table",
):
    """Run SQL (DuckDB) over every built set; `SELECT * FROM sets` lists them."""
    from ffdata.audit import connect

    db = connect(root)
    _print_results(db.run_script(query), fmt)


@app.command()
def audit(
    names: Annotated[
        list[str] | None, typer.Argument(help="Set name (with --overlap: sets, default all)")
    ] = None,
    root: RootOpt = None,
    fmt: FormatOpt = "table",
    overlap: Annotated[
        bool, typer.Option("--overlap", help="questions and source rows shared across sets")
    ] = False,
):
    """Run the saved audits (audits/*.sql, plus audits/NAME.sql and the answer-blind baseline
    panel) on a set's latest build; or, with --overlap, the overlap matrix across sets."""
    from ffdata.audit import connect, run_audit

    if overlap:
        from ffdata.audit import overlap as overlap_matrix

        results = overlap_matrix(connect(root, evalsets=False), names)
        if fmt == "table":
            console.print(_matrix_table(results[0]))
            results = results[1:]
        _print_results(results, fmt)
        return
    if not names or len(names) != 1:
        raise FFDataError("audit takes one set name (or --overlap and any number of sets)")
    results = run_audit(connect(root), names[0])
    _print_results(results, fmt)
    failed = [r.title or r.source for r in results if r.failed]
    if failed:
        err_console.print(f"[bold red]failed:[/] {'; '.join(failed)}", highlight=False)
        raise typer.Exit(1)


def _matrix_table(result):
    """The overlap matrix as a grid: set/part x set/part, cells "questions / source rows"."""
    groups = list(dict.fromkeys((r[0], r[1]) for r in result.rows))
    cells = {(r[0], r[1], r[2], r[3]): f"{r[4]:,} / {r[5]:,}" for r in result.rows}
    table = Table(
        title="Shared normalized questions / shared source rows (diagonal: the part's own)",
        title_justify="left",
    )
    table.add_column("set/part")
    for s, p in groups:
        table.add_column(f"{s}/{p}", justify="right", overflow="fold")
    for a in groups:
        table.add_row(f"{a[0]}/{a[1]}", *(cells[(*a, *b)] for b in groups))
    return table


@app.command()
def report(
    name: Annotated[str, typer.Argument(help="Set name")],
    root: RootOpt = None,
    out: Annotated[
        str | None,
        typer.Option("--out", help="HTML file (default reports/NAME.html under the root)"),
    ] = None,
):
    """Write a self-contained HTML report (plots embedded) about a set's latest build."""
    from ffdata.report import write_report

    typer.echo(f"report: {write_report(name, root, out)}")


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:,.1f} {unit}"
    return f"{n} B"


@app.command("cache")
def cache_cmd(
    prune: Annotated[
        bool,
        typer.Option(
            "--prune",
            help="remove the indexes and import lists no build has used "
            "for --unused-days days (rebuilt when needed)",
        ),
    ] = False,
    unused_days: Annotated[
        float, typer.Option("--unused-days", help="what --prune counts as unused")
    ] = 30.0,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="with --prune: say what it would remove")
    ] = False,
):
    """What ffdata keeps under $FFDATA_CACHE (default ~/.cache/ffdata), kind by kind; --prune
    removes what only speeds builds up and has not been used for a while."""
    from collections import Counter
    from datetime import datetime

    from ffdata.cache import prune as prune_cache
    from ffdata.cache import summary
    from ffdata.storage import default_cache_dir

    def when(t):
        return "" if t is None else datetime.fromtimestamp(t).isoformat(timespec="minutes")

    if prune:
        try:
            removed = prune_cache(unused_days, dry_run=dry_run)
        except ValueError as e:
            raise FFDataError(str(e)) from None
        verb = "would remove" if dry_run else "removed"
        for e in removed:
            if e.kind == "decontam":  # the big ones, by name; the rest counted below
                typer.echo(f"{verb} decontam/{e.path.name} ({_size(e.bytes)}, last used "
                           f"{when(e.last_used)})")  # fmt: skip
        by_kind = Counter(e.kind for e in removed)
        kinds = ", ".join(f"{n} {kind}" for kind, n in by_kind.items()) or "nothing"
        typer.echo(f"{verb} {kinds} ({_size(sum(e.bytes for e in removed))}) unused for "
                   f"{unused_days:g} days")  # fmt: skip
        return
    table = Table("kind", "entries", "size", "least recently used", "pruned", "holds")
    table.columns[-1].overflow = "fold"
    for row in summary():
        table.add_row(row["kind"], str(row["entries"]), _size(row["bytes"]),
                      when(row["oldest_use"]), "yes" if row["prunable"] else "never",
                      row["about"])  # fmt: skip
    console.print(f"cache: {default_cache_dir()}")
    console.print(table)


@app.command()
def decontam(
    path: Annotated[str, typer.Argument(help="JSONL or Parquet file")],
    text_field: Annotated[
        list[str], typer.Option("--text-field", help="field to check (repeat for several)")
    ],
    fmt: Annotated[str, typer.Option("--format", help="text or json")] = "text",
):
    """Check a file against the evaluation sets; one line per flagged row, then a summary."""
    from ffdata.decontam import decontaminate_file

    if fmt not in ("text", "json"):
        raise FFDataError(f"--format must be text or json, got {fmt!r}")
    for out in decontaminate_file(path, text_field):
        if fmt == "json":
            typer.echo(json.dumps(out, ensure_ascii=False))
        elif "summary" in out:
            s = out["summary"]
            typer.echo(f"{s['flagged']} of {s['rows']} rows flagged {json.dumps(s['by_evalset'])}")
        else:
            typer.echo(f"row {out['row']}: {out['evalset']} {out['item_id']} ({out['rule']}): "
                       f"{out['ngram']}")  # fmt: skip
