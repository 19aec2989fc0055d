"""The ``refinery`` command line. With action.py, the only place that reads the environment.

One module per command group; clients come from ``refinery.wiring``; ``output.py`` is the
output and error layer every command goes through.
"""

from __future__ import annotations

import inspect
import sys

import click

from refinery import __version__
from refinery.cli.analyze import analyze
from refinery.cli.chat import ask, chat
from refinery.cli.output import silence_broken_pipe
from refinery.cli.packs import merge, schema
from refinery.cli.store import canary, init
from refinery.cli.traces import fetch, select, show
from refinery.cli.verify import verify
from refinery.interrupts import cancelled_any, end_process


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="refinery")
@click.option("--debug", is_flag=True, envvar="REFINERY_DEBUG", help="Show tracebacks for errors.")
@click.option("--langsmith-endpoint", default=None, help="LangSmith API URL [env LANGSMITH_ENDPOINT].")
@click.pass_context
def cli(ctx: click.Context, debug: bool, langsmith_endpoint: str | None) -> None:
    """Refinery: find out why an AI agent's eval failed, from its trace."""
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    ctx.obj["overrides"] = {"langsmith_endpoint": langsmith_endpoint}


EXAMPLES = {
    "fetch": ["refinery fetch --trace-id 01a235af-2ff3-7de7-94fa-9d21e6af84c3 --out traces/"],
    "select": [
        "refinery select --project agent-evals --since 6h",
        "refinery select --experiment base-exp --matrix",
        "refinery select results.json --json",
    ],
    "show": [],  # its own docstring holds them
    "analyze": [
        "refinery analyze trace.json",
        "refinery analyze 'evals/*.json' --offline --out refinery-out",
        "refinery analyze --project agent-evals --since 2h --diff pr.diff",
        "refinery analyze results.json --baseline-file passing.json",
        "refinery analyze --trace-id 0f3a9c… --baseline-experiment main-evals",
    ],
    "init": ["refinery init trace.json"],
    "canary": ["refinery canary --model gpt-4.1"],
    "merge": ["refinery merge 'packs/*/hypothesis-pack.json' --out merged/"],
    "ask": ['refinery ask trace.json "Which tool call failed first?"'],
    "chat": ["refinery chat trace.json"],
    "schema": ["refinery schema > hypothesis-pack.json"],
    "verify": [
        "refinery verify refinery-out --command 'pytest evals/test_refund.py -k \"$REFINERY_EXAMPLE_ID\"'",
        "refinery verify refinery-out --command 'make eval' --results-file results.json --runs 5",
    ],
}
"""Every command's examples, shown at the end of its help."""
SUMMARY = {
    "analyze": "Triage failing traces, cluster them, diagnose one per cluster.",
    "ask": "Ask one question about a trace; the answer cites its sections.",
    "canary": "Check the key, base URL and model with one tiny call.",
    "chat": "Talk about a trace, one question after another.",
    "fetch": "Fetch a trace from LangSmith as JSON.",
    "init": "Upload a trace's documents to a vector store; print its id.",
    "merge": "Merge a fan-out's Hypothesis Packs into one report.",
    "schema": "Print the Hypothesis Pack's JSON Schema.",
    "select": "List failing traces (a file, or a LangSmith project).",
    "show": "Print a trace's run tree, or list a file's traces.",
    "verify": "Re-run the eval without and with the proposed fixes.",
}
"""Each command's one-line summary in ``refinery --help``: whole, never cut."""


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> bool:
    if value:
        ctx.ensure_object(dict)["debug"] = True
    return value


for _command in (fetch, select, show, analyze, init, canary, merge, ask, chat, schema, verify):
    # --debug after the command too (`refinery analyze --debug`), as before it.
    _command.params.append(
        click.Option(
            ["--debug"],
            is_flag=True,
            expose_value=False,
            callback=_set_debug,
            help="Show tracebacks for errors (same as `refinery --debug`).",
        )
    )
    _command.short_help = SUMMARY[str(_command.name)]
    if EXAMPLES[str(_command.name)]:
        lines = "\n".join(f"  {example}" for example in EXAMPLES[str(_command.name)])
        # cleandoc first: an unindented tail would stop click dedenting the docstring.
        _command.help = inspect.cleandoc(_command.help or "") + f"\n\n\b\nExamples:\n{lines}"
    cli.add_command(_command)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        cli.main(args=argv, prog_name="refinery")
    except BrokenPipeError:
        # The reader of our stdout went away (`refinery show F | head -1`): that is not an error of ours.
        silence_broken_pipe()
        sys.exit(0)
    except SystemExit as done:
        if cancelled_any():
            # Ctrl-C or SIGTERM: the triage is written; a worker stuck in a request must not hold the exit.
            end_process(done.code if isinstance(done.code, int) else 1)
        raise
