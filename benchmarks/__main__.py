"""Refinery's benchmarks: ``python -m benchmarks all`` regenerates ``benchmarks/RESULTS.md``.

Subcommands measure one thing each and print Markdown; ``all`` runs every one and writes the
document (machine, versions, date, published anchors). ``--smoke`` cuts every size down so CI
keeps each benchmark working; it writes elsewhere unless told, so it never overwrites the
published figures. Nothing here is a pass/fail test: goals are shown beside the figures.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import traceback
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path

from benchmarks.results import (
    EXAMPLES,
    ROOT,
    SHARED,
    Results,
    machine_lines,
    who_and_when_logs,
    write_document,
)


@dataclass(frozen=True)
class Sizes:
    """How big each benchmark runs; an option given on the command line overrides one field."""

    sizes: str = "100,1000,10000,25000"
    who_and_when: int | None = None
    """Who&When logs per half; None for all."""
    large: int = 25_000
    runs: int = 3
    traces: int = 8
    failing: int = 200
    """Failing traces in the selection benchmark's project."""
    concurrency: int = 4
    latency: float = 0.5
    repeats: int = 3
    """Fresh processes per synthetic size in the overhead benchmark (the median is reported)."""


SMOKE = Sizes(
    sizes="100,1000", who_and_when=2, large=1000, runs=1, traces=4, failing=20, concurrency=2, latency=0.05, repeats=1
)


def _sizes(args: argparse.Namespace) -> Sizes:
    base = SMOKE if args.smoke else Sizes()
    given = {f.name: getattr(args, f.name) for f in fields(Sizes) if getattr(args, f.name, None) is not None}
    return replace(base, **given)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=(__doc__ or "").split("\n\n")[0])
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--shared", type=Path, default=SHARED, help="the shared datasets folder [../shared]")
    common.add_argument("--smoke", action="store_true", help="CI sizes: every benchmark, cut down")
    # The metavar keeps the internal child commands out of --help.
    sub = parser.add_subparsers(
        dest="command",
        required=True,
        metavar=(
            "{overhead,redaction,fidelity,selection,divergence,changes,attribution,fixes,tokens,action,concurrency,"
            "quality,mutation,all}"
        ),
    )

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, parents=[common])

    def per_half(p: argparse.ArgumentParser) -> None:
        p.add_argument("--who-and-when", type=int, default=None, help="Who&When logs per half (default: all)")

    overhead = add("overhead", "Refinery's own time per phase and peak RSS (zero-latency fake), scaling curve")
    overhead.add_argument("--sizes", default=None, help="synthetic trace sizes [100,1000,10000,25000]")
    overhead.add_argument("--png", type=Path, default=None, help="where to plot the scaling curve")
    overhead.add_argument("--repeats", type=int, default=None, help="fresh processes per size [3]; the median")
    per_half(overhead)
    redaction = add("redaction", "redaction throughput (MB/s) and recall on planted secrets, beside detect-secrets")
    redaction.add_argument("--large", type=int, default=None, help="runs in the synthetic trace [25000]")
    add("fidelity", "real producers' files: tool calls and tokens in the source against what is loaded")
    divergence = add("divergence", "first-divergence accuracy on tau-bench pairs; aligning two large traces")
    divergence.add_argument("--large", type=int, default=None, help="runs in each synthetic trace [25000]")
    changes = add("changes", "ranking a 3,000-file, 50,000-line diff against a 25,000-run trace")
    changes.add_argument("--large", type=int, default=None, help="runs in the synthetic trace [25000]")
    attribution = add("attribution", "which hunk of a pull request caused a failure: top-1, claims' precision")
    attribution.add_argument(
        "--calibrate", action="store_true", help="learn the suspect bands on the development half (calibration.json)"
    )
    add("fixes", "the toy agent repository: fixes verified, refuted, inconclusive against the truth; time")
    selection = add("selection", "failing traces selected, fetched, triaged, clustered against a rate-limited fake")
    selection.add_argument("--failing", type=int, default=None, help="failing traces in the project [200]")
    tokens = add("tokens", "per-stage request tokens, document sizes, inline pack sizes per provider")
    tokens.add_argument("--large", type=int, default=None, help="runs in the large packing trace [25000]; 0 skips")
    per_half(tokens)
    action = add("action", "container image size, cold start, whole action run (needs a Docker engine)")
    action.add_argument("--runs", type=int, default=None)
    conc = add("concurrency", "parallel efficiency against a latency-injecting fake")
    conc.add_argument("--traces", type=int, default=None)
    conc.add_argument("--concurrency", type=int, default=None)
    conc.add_argument("--latency", type=float, default=None, help="seconds of model latency per response")
    quality = add("quality", "Who&When and TRAIL-style accuracy: triage always, the model when a key is set")
    per_half(quality)
    quality.add_argument("--trail", type=Path, default=None, help="annotated TRAIL span traces (JSONL or folder)")
    quality.add_argument("--fake", action="store_true", help="model rows against the loopback fake (plumbing)")
    quality.add_argument("--workers", type=int, default=4, help="model analyses at a time [4]")
    quality.add_argument(
        "--calibrate", action="store_true", help="write refinery/triage/calibration.json from the labelled cases"
    )
    mutation = add("mutation", "mutation testing per module group (mutmut; about an hour, so not in all)")
    mutation.add_argument("--module", action="append", default=None, help="a group (repeatable) [every group]")
    mutation.add_argument("--children", type=int, default=2, help="mutants tested at a time [2]")
    mutation.add_argument(
        "--harvest", action="store_true", help="only read the verdicts an interrupted run left (no mutmut run)"
    )
    mutation.add_argument(
        "--resume", action="store_true", help="go on where an interrupted run stopped (its work tree kept)"
    )
    mutation.add_argument(
        "--before",
        metavar="COMMIT",
        default=None,
        help="score the repository as it was at COMMIT: the 'before' figures",
    )
    everything = add("all", "every benchmark above, then RESULTS.md")
    per_half(everything)
    everything.add_argument("--trail", type=Path, default=None)
    everything.add_argument("--fake", action="store_true")
    everything.add_argument("--workers", type=int, default=4)
    everything.add_argument("--out", type=Path, default=None, help="[benchmarks/RESULTS.md; smoke: a temp dir]")
    everything.add_argument("--skip", default="", help="comma-separated benchmarks to leave out (said in the file)")
    child = sub.add_parser("_child-overhead")
    child.add_argument("base_url")
    child.add_argument("api_key")
    child.add_argument("--warm", action="store_true")
    child.add_argument("paths", nargs="+")
    child3 = sub.add_parser("_child-align")
    child3.add_argument("size", type=int)
    child2 = sub.add_parser("_child-pack")
    child2.add_argument("path")
    return parser


