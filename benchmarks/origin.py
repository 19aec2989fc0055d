"""Does triage name the right origin, and is it as sure as it says? (part of ``quality``)

Every labelled case (``origin_cases``) is prepared as the action prepares a trace, with no model
and no baseline. Each row gives the development half and the check half. *Stated* origins are the
ones the report names (their level's precision reaches the floor, or is not yet measured);
the *lead* is what triage would name at any level, which the model stages get as a lead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from benchmarks.origin_cases import (
    AGENT_BASES,
    LEVELS,
    Case,
    LevelCount,
    agent_counts,
    all_cases,
    calibration_table,
    first_state_change,
    level_counts,
    tool_index,
    triage_cases,
)
from benchmarks.results import Results
from refinery.trace.roles import Roles
from refinery.triage.model import FLOOR, AgentClaim, Origin

HALVES = ("development", "check")
CALIBRATION = Path(__file__).resolve().parent.parent / "refinery" / "triage" / "calibration.json"
Scored = list[tuple[Case, Origin | None]]
Claimed = list[tuple[Case, AgentClaim | None]]


def _pct(hits: int, n: int) -> str:
    return f"{100 * hits / n:.1f}" if n else "n/a"


def _same_agent(a: str | None, b: str | None) -> bool:
    return bool(a and b and a.lower() == b.lower())


def _speaker(case: Case, last: bool) -> str | None:
    """The trivial baselines: the first (or last) agent of the system under test to speak."""
    roles = Roles.of(case.trace)
    agents = [r.agent for r in case.trace.runs[1:] if r.agent and roles.acts(r)]
    return (agents[-1] if last else agents[0]) if agents else None


def _claim_cell(part: Claimed) -> str:
    """Agent % named by the stated agent claim (its first step of work %), over every log of ``part``."""
    named = [(c, a) for c, a in part if a is not None and a.stated]
    agent = sum(_same_agent(a.agent, c.agent) for c, a in named)
    step = sum(a.first_step == c.step for c, a in named if a.basis != "origin")
    return f"{_pct(agent, len(part))} / {_pct(step, len(part))} ({len(named)})"


def _who_rows(scored: Scored, claims: Claimed) -> list[list[object]]:
    rows: list[list[object]] = []
    for dataset in sorted({c.dataset for c, _ in scored if c.dataset.startswith("Who&When")}):
        for half in HALVES:
            claimed = [(c, a) for c, a in claims if c.dataset == dataset and c.half == half]
            part = [(c, o) for c, o in scored if c.dataset == dataset and c.half == half]
            n = len(part)
            stated = [(c, o) for c, o in part if o is not None and o.stated]
            lead = [(c, o) for c, o in part if o is not None]

            def step_hits(pairs: Scored) -> int:
                return sum(o is not None and o.step == c.step for c, o in pairs)

            def agent_hits(pairs: Scored) -> int:
                return sum(o is not None and _same_agent(o.agent, c.agent) for c, o in pairs)

            first = sum(_same_agent(_speaker(c, False), c.agent) for c, _ in part)
            last = sum(_same_agent(_speaker(c, True), c.agent) for c, _ in part)
            rows.append(
                [
                    dataset.removeprefix("Who&When "),
                    half,
                    n,
                    f"{_pct(agent_hits(stated), n)} / {_pct(step_hits(stated), n)} ({len(stated)})",
                    f"{_pct(agent_hits(lead), n)} / {_pct(step_hits(lead), n)} ({len(lead)})",
                    _claim_cell(claimed),
                    _pct(first, n),
                    _pct(last, n),
                ]
            )
    return rows


def _tau_rows(scored: Scored) -> list[list[object]]:
    rows: list[list[object]] = []
    for half in HALVES:
        part = [(c, o) for c, o in scored if not c.dataset.startswith("Who&When") and c.half == half]
        labelled = [(c, o) for c, o in part if c.step is not None]

        def hits(pick: Callable[[Case, Origin | None], int | None], labelled: Scored = labelled) -> tuple[int, int]:
            exact = near = 0
            for case, origin in labelled:
                got = pick(case, origin)
                exact += got == case.step
                want, have = tool_index(case.trace, case.step), tool_index(case.trace, got)
                near += want is not None and have is not None and abs(want - have) <= 1
            return exact, near

        ours = hits(lambda c, o: o.step if o is not None and o.stated else None)
        trivial = hits(lambda c, o: first_state_change(c.trace))
        n = len(labelled)
        rows.append(
            [
                half,
                len(part),
                n,
                f"{_pct(ours[0], n)} / {_pct(ours[1], n)}",
                f"{_pct(trivial[0], n)} / {_pct(trivial[1], n)}",
            ]
        )
    return rows


def _claim_rows(claims: Claimed) -> list[list[object]]:
    rows: list[list[object]] = []
    for basis in AGENT_BASES:
        for half in HALVES:
            count = agent_counts([c for c in claims if c[0].half == half], basis)
            rows.append([f"`{basis}`", half, count.named, count.right, count.precision])
    return rows


def _no_origin_claims(claims: Claimed) -> LevelCount:
    """Every agent claim made without a stated origin, whatever its basis."""
    total = LevelCount()
    for basis in AGENT_BASES:
        count = agent_counts(claims, basis)
        total.named += count.named
        total.right += count.right
    return total


def _level_rows(scored: Scored) -> list[list[object]]:
    rows: list[list[object]] = []
    for half in HALVES:
        part = [s for s in scored if s[0].half == half]
        labelled = sum(c.step is not None for c, _ in part)
        for level, count in level_counts(part).items():
            rows.append([half, level, count.named, count.right, count.precision, _pct(count.named, labelled)])
    return rows


def run(out: Results, shared: Path, who: list[Path], *, calibrate: bool = False) -> None:
    cases = all_cases(shared, who)
    if not cases:
        out.skipped("Origin accuracy", "../shared/datasets is absent")
        return
    triaged = triage_cases(cases)
    scored: Scored = [(c, t.origin) for c, t in triaged]
    claims: Claimed = [(c, t.agent) for c, t in triaged]
    table = calibration_table(scored, claims)
    if calibrate:
        CALIBRATION.write_text(json.dumps(table, indent=2) + "\n")
    out.heading("Origin: named only when it is right", level=3)
    out.para(
        f"{len(cases)} labelled failures ({table['measured_on']}), split by a fixed rule "
        f"({table['split']}); rules were tuned on the development half only. No model, no baseline. "
        f"An origin is *stated* (named in the report) when its level's measured precision reaches the floor "
        f"({FLOOR:.0%}) or is not yet measured (fewer than 5 labelled origins); the *lead* is what triage "
        "would name at any level, and is given to the model stages as a lead."
    )
    out.para(
        "**Who&When**: agent % / step % (origins named), against naming the first or the last agent to speak. "
        "*Agent claim*: the agent the report names (the stated origin's; else, in a routed run its coordinator "
        "ended itself after the last work, the coordinator; else the worker that did most of the work; with no work, "
        "the first agent to take up the task; with one agent, that agent: `refinery/triage/workers.py`) "
        "/ the step the report gives as where to start reading (not as the origin); every % is over all logs of "
        "the row."
    )
    out.table(
        [
            "subset",
            "half",
            "logs",
            "stated",
            "lead (any level)",
            "agent claim",
            "first speaker, agent %",
            "last speaker, agent %",
        ],
        _who_rows(scored, claims),
        right=2,
    )
    out.para(
        "**tau-bench / tau2-bench failures**: the first state-changing call that is not among the task's expected "
        "actions (failures whose calls were all expected have no such call and are not scored). Exact % / within "
        "one tool call %, against naming the first state-changing call."
    )
    out.table(
        ["half", "failures", "with a wrong call", "stated origin", "first state-changing call"], _tau_rows(scored)
    )
    out.para(
        "**Agent claims when no origin is stated**, per basis and half: `most_work` (the worker that did most of "
        "the work), `first_answer` (no work ran: the first agent to take up the task once it was handed out), "
        "`only_agent` (the system under test has one agent), `ended_it` (a routed run its coordinator ended itself "
        "after the last work, not cut off by a limit or a crash). Named / right."
    )
    out.table(["basis", "half", "named", "right", "precision"], _claim_rows(claims), right=2)
    count = _no_origin_claims(claims)
    out.figure(
        "Agent named when no step is (most work, first answer, only agent, ended it), both halves",
        f"{count.precision} ({count.right}/{count.named})",
        "above naming the first or last agent to speak",
    )
    out.para("**Precision and coverage per confidence level** (coverage: origins at the level / labelled cases).")
    out.table(["half", "level", "named", "right", "precision", "coverage %"], _level_rows(scored), right=2)
    stated = [o for _, o in scored if o is not None and o.stated]
    high = sum(o.confidence == "high" for o in stated)
    out.figure(
        'Origins stated as "starts at" (high), of those stated',
        f"{high} of {len(stated)}",
        'every level below high is worded "most likely" or "possibly"',
    )
    for level in LEVELS:
        count = level_counts(scored)[level]
        out.figure(
            f"Origin precision at {level}, both halves",
            f"{count.precision} ({count.right}/{count.named})",
            "goal ≥85 % at high",
        )
