"""`ffdata`: build, list, inspect, verify and audit the FF-LLM training sets."""

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from ffdata.errors import FFDataError

console = Console()
err_console = Console(stderr=True)

RootOpt = Annotated[
    str | None,
    typer.Option(
        "--root", help="Storage root: a folder (default artifacts/) or s3://bucket/prefix"
    ),
]


class _App(typer.Typer):
    """Typer app that turns FFDataError into one clear line and exit status 2."""

    def __call__(self, *args, **kwargs):
        try:
            return super().__call__(*args, **kwargs)
        except FFDataError as e:
            err_console.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
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
):
    """Build a set from its manifest; prints the set's path and fingerprint."""
    from ffdata.build import build_set

    built, fresh = build_set(name, manifest, root, force)
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
