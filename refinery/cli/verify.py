"""``refinery verify``: re-run the user's eval without and with the fixes an analysis proposed."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import click

from refinery.cli.output import echo, handle_errors
from refinery.errors import ConfigError


@click.command()
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False))
@click.option("--command", "command", required=True, help="The eval to run for the failing example (bash).")
@click.option(
    "--runs", type=click.IntRange(1, 20), default=3, help="Runs with the fix, and as many without [default: 3]."
)
@click.option("--timeout", type=click.FloatRange(1), default=600.0, help="Seconds per run [default: 600].")
@click.option("--budget", type=click.FloatRange(1), default=None, help="Seconds for the whole verification.")
@click.option(
    "--results-file", default=None, help="A results file the command writes: passes when no trace in it fails."
)
@click.option("--fix-id", "fix_id", default=None, help="Verify only this fix (F1, F2, …) [default: every fix].")
@click.pass_context
def verify(
    ctx: click.Context,
    out_dir: str,
    command: str,
    runs: int,
    timeout: float,
    budget: float | None,
    results_file: str | None,
    fix_id: str | None,
) -> None:
    """Check an analysis's fixes: run the eval without each fix and with it, and say which work.

    Each fix is applied on its own in a throwaway worktree of the checkout (the current directory);
    the control runs once for all. Exits 0 when every fix checked is verified."""
    from refinery.changes.fix import Fix, fix_patch
    from refinery.changes.verify import VerifyRequest, verify_fixes
    from refinery.documents.redact import Redactor

    verdict = "inconclusive"
    with handle_errors(ctx):
        folder = Path(out_dir)
        pack_path, patch_path = folder / "hypothesis-pack.json", folder / "fix.patch"
        if not pack_path.is_file():
            raise ConfigError(
                f"{folder} holds no hypothesis-pack.json.", hint="Give the --out DIR of `refinery analyze`."
            )
        pack = json.loads(pack_path.read_text(encoding="utf-8"))
        if not pack.get("fixes") or not patch_path.is_file():
            echo(f"{folder}: no fix to verify (the analysis proposed none).")
            return
        fixes = [Fix.model_validate(f) for f in pack["fixes"]]
        chosen = [f for f in fixes if fix_id is None or f.id == fix_id]
        if not chosen:
            known = ", ".join(f.id for f in fixes if f.id) or "none with an id"
            raise ConfigError(f"{folder} holds no fix {fix_id}.", hint=f"Its fixes: {known}.")
        trace = pack.get("trace") or {}
        request = VerifyRequest(
            command=command,
            runs=runs,
            timeout_s=timeout,
            deadline=time.monotonic() + budget if budget else None,
            results_file=results_file,
            example_id=str((pack.get("selection") or {}).get("example_id") or ""),
            trace_id=str(trace.get("id") or ""),
            inputs={"trace": trace, "selection": pack.get("selection")},
        )
        root = Path.cwd()
        results = verify_fixes(root, [fix_patch([f], root) for f in chosen], request, Redactor().text, dict(os.environ))
        done = {id(f): r for f, r in zip(chosen, results, strict=True)}
        for stored, fix in zip(pack["fixes"], fixes, strict=True):
            if id(fix) in done:
                stored["verification"] = done[id(fix)].model_dump(mode="json")
        pack_path.write_text(json.dumps(pack, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        for fix, result in zip(chosen, results, strict=True):
            note = f" ({result.note})" if result.note else ""
            echo(f"{fix.id or 'fix'} {result.verdict}: the fix {result.sentence}{note}")
        verdict = "verified" if all(r.verdict == "verified" for r in results) else "not verified"
    # Outside handle_errors, which would take click's exit for an error.
    ctx.exit(0 if verdict == "verified" else 1)
