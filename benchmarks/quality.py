"""Diagnosis accuracy: Who&When (which agent, which step) and TRAIL-style (category, span).

The triage baseline always runs; it needs no key. The model rows run the four stages on the
provider the environment configures (the same variables as the CLI: OPENAI_API_KEY,
ANTHROPIC_API_KEY, GEMINI_API_KEY, REFINERY_PROVIDER, REFINERY_MODEL, ...), and say so when
none is set. ``--fake`` points them at the loopback OpenAI fake instead: that checks the
plumbing in CI and measures nothing (the fake always blames the last step).

Who&When is scored as its paper does: a prediction is right when the named agent (step) equals
the annotated ``mistake_agent`` (``mistake_step``); a trace where nothing is named counts as a
miss. "With ground truth" gives the analysis the task's correct answer (evals.md holds it as the
reference); "without" removes it, and only the failed verdict remains.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.results import Results
from benchmarks.trail import Pair, load_cases, score

ANCHORS = {
    "algorithm-generated": [("GPT-4o, all-at-once (Who&When paper)", "54.3", "12.5")],
    "hand-crafted": [
        ("GPT-4o, all-at-once (Who&When paper)", "55.2", "5.3"),
        ("AgenTracer-8B (AgenTracer paper)", "69.1", "20.7"),
    ],
}
TRAIL_ANCHOR = "18.3 % (best joint accuracy on TRAIL GAIA, as published)"


@dataclass(frozen=True)
class Blame:
    """What a method named: the run where the failure began, and the category it gave."""

    agent: str | None
    step: int | None
    run_id: str | None
    category: str | None


Method = Callable[[Any], list[Blame]]
"""Prepared trace -> blames, most likely first."""


def strip_ground_truth(trace: Any) -> Any:
    """The trace without the task's correct answer (reference outputs and the verdict's comment)."""
    feedback = [f.model_copy(update={"comment": None}) if f.source == "dataset" else f for f in trace.feedback]
    return trace.model_copy(update={"reference_outputs": None, "feedback": feedback})


def triage_method(prepared: Any) -> list[Blame]:
    """What the report names, first: the stated origin, else the stated agent claim (an agent with no
    step: where its work starts is a place to read, not a claim); then the lead and the other findings."""
    triage = prepared.triage
    origin = triage.origin
    blames = []
    claim = triage.stated_agent
    if triage.stated_origin is None and claim is not None:
        blames.append(Blame(claim.agent, None, None, None))
    if origin is not None:
        category = next((f.category for f in triage.findings if f.id == origin.finding_id), None)
        blames.append(Blame(origin.agent, origin.step, origin.run_id, category))
    seen = {b.run_id for b in blames}
    for finding in prepared.triage.findings:
        if finding.run_id and finding.run_id not in seen and finding.group != "evaluation":
            seen.add(finding.run_id)
            blames.append(Blame(finding.agent, finding.step, finding.run_id, finding.category))
    return blames


@dataclass
class Spend:
    """What the model rows cost, summed over every analysis; failed analyses count as misses."""

    analyses: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = 0.0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


def model_method(new_provider: Callable[[], Any], spend: Spend) -> Method:
    """The four stages, one provider per analysis (as the action runs traces concurrently)."""
    from refinery.analysis.orchestrator import analyze
    from refinery.documents.ids import run_section

    def blame(prepared: Any) -> list[Blame]:
        result = analyze(prepared, new_provider())
        usage = result.usage()
        with spend.lock:
            spend.analyses += 1
            spend.input_tokens += usage.input_tokens
            spend.output_tokens += usage.output_tokens
            known = spend.cost_usd is not None and usage.cost_usd is not None
            spend.cost_usd = spend.cost_usd + usage.cost_usd if known else None  # type: ignore[operator]
            if result.error is not None:
                spend.errors.append(f"{prepared.trace.id}: {result.error.one_line()}")
        by_section = {run_section(r.order): r for r in prepared.trace.runs}
        claims: list[tuple[str, str]] = []
        diagnosis = result.outputs.get("diagnosis")
        claims += [(c.origin_run_id, c.category) for c in getattr(diagnosis, "causal_chains", [])]
        if result.synthesis is not None:
            claims += [(h.origin_run_id, h.category) for h in result.synthesis.hypotheses]
        blames = []
        for section, category in claims:
            run = by_section.get(section)
            if run is not None:
                blames.append(Blame(run.agent, run.order, run.id, category))
        return blames

    return blame


def _blame_all(method: Method, prepared: list[Any], workers: int) -> list[list[Blame]]:
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(method, prepared))


def _who_and_when_scores(
    paths: list[Path], method: Method, *, ground_truth: bool, workers: int
) -> tuple[int, int, int, int]:
    """(logs, agent hits, step hits, named)"""
    from refinery.pipeline import prepare
    from refinery.trace.files import load_trace_file

    traces = [load_trace_file(path) for path in paths]
    prepared = [prepare(t if ground_truth else strip_ground_truth(t)) for t in traces]
    agent = step = named = 0
    for trace, blames in zip(traces, _blame_all(method, prepared, workers), strict=True):
        if not blames:
            continue
        first = blames[0]
        named += 1
        agent += (first.agent or "").lower() == str(trace.labels.get("mistake_agent") or "").lower()
        # Step 0 of our trace is the root; the dataset counts history entries from 0.
        step += first.step is not None and str(first.step - 1) == str(trace.labels.get("mistake_step"))
    return len(paths), agent, step, named


def _pct(hits: int, n: int) -> str:
    return f"{100 * hits / n:.1f}" if n else "n/a"


def who_and_when(out: Results, paths: list[Path], methods: Mapping[str, Method], workers: int) -> None:
    out.para(
        f"**Who&When** ({len(paths)} failed multi-agent runs with annotated `mistake_agent` / `mistake_step`): "
        "accuracy of the first agent / step each method names, in %. *named* counts the logs where the method "
        "named anything at all. Triage names, first, what the report names: its stated origin, else the agent "
        "its work claim names (an agent, no step); then its lead and other findings. The answer can change what triage names only through the reference-mismatch "
        "finding it adds; it is the model rows where having it matters."
    )
    rows = []
    for half in ("algorithm-generated", "hand-crafted"):
        for name, method in methods.items():
            for gt in (True, False):
                logs = [p for p in paths if p.parent.name == half]
                if not logs:
                    continue
                n, agent, step, named = _who_and_when_scores(logs, method, ground_truth=gt, workers=workers)
                rows.append([half, name, "with" if gt else "without", n, _pct(agent, n), _pct(step, n), named])
                if gt:
                    out.figure(
                        f"Who&When agent / step accuracy, {half}, {name}",
                        f"{_pct(agent, n)} % / {_pct(step, n)} %",
                        "; ".join(f"{a}: {ag} % / {st} %" for a, ag, st in ANCHORS[half]),
                    )
        for anchor, agent_pct, step_pct in ANCHORS[half]:
            rows.append([half, f"_{anchor}_", "as published", "", agent_pct, step_pct, ""])
    out.table(["half", "method", "ground truth", "logs", "agent %", "step %", "named"], rows, right=3)


def trail(out: Results, path: Path, methods: Mapping[str, Method], workers: int) -> None:
    from refinery.pipeline import prepare
    from refinery.trace.files import load_trace_file

    cases = load_cases(path)
    prepared = []
    with tempfile.TemporaryDirectory() as tmp:
        for i, case in enumerate(cases):
            file = Path(tmp) / f"{i}.json"
            file.write_text(json.dumps(case.trace))
            prepared.append(prepare(load_trace_file(file)))
    out.para(
        f"**TRAIL-style scoring** on {len(cases)} annotated span traces from `{path.name}` "
        f"({sum(len(c.errors) for c in cases)} annotated errors). Every (span, category) a method names is a "
        "prediction. Category F1 is support-weighted over categories; location accuracy is the share of "
        "annotated spans named; joint accuracy needs span and category both right."
    )
    rows = []
    for name, method in methods.items():
        predictions: list[set[Pair]] = [
            {(b.run_id, b.category) for b in blames if b.run_id and b.category}
            for blames in _blame_all(method, prepared, workers)
        ]
        s = score(cases, predictions)
        rows.append(
            [
                name,
                s.traces,
                f"{s.category_f1:.3f}",
                f"{100 * s.location_accuracy:.1f}",
                f"{100 * s.joint_accuracy:.1f}",
            ]
        )
        out.figure(f"TRAIL-style joint accuracy, {name}", f"{100 * s.joint_accuracy:.1f} %", TRAIL_ANCHOR)
    rows.append(["_published best, TRAIL GAIA_", "", "", "", "18.3"])
    out.table(["method", "traces", "category F1", "location %", "joint %"], rows)


@contextmanager
def configured_provider(env: Mapping[str, str], *, fake: bool) -> Iterator[tuple[str, Callable[[], Any]] | None]:
    """(label, provider factory) for the model rows, or None when no key is configured.

    Every provider the factory builds shares one rate gate, so a 429 seen by one worker
    pauses them all, as in the action."""
    from refinery.analysis.ratelimit import RateGate
    from refinery.wiring import build_analysis_provider, load_settings

    gate = RateGate()
    if fake:
        from tests.fakes.openai_api import FakeOpenAI

        with FakeOpenAI() as server:
            settings = load_settings(
                {"OPENAI_API_KEY": server.api_key, "OPENAI_BASE_URL": server.url + "/v1", "REFINERY_MODEL": "gpt-4.1"}
            )
            yield "four stages, loopback fake (plumbing only)", lambda: build_analysis_provider(settings, gate=gate)
        return
    settings = load_settings(dict(env))
    if not settings.has_model_key:
        yield None
        return
    yield f"four stages, {settings.provider} {settings.model}", lambda: build_analysis_provider(settings, gate=gate)


def run(
    out: Results,
    *,
    who: list[Path],
    trail_path: Path | None,
    fake: bool,
    workers: int = 4,
    env: Mapping[str, str] | None = None,
    shared: Path | None = None,
    calibrate: bool = False,
) -> None:
    out.heading("Quality: does the diagnosis name the right agent, step and category?")
    if shared is not None:
        from benchmarks import origin

        origin.run(out, shared, who, calibrate=calibrate)
    with configured_provider(env if env is not None else os.environ, fake=fake) as model:
        methods: dict[str, Method] = {"triage (no model)": triage_method}
        spend = Spend()
        if model is None:
            out.para(
                "_Model rows not run: no provider key is configured. Set OPENAI_API_KEY (or ANTHROPIC_API_KEY, "
                "GEMINI_API_KEY with REFINERY_PROVIDER, and REFINERY_MODEL) and rerun `python -m benchmarks quality`._"
            )
        else:
            label, new_provider = model
            methods[label] = model_method(new_provider, spend)
        if who:
            who_and_when(out, who, methods, workers)
        else:
            out.skipped("Who&When accuracy", "../shared/datasets/who-and-when is absent")
        if trail_path is not None:
            trail(out, trail_path, methods, workers)
        else:
            out.para(
                "_TRAIL-style scoring not run: no annotated traces given. Pass `--trail PATH` (the dataset's JSONL "
                "export of `{trace, labels}` rows, or a directory with `traces/` and `labels/`)._"
            )
        if spend.analyses:
            cost = "unknown (model not in the price table)" if spend.cost_usd is None else f"${spend.cost_usd:.2f}"
            out.para(
                f"Model rows: {spend.analyses} four-stage analyses ({workers} at a time), {spend.input_tokens:,} "
                f"input and {spend.output_tokens:,} output tokens, cost {cost}. "
                f"{len(spend.errors)} analyses failed and count as misses"
                + (f"; the first: {spend.errors[0]}" if spend.errors else "")
                + "."
            )
