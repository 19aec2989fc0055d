"""Refinery's own time per phase, with model time taken out, and peak RSS.

The OpenAI fake answers at once, and it records when it was busy (CLOCK_MONOTONIC, which every
process on the machine shares). Each phase's figure is its wall time minus the time the fake
spent serving requests inside it, so what is left is Refinery, the SDK and the loopback HTTP.
Traces are analysed in a child process (the fake stays in this one), so the peak RSS is
Refinery's alone: each synthetic trace in a process of its own, the examples and the Who&When
logs one after another in one process each, after one unmeasured warm-up analysis.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.child import peak_rss_mb, run_child, run_child_on_synthetic
from benchmarks.results import Results

PHASES = ("load", "prepare", "upload", "trace_analysis", "gap_analysis", "diagnosis", "synthesis", "report")
"""load: read + normalize; prepare: redact + triage + render documents; upload: documents to the
vector store; the four stages; report: artifacts, Hypothesis Pack and PR comment."""
GOAL_S = 1.0
"""Per trace of ordinary size (examples, Who&When), total."""
SIZES = (100, 1_000, 10_000, 25_000)


class Marks:
    """(phase, start, end) on the monotonic clock."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, float, float]] = []
        self.origin: dict[str, Any] = {}
        """The origin's section in trace.md: its id, characters, and whether it kept its full body."""
        self._phase: str | None = None
        self._start = 0.0

    def begin(self, phase: str) -> None:
        now = time.monotonic()
        if self._phase is not None:
            self.spans.append((self._phase, self._start, now))
        self._phase, self._start = phase, now

    def end(self) -> None:
        self.begin("")
        self._phase = None


def analyse_with_marks(path: Path, base_url: str, api_key: str, out_dir: Path) -> Marks:
    """Everything the CLI's ``analyze`` does for one trace file, with a mark at each phase."""
    from refinery.analysis.orchestrator import analyze
    from refinery.pipeline import prepare
    from refinery.report.artifacts import write_artifacts
    from refinery.report.comment import build_comment
    from refinery.trace.files import load_trace_file
    from refinery.wiring import build_analysis_provider, load_settings

    settings = load_settings({"OPENAI_API_KEY": api_key, "OPENAI_BASE_URL": base_url, "REFINERY_MODEL": "gpt-4.1"})
    provider = build_analysis_provider(settings)
    marks = Marks()
    marks.begin("load")
    trace = load_trace_file(path)
    marks.begin("prepare")
    prepared = prepare(trace)
    marks.origin = origin_section(prepared)

    def progress(stage: str, message: str) -> None:
        if stage == "documents":
            marks.begin("upload")
        elif message.endswith("running"):
            marks.begin(stage)

    result = analyze(prepared, provider, progress=progress)
    if result.error is not None:
        raise RuntimeError(f"{path.name}: {result.error.one_line()}")
    marks.begin("report")
    write_artifacts(result, out_dir)
    build_comment([result], marker="<!-- refinery-benchmark -->")
    marks.end()
    return marks


def origin_section(prepared: Any) -> dict[str, Any]:
    """How the triage's origin fared under trace.md's budget: whole, shortened or stubbed."""
    from refinery.documents.ids import run_section

    origin = prepared.triage.origin
    if origin is None:
        return {}
    run = next(r for r in prepared.trace.runs if r.id == origin.run_id)
    sid = run_section(run.order)
    text = prepared.documents.by_name("trace.md").text
    start = text.find(f"\n## {sid} ")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end > 0 else len(text)]
    return {
        "section": sid,
        "chars": len(body),
        "whole": start >= 0 and "content elided" not in body and (run.error or "")[:60] in body,
        "trace_md_chars": len(text),
    }


class TimedFake:
    """The OpenAI fake, recording the intervals in which it was serving a request."""

    def __init__(self) -> None:
        from tests.fakes.openai_api import FakeOpenAI

        self.fake = FakeOpenAI()
        self.busy: list[tuple[float, float]] = []
        lock = threading.Lock()
        handle = self.fake._handle

        def timed(request: Any) -> Any:
            start = time.monotonic()
            try:
                return handle(request)
            finally:
                with lock:
                    self.busy.append((start, time.monotonic()))

        self.fake._handle = timed  # type: ignore[method-assign]

    def own_time(self, spans: list[tuple[str, float, float]]) -> dict[str, float]:
        """Each phase's wall time minus the fake's busy time inside it."""
        out: dict[str, float] = dict.fromkeys(PHASES, 0.0)
        for phase, start, end in spans:
            served = sum(max(0.0, min(end, b) - max(start, a)) for a, b in self.busy)
            out[phase] += max(0.0, end - start - served)
        return out


@contextmanager
def timed_fake() -> Iterator[TimedFake]:
    timed = TimedFake()
    with timed.fake:
        yield timed