def _benchmarks(args: argparse.Namespace, png: Path | None) -> dict[str, Callable[[Results], None]]:
    from benchmarks import (
        action,
        attribution,
        changes,
        concurrency,
        divergence,
        fidelity,
        fixes,
        mutation,
        overhead,
        quality,
        redaction,
        selection,
        tokens,
    )

    size = _sizes(args)
    who = who_and_when_logs(args.shared, size.who_and_when)
    trail = getattr(args, "trail", None)
    if trail is None and args.smoke:
        from benchmarks.trail_sample import write_sample

        trail = write_sample(Path(tempfile.mkdtemp(prefix="refinery-trail-")) / "trail-sample.jsonl")
    sizes = tuple(int(s) for s in size.sizes.split(","))
    return {
        "overhead": lambda out: overhead.run(
            out, sizes=sizes, who_and_when=who, examples=EXAMPLES, png=png, repeats=size.repeats
        ),
        "redaction": lambda out: redaction.run(out, size=size.large, shared=args.shared, smoke=args.smoke),
        "fidelity": lambda out: fidelity.run(out, shared=args.shared),
        "selection": lambda out: selection.run(out, failing=size.failing, passing=size.failing // 4),
        "divergence": lambda out: divergence.run(out, shared=args.shared, size=size.large),
        "attribution": lambda out: attribution.run(
            out, shared=args.shared, calibrate=args.command == "attribution" and getattr(args, "calibrate", False)
        ),
        "changes": lambda out: changes.run(
            out,
            files=3_000 if size.large >= 25_000 else 300,
            lines=50_000 if size.large >= 25_000 else 5_000,
            runs=size.large,
        ),
        "fixes": lambda out: fixes.run(out),
        "tokens": lambda out: tokens.run(out, examples=EXAMPLES, who_and_when=who, large=size.large),
        "action": lambda out: action.run(out, size.runs),
        "concurrency": lambda out: concurrency.run(out, size.traces, size.concurrency, size.latency),
        "mutation": lambda out: mutation.report(out),
        "quality": lambda out: quality.run(
            out,
            who=who,
            trail_path=trail,
            fake=args.smoke or getattr(args, "fake", False),
            workers=getattr(args, "workers", 4),
            shared=args.shared,
            calibrate=getattr(args, "calibrate", False),
        ),
    }


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "_child-overhead":
        from benchmarks.overhead import child

        child(args.base_url, args.api_key, args.paths, warm=args.warm)
        return 0
    if args.command == "_child-align":
        from benchmarks.divergence import child as align_child

        align_child(args.size)
        return 0
    if args.command == "_child-pack":
        from benchmarks.pack import _child

        _child(args.path)
        return 0
    if args.command == "mutation":
        from benchmarks import mutation

        chosen = args.module or list(mutation.GROUPS)
        unknown = sorted(set(chosen) - set(mutation.GROUPS))
        if unknown:
            parser.error(f"--module: no group named {', '.join(unknown)}; there are {', '.join(mutation.GROUPS)}")
        mutation.run(
            Results(),
            modules=chosen,
            children=args.children,
            before=args.before,
            resume=args.resume,
            harvest=args.harvest,
        )
        return 0
    if args.command != "all":
        png = getattr(args, "png", None)
        _benchmarks(args, png)[args.command](Results())
        return 0

    out_path: Path = args.out or (
        Path(tempfile.mkdtemp(prefix="refinery-bench-")) / "RESULTS.md"
        if args.smoke
        else ROOT / "benchmarks" / "RESULTS.md"
    )
    skip = {s for s in args.skip.split(",") if s}
    benchmarks = _benchmarks(args, out_path.parent / "overhead-scaling.png")
    if skip - set(benchmarks):
        parser.error(
            f"--skip: no benchmark named {', '.join(sorted(skip - set(benchmarks)))}; there are {', '.join(benchmarks)}"
        )
    command = "python -m benchmarks " + " ".join(shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:]))
    machine = machine_lines(command)
    results = Results()
    for name, bench in benchmarks.items():
        if name in skip:
            results.heading(name.capitalize())
            results.skipped(f"The {name} benchmark", "left out of this run with --skip")
            continue
        try:
            bench(results)
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            results.failed(f"The {name} benchmark", f"{type(exc).__name__}: {exc}")
        except BaseException as exc:
            if type(exc).__module__.startswith("_pytest"):  # docker_env fails through pytest in CI
                results.failed(f"The {name} benchmark", str(exc))
            else:
                raise
    write_document(results, out_path, command, smoke=args.smoke, machine=machine)
    print(f"\nwrote {out_path}" + (f" ({len(results.failures)} benchmark(s) failed)" if results.failures else ""))
    return 1 if results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
