"""Hypothesis Packs after the fact: ``merge`` a fan-out's packs, print the pack ``schema``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from refinery.cli.output import echo, handle_errors
from refinery.lines import break_commands, strip_ansi
from refinery.words import plural


@click.command()
@click.argument("packs", nargs=-1, required=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), help="Write DIR/report.md instead of printing it.")
@click.pass_context
def merge(ctx: click.Context, packs: tuple[str, ...], out_dir: str | None) -> None:
    """Merge the Hypothesis Packs of a fan-out (files, directories or globs) into one grouped report."""
    from refinery.analysis.grouping import group_failures
    from refinery.report.comment import build_comment, sticky_marker
    from refinery.report.merge import load_entries

    with handle_errors(ctx):
        entries = load_entries(list(packs), Path.cwd())
        body = build_comment(entries, marker=sticky_marker("merge", "", ",".join(packs)))
        groups = group_failures([e.pack for e in entries])
        if out_dir:
            target = Path(out_dir) / "report.md"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body, encoding="utf-8")
            echo(f"wrote {target}: {plural(len(entries), 'trace')} in {plural(len(groups), 'group')}")
        else:
            # The body is Markdown built from untrusted text: printed, each line must stay inert.
            for line in body.splitlines():
                click.echo(break_commands(strip_ansi(line)))


@click.command()
def schema() -> None:
    """Print the Hypothesis Pack's JSON Schema (published as schemas/hypothesis-pack-<version>.json)."""
    from refinery.analysis.pack import pack_json_schema

    click.echo(json.dumps(pack_json_schema(), indent=2, sort_keys=True))