def child(base_url: str, api_key: str, paths: list[str], *, warm: bool) -> None:
    """In a fresh process: import first (cold start is the action benchmark's), then measure
    each trace in turn; with ``warm``, analyse the first once beforehand, unmeasured."""
    import refinery.analysis.orchestrator
    import refinery.cli
    import refinery.report.artifacts
    import refinery.report.comment  # noqa: F401

    traces = []
    origins: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as out:
        if warm:
            analyse_with_marks(Path(paths[0]), base_url, api_key, Path(out) / "warm")
        for i, path in enumerate(paths):
            marks = analyse_with_marks(Path(path), base_url, api_key, Path(out) / str(i))
            traces.append(marks.spans)
            origins.append(marks.origin)
    print(json.dumps({"traces": traces, "origins": origins, "peak_mb": peak_rss_mb()}))


def _measure(timed: TimedFake, paths: list[Path]) -> tuple[list[dict[str, float]], float]:
    """Per-trace own time per phase, and the measuring process's peak RSS."""
    timed.fake.reset()
    data = run_child("_child-overhead", timed.fake.url + "/v1", timed.fake.api_key, "--warm", *map(str, paths))
    return [timed.own_time(spans) for spans in data["traces"]], float(data["peak_mb"])


def _measure_synthetic(timed: TimedFake, size: int, repeats: int) -> dict[str, Any]:
    """Median of ``repeats`` fresh processes, phase by phase; the largest peak RSS among them."""
    runs = []
    for _ in range(repeats):
        timed.fake.reset()
        data, file_bytes = run_child_on_synthetic("_child-overhead", size, timed.fake.url + "/v1", timed.fake.api_key)
        [spans] = data["traces"]
        runs.append({"peak_mb": data["peak_mb"], "origin": data["origins"][0], **timed.own_time(spans)})
    row: dict[str, Any] = {p: statistics.median(r[p] for r in runs) for p in PHASES}
    return {
        "size": size,
        "file_mb": file_bytes / 1e6,
        "peak_mb": max(r["peak_mb"] for r in runs),
        "origin": runs[0]["origin"],
        **row,
    }


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f}"


def _corpus_table(out: Results, label: str, measured: tuple[list[dict[str, float]], float]) -> float:
    rows, peak_mb = measured
    totals = [sum(r.values()) for r in rows]
    out.para(
        f"**{label}** ({len(rows)} traces, one after another in one process; its peak RSS {peak_mb:.0f} MB): "
        "Refinery's own milliseconds per phase, median and max."
    )
    out.table(
        ["", *PHASES, "total"],
        [
            ["median", *(_ms(statistics.median(r[p] for r in rows)) for p in PHASES), _ms(statistics.median(totals))],
            ["max", *(_ms(max(r[p] for r in rows)) for p in PHASES), _ms(max(totals))],
        ],
    )
    return statistics.median(totals)


