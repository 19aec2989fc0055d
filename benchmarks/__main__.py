"""Refinery's benchmarks: ``python -m benchmarks [load] [--sizes 100,1000,...]``.

Each measurement runs in a fresh child process so that peak RSS belongs to it alone.
Figures are printed as a table; nothing here is a pass/fail test (goals are shown beside).
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from pathlib import Path

from benchmarks.child import run_child_on_synthetic

LOAD_GOAL_S = 5.0
LOAD_GOAL_MB = 400.0


def _child_load(path: str) -> None:
    from refinery.trace.files import load_trace_file

    t0 = time.perf_counter()
    trace = load_trace_file(path)
    elapsed = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": elapsed, "peak_mb": peak_mb, "runs": len(trace.runs)}))


def bench_load(sizes: list[int]) -> list[dict[str, float]]:
    """Read + normalize a synthetic LangSmith export of each size, in a child process."""
    rows = []
    for size in sizes:
        result, file_bytes = run_child_on_synthetic("_child-load", size)
        result["size"] = size
        result["file_mb"] = file_bytes / 1e6
        rows.append(result)
    print(
        f"{'runs':>8} {'file MB':>8} {'load s':>8} {'peak RSS MB':>12}   goal at 25,000: ≤{LOAD_GOAL_S:g} s, ≤{LOAD_GOAL_MB:g} MB"
    )
    for row in rows:
        print(f"{int(row['size']):>8} {row['file_mb']:>8.1f} {row['seconds']:>8.2f} {row['peak_mb']:>12.0f}")
    return rows


def _child_prepare(path: str) -> None:
    from refinery.documents.redact import Redactor
    from refinery.documents.render import render_documents
    from refinery.perf import gc_paused
    from refinery.report.offline import render_offline_report
    from refinery.trace.files import load_trace_file
    from refinery.triage import run_triage

    trace = load_trace_file(path)
    with gc_paused():  # as refinery.pipeline.prepare runs them
        t0 = time.perf_counter()
        redacted = Redactor().trace(trace)
        t1 = time.perf_counter()
        report = run_triage(redacted)
        t2 = time.perf_counter()
        docs = render_documents(redacted, report)
        render_offline_report(redacted, report)
        t3 = time.perf_counter()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    chars = sum(d.chars for d in docs.documents)
    print(json.dumps({"redact": t1 - t0, "triage": t2 - t1, "render": t3 - t2, "peak_mb": peak_mb, "doc_chars": chars}))


def bench_triage(sizes: list[int], shared: Path) -> None:
    """Who&When origin accuracy per half, and redact + triage + render time."""
    import statistics

    from refinery.pipeline import prepare
    from refinery.trace.files import load_trace_file

    who = shared / "datasets" / "who-and-when"
    if who.is_dir():
        print("Who&When: triage's named origin vs the annotation (no origin counts as a miss)")
        print(f"{'half':<20} {'logs':>5} {'agent %':>8} {'step %':>7} {'named':>6} {'median ms':>10} {'max ms':>7}")
        for half in ("algorithm-generated", "hand-crafted"):
            files = sorted((who / half).glob("*.json"))
            agent_hits = step_hits = named = 0
            times = []
            for path in files:
                trace = load_trace_file(path)
                t0 = time.perf_counter()
                origin = prepare(trace).triage.origin
                times.append((time.perf_counter() - t0) * 1000)
                if origin is None:
                    continue
                named += 1
                agent_hits += origin.agent == trace.labels["mistake_agent"]
                step_hits += str(origin.step - 1) == str(trace.labels["mistake_step"])  # step 0 is the root
            n = len(files)
            print(
                f"{half:<20} {n:>5} {100 * agent_hits / n:>8.1f} {100 * step_hits / n:>7.1f} {named:>6} "
                f"{statistics.median(times):>10.1f} {max(times):>7.1f}"
            )
        print("published, algorithm-generated: random 29.1 / 19.1; GPT-4o all-at-once 54.3 / 12.5 (agent / step %)")
    else:
        print(f"Who&When skipped: {who} is absent")

    print(
        f"{'runs':>8} {'redact s':>9} {'triage s':>9} {'render s':>9} {'total s':>8} {'peak MB':>8} {'doc MB':>7}   goal: 25,000 runs ≤3 s"
    )
    for size in sizes:
        r, _ = run_child_on_synthetic("_child-prepare", size)
        total = r["redact"] + r["triage"] + r["render"]
        print(
            f"{size:>8} {r['redact']:>9.2f} {r['triage']:>9.2f} {r['render']:>9.2f} {total:>8.2f} "
            f"{r['peak_mb']:>8.0f} {r['doc_chars'] / 1e6:>7.1f}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    sub = parser.add_subparsers(dest="command")
    load = sub.add_parser("load", help="trace reading and normalization")
    load.add_argument("--sizes", default="100,1000,10000,25000")
    child = sub.add_parser("_child-load")
    child.add_argument("path")
    triage = sub.add_parser("triage", help="Who&When origin accuracy; redact + triage + render time")
    triage.add_argument("--sizes", default="1000,25000")
    triage.add_argument("--shared", default=str(Path(__file__).resolve().parents[1].parent / "shared"))
    child2 = sub.add_parser("_child-prepare")
    child2.add_argument("path")
    stages = sub.add_parser("stages", help="stage request tokens and orchestration overhead (zero-latency fake)")
    stages.add_argument("--shared", default=str(Path(__file__).resolve().parents[1].parent / "shared"))
    stages.add_argument("--who-and-when", type=int, default=123, help="how many Who&When logs (0 for none)")
    action = sub.add_parser("action", help="container image size, cold start, whole action run (needs Docker)")
    action.add_argument("--runs", type=int, default=3)
    pack = sub.add_parser("pack", help="inline pack sizes and packing time per provider")
    pack.add_argument("--shared", default=str(Path(__file__).resolve().parents[1].parent / "shared"))
    pack.add_argument("--size", type=int, default=25_000, help="runs in the large synthetic trace (0 to skip)")
    child3 = sub.add_parser("_child-pack")
    child3.add_argument("path")
    conc = sub.add_parser("concurrency", help="parallel efficiency with a latency-injecting fake")
    conc.add_argument("--traces", type=int, default=8)
    conc.add_argument("--concurrency", type=int, default=4)
    conc.add_argument("--latency", type=float, default=0.5)
    args = parser.parse_args(argv)
    if args.command == "_child-load":
        _child_load(args.path)
    elif args.command == "_child-prepare":
        _child_prepare(args.path)
    elif args.command == "concurrency":
        from benchmarks.concurrency import report as concurrency_report

        concurrency_report(args.traces, args.concurrency, args.latency)
    elif args.command == "pack":
        from benchmarks.pack import report as pack_report
        from benchmarks.pack import report_large

        pack_report(sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.json")), "examples")
        who = sorted((Path(args.shared) / "datasets" / "who-and-when").glob("*/*.json"))
        if who:
            pack_report(who, "Who&When logs")
        if args.size:
            report_large(args.size)
    elif args.command == "_child-pack":
        from benchmarks.pack import _child

        _child(args.path)
    elif args.command == "action":
        from benchmarks.action import report as action_report

        action_report(args.runs)
    elif args.command == "stages":
        from benchmarks.stages import report

        examples = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.json"))
        report(examples, "examples")
        who = sorted((Path(args.shared) / "datasets" / "who-and-when").glob("*/*.json"))[: args.who_and_when]
        if who:
            report(who, "Who&When logs")
    elif args.command == "triage":
        bench_triage([int(s) for s in args.sizes.split(",")], Path(args.shared))
    elif args.command in ("load", None):
        bench_load([int(s) for s in getattr(args, "sizes", "100,1000,10000,25000").split(",")])


if __name__ == "__main__":
    main()