def run(
    out: Results,
    *,
    sizes: tuple[int, ...],
    who_and_when: list[Path],
    examples: list[Path],
    png: Path | None,
    repeats: int = 3,
) -> None:
    from benchmarks.plot import plot_scaling

    out.heading("Overhead: Refinery's own time, model time excluded")
    out.para(
        "Every phase of `refinery analyze` against a zero-latency OpenAI fake (Responses API, file_search over "
        "a vector store). The time the fake spent serving requests is subtracted phase by phase "
        "(monotonic-clock intervals), so the figures are Refinery + SDK + loopback HTTP. Phases: "
        "load (read + normalize), prepare (redact + triage + render), upload (vector store), the four stages, "
        "report (artifacts, Hypothesis Pack, PR comment)."
    )
    with timed_fake() as timed:
        medians = {}
        if examples:
            medians["examples"] = _corpus_table(out, "Examples", _measure(timed, examples))
        if who_and_when:
            medians["Who&When"] = _corpus_table(out, "Who&When logs", _measure(timed, who_and_when))
        else:
            out.skipped("Who&When overhead", "../shared/datasets/who-and-when is absent")
        if medians:
            worst = max(medians.values())
            out.figure(
                "Overhead per ordinary trace, median (" + ", ".join(medians) + ")",
                f"{worst:.2f} s",
                f"goal ≤{GOAL_S:g} s",
            )
        scaling = [_measure_synthetic(timed, size, repeats) for size in sizes]
    out.para(
        "**Scaling** on synthetic LangSmith exports (an agent loop of LLM and tool calls, every 50th tool call "
        f"rate-limited), each size in {repeats} fresh process{'es' if repeats > 1 else ''}: the median seconds per "
        "phase (the total is their sum) and the largest peak RSS. Imports are "
        "done before the clock starts (cold start is the action benchmark's), but the first stage of a fresh "
        "process still pays about 0.2 s of one-time work, whatever the trace's size: the openai SDK "
        "completes its deferred pydantic response models (`model_rebuild`) on the first response it parses."
    )
    out.table(
        ["runs", "file MB", *PHASES, "total s", "peak RSS MB"],
        [
            [
                f"{r['size']:,}",
                f"{r['file_mb']:.1f}",
                *(f"{r[p]:.2f}" for p in PHASES),
                f"{sum(r[p] for p in PHASES):.2f}",
                f"{r['peak_mb']:.0f}",
            ]
            for r in scaling
        ],
    )
    largest = scaling[-1]
    out.figure(
        f"A {largest['size']:,}-run trace: load / redact + triage + render / whole analysis; peak RSS",
        f"{largest['load']:.2f} / {largest['prepare']:.2f} / {sum(largest[p] for p in PHASES):.2f} s; "
        f"{largest['peak_mb']:.0f} MB",
        "at 25,000 runs: load ≤5 s, redact + triage + render ≤3 s; ≤400 MB",
    )
    origin = largest.get("origin") or {}
    if origin:
        out.para(
            f"**The origin under the document budget.** At {largest['size']:,} runs trace.md is "
            f"{origin['trace_md_chars']:,} characters; the triage's origin, section {origin['section']}, is "
            f"{origin['chars']:,} characters and {'keeps its full body and error' if origin['whole'] else 'was SHORTENED'}. "
            "The origin's ancestors, every run triage cites and the first 200 errored runs keep their sections too; "
            "the other runs are shortened, stubbed, then folded into range lines."
        )
        out.figure(
            f"Origin section at {largest['size']:,} runs (trace.md {origin['trace_md_chars']:,} chars)",
            f"{origin['chars']:,} chars, {'whole' if origin['whole'] else 'shortened'}",
            "whole",
        )
    if png is not None and len(scaling) > 1:
        plot_scaling(scaling, PHASES, png)
        out.para(f"![Overhead scaling]({png.name})")
    prepare_once_against_twice(out, largest["size"], repeats)


def prepare_once_against_twice(out: Results, size: int, repeats: int = 3) -> None:
    """A representative with a baseline and the PR's changes, prepared as the planner does it now (redact,
    triage and render once; then enrich) against the old way (prepared again with the baseline and the
    changes), in one process, the median of ``repeats``."""
    from benchmarks.changes import make_diff
    from benchmarks.synthetic import SYSTEM_PROMPT, synthetic_runs
    from refinery.changes.diff import read_unified_diff
    from refinery.pipeline import enrich, prepare
    from refinery.trace.files.langsmith_export import load_langsmith

    trace = load_langsmith(synthetic_runs(size))[0]
    baseline = load_langsmith(synthetic_runs(size))[0]  # the same task: the comparison runs its whole course
    changes = read_unified_diff(make_diff(300, 5_000, SYSTEM_PROMPT), "benchmark")
    timings: dict[str, list[float]] = {"prepare": [], "twice": [], "once": []}
    for _ in range(repeats):
        started = time.perf_counter()
        prepared = prepare(trace)
        timings["prepare"].append(time.perf_counter() - started)
        started = time.perf_counter()
        prepare(trace)  # the old second preparation: redaction, triage and rendering all over again …
        enrich(prepared, baseline=baseline, baseline_source="benchmark", changes=changes)  # … plus the comparison
        timings["twice"].append(time.perf_counter() - started + timings["prepare"][-1])
        started = time.perf_counter()
        enriched = enrich(prepared, baseline=baseline, baseline_source="benchmark", changes=changes)
        timings["once"].append(time.perf_counter() - started + timings["prepare"][-1])
    median = {k: statistics.median(v) for k, v in timings.items()}
    out.para(
        f"**Preparing each trace once.** A {size:,}-run representative with a passing run of {size:,} runs and a "
        "300-file diff: redacted, triaged and rendered once and then enriched (the planner), against prepared a "
        f"second time with the baseline and the changes (before the one planner); median of {repeats}, one process. "
        f"Its redaction counts after enrichment: {sum(enriched.redaction_counts.values())} replacements."
    )
    out.table(
        ["runs", "prepare s", "before: prepare twice s", "after: prepare once + enrich s", "after / before"],
        [
            [
                f"{size:,}",
                f"{median['prepare']:.2f}",
                f"{median['twice']:.2f}",
                f"{median['once']:.2f}",
                f"{median['once'] / median['twice']:.2f}",
            ]
        ],
    )
    out.figure(
        f"A {size:,}-run representative with a baseline and a diff: prepared once + enriched / prepared twice",
        f"{median['once']:.2f} / {median['twice']:.2f} s",
        "once is not slower",
    )
