"""Blame that holds up: does the ranking name the pull request's hunk that caused the failure?

Cases are built from the shared tau-bench and tau2-bench failures and the ground truth written
before any scorer ran (``attribution/ground_truth.json``; ``attribution/README.md`` says how they
are rebuilt). The agent's policy, its system prompt, becomes the repository file
``prompts/policy.md``. Per failure, three pull requests change the rule that explains it among
distractors, and one holds distractors only:

- ``delete``: the rule removed, with a README edit, an unrelated rule removed and a code refactor;
- ``weaken``: the rule reworded weaker, with a README edit, a refactor, a test change and an
  unrelated rule removed;
- ``delete6``: the rule removed among six distractors (two unrelated rules, README, refactor,
  test, a config change);
- ``distractors``: five distractors and nothing else.

The trace is the failing run as it would have run after the pull request: its system prompt is
the changed policy. Each case is prepared and enriched as the action does, with no model and no
baseline. The split is the same fixed rule as the origin's (SHA-256 of the case name, even:
development). ``--calibrate`` learns the band thresholds on the development half and writes
``refinery/changes/calibration.json``: ``likely`` is the lowest score at which the top suspect was
the true hunk at least 90 % of the time (over at least 5 claims), ``possible`` the lowest at which it
was right at least half the time; neither may claim anything on a pull request of distractors only.
Scores below claim nothing.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.origin_cases import half_of
from benchmarks.results import Results

HERE = Path(__file__).resolve().parent / "attribution"
CALIBRATION = Path(__file__).resolve().parent.parent / "refinery" / "changes" / "calibration.json"
LIKELY_PRECISION = 0.9
POSSIBLE_PRECISION = 0.5
MIN_CLAIMS = 5
PROMPT = "prompts/policy.md"

README = ("README.md", "# Support agent\n\nThe agent answers customers.\n", "# Support agent\n\nThe agent answers customers.\nRun `make eval` to run the evals locally.\n")  # fmt: skip
REFACTOR = (
    "agent/tools.py",
    "def _fmt(order):\n    return f\"{order['id']}: {order['status']}\"\n\n\ndef show(order):\n    return _fmt(order)\n",
    "def format_order(order):\n    return f\"{order['id']}: {order['status']}\"\n\n\ndef show(order):\n    return format_order(order)\n",
)
TEST = (
    "tests/test_tools.py",
    "from agent.tools import show\n\n\ndef test_show():\n    assert show({'id': 1, 'status': 'ok'}) == '1: ok'\n",
    "from agent.tools import show\n\n\ndef test_show():\n    assert show({'id': 2, 'status': 'ok'}) == '2: ok'\n",
)
CONFIG = ("config.yaml", "log_level: info\nretries: 2\n", "log_level: debug\nretries: 2\n")


@dataclass(frozen=True)
class AttributionCase:
    name: str
    failure: str
    variant: str
    trace: Any
    diff: str
    truth: str | None
    """The rule whose hunk is the cause; None for distractors only."""

    @property
    def half(self) -> str:
        return half_of(self.name)


def _diff(path: str, old: str, new: str) -> str:
    lines = list(difflib.unified_diff(old.splitlines(), new.splitlines(), f"a/{path}", f"b/{path}", n=3, lineterm=""))
    return f"diff --git a/{path} b/{path}\n" + "\n".join(lines) + "\n" if lines else ""


def _section(lines: list[str], index: int) -> str:
    return next((lines[i] for i in range(index, -1, -1) if lines[i].lstrip().startswith("#")), "")


def _unrelated(policy: str, rule: str, seed: str, count: int, actions: set[str]) -> list[str]:
    """``count`` policy lines about something else, picked by a hash: from sections other than the rule's
    whose heading names none of the actions the failure involves (the call made, the call expected),
    never from the preamble (the agent's whole scope, about every action) nor a line said twice."""
    lines = policy.splitlines()
    where = next(i for i, line in enumerate(lines) if line.strip() == rule.strip())
    section = _section(lines, where)

    def about_the_failure(heading: str) -> bool:
        return bool(set(re.findall(r"[a-z]+", heading.lower())) & actions)

    candidates = [
        line for i, line in enumerate(lines) if len(line.strip()) >= 40 and not line.lstrip().startswith("#")
        and _section(lines, i) != section and not about_the_failure(_section(lines, i)) and line.strip() != rule.strip()
        and lines.count(line) == 1  # a line the policy repeats elsewhere would take its twin out too
        and _section(lines, i).lstrip("#").strip() not in ("", lines[0].lstrip("#").strip())  # the preamble: all scope
    ]  # fmt: skip
    ranked = sorted(candidates, key=lambda line: hashlib.sha256(f"{seed}|{line}".encode()).hexdigest())
    return ranked[:count]


def _action_verbs(trace: Any) -> set[str]:
    """The verbs of the calls the failure involves: the agent's state-changing calls and the expected ones."""
    from refinery.compare.expected import expected_actions, state_changes
    from refinery.trace.roles import Roles

    names = [s.name for s in state_changes(trace, Roles.of(trace))] + [a["name"] for a in expected_actions(trace) or []]
    return {name.split("_", 1)[0].lower() for name in names}


def _pull(policy: str, edits: dict[str, str | None], files: list[tuple[str, str, str]]) -> tuple[str, str]:
    """(the changed policy, the pull request's diff): each edited line replaced (None: removed)."""
    new_lines = []
    for line in policy.splitlines():
        if line in edits:
            if edits[line] is not None:
                new_lines.append(str(edits[line]))
            continue
        new_lines.append(line)
    new_policy = "\n".join(new_lines)
    parts = [_diff(path, old, new) for path, old, new in sorted([*files, (PROMPT, policy, new_policy)])]
    return new_policy, "".join(parts)


def _failing_trace(shared: Path, ref: str) -> Any:
    from refinery.trace.files import load_trace_files

    folder, trace_id = ref.split("/", 1)
    for path in sorted((shared / "datasets" / "real-traces" / folder).glob("*.json")):
        for trace in load_trace_files(path):
            if trace.id == trace_id:
                return trace
    raise LookupError(ref)


def _with_prompt(trace: Any, old: str, new: str) -> Any:
    """The trace as it ran after the pull request: every system prompt holding the policy changed."""
    runs = []
    for run in trace.runs:
        system = run.inputs.get("system")
        if isinstance(system, str) and old in system:
            run = run.model_copy(update={"inputs": {**run.inputs, "system": system.replace(old, new)}})
        runs.append(run)
    return trace.model_copy(update={"runs": runs})


def _policy_of(trace: Any) -> str:
    from refinery.compare.summary import summarize

    prompt = summarize(trace).system_prompt
    if not prompt:
        raise LookupError(f"{trace.id} carries no system prompt")
    return prompt


def build_cases(shared: Path) -> list[AttributionCase]:
    truth = json.loads((HERE / "ground_truth.json").read_text())
    cases = []
    for failure in truth["failures"]:
        trace = _failing_trace(shared, failure["trace"])
        policy = _policy_of(trace)
        rule = next(line for line in policy.splitlines() if line.strip() == failure["rule"].strip())
        others = _unrelated(policy, rule, failure["trace"], 3, _action_verbs(trace))
        variants: dict[str, tuple[dict[str, str | None], list[tuple[str, str, str]], str | None]] = {
            "delete": ({rule: None, others[0]: None}, [README, REFACTOR], rule),
            "weaken": ({rule: failure["weakened"], others[0]: None}, [README, REFACTOR, TEST], rule),
            "delete6": ({rule: None, others[0]: None, others[1]: None}, [README, REFACTOR, TEST, CONFIG], rule),
            "distractors": ({others[0]: None, others[2]: None}, [README, REFACTOR, TEST], None),
        }
        for variant, (edits, files, cause) in variants.items():
            new_policy, diff = _pull(policy, edits, files)
            cases.append(
                AttributionCase(
                    name=f"{failure['trace']}/{variant}",
                    failure=failure["trace"],
                    variant=variant,
                    trace=_with_prompt(trace, policy, new_policy),
                    diff=diff,
                    truth=cause,
                )
            )
    return cases


def rank_case(case: AttributionCase) -> list[Any]:
    """The case's suspects, as the action ranks them (prepared, then enriched with the changes)."""
    from refinery.changes.diff import read_unified_diff
    from refinery.pipeline import enrich, prepare

    prepared = enrich(prepare(case.trace), changes=read_unified_diff(case.diff, "benchmark"))
    return list(prepared.suspects)


def _is_truth(case: AttributionCase, suspect: Any, diff_hunks: dict[str, Any]) -> bool:
    if case.truth is None:
        return False
    hunk = diff_hunks[suspect.change_id]
    return any(line.strip() == case.truth.strip() for line in hunk.removed)


def score_cases(cases: list[AttributionCase]) -> list[dict[str, Any]]:
    """Per case: the top suspect's score, whether it is the true hunk, and the truth's rank."""
    from refinery.changes.diff import read_unified_diff

    rows = []
    for case in cases:
        suspects = rank_case(case)
        hunks = {h.change_id: h for h in read_unified_diff(case.diff, "benchmark").hunks}
        ranks = [i for i, s in enumerate(suspects, start=1) if _is_truth(case, s, hunks)]
        top = suspects[0] if suspects else None
        rows.append(
            {
                "case": case,
                "top_score": top.score if top else 0.0,
                "top_right": bool(ranks) and ranks[0] == 1,
                "band": top.band if top else "none",
                "truth_rank": ranks[0] if ranks else None,
                "tied": bool(top and top.tied_with),
            }
        )
    return rows


def learn_thresholds(rows: list[dict[str, Any]]) -> dict[str, float | None]:
    """The lowest score at which claiming the top suspect reaches each band's precision and claims nothing
    on a pull request of distractors only (development half)."""
    learned: dict[str, float | None] = {}
    scores = sorted({r["top_score"] for r in rows if r["top_score"] > 0})
    for band, wanted in (("likely", LIKELY_PRECISION), ("possible", POSSIBLE_PRECISION)):
        learned[band] = None
        for t in scores:
            claims = [r for r in rows if r["top_score"] >= t and not r["tied"]]
            right = sum(r["top_right"] for r in claims)
            on_distractors = any(r["case"].truth is None for r in claims)
            if len(claims) >= MIN_CLAIMS and right / len(claims) >= wanted and not on_distractors:
                learned[band] = t
                break
    if learned["possible"] is not None and learned["likely"] is not None and learned["possible"] > learned["likely"]:
        learned["possible"] = learned["likely"]
    return learned


def _metrics(rows: list[dict[str, Any]]) -> list[object]:
    caused = [r for r in rows if r["case"].truth is not None]
    only = [r for r in rows if r["case"].truth is None]
    likely = [r for r in rows if r["band"] == "likely"]
    claims = [r for r in rows if r["band"] != "none"]
    return [
        len(caused),
        f"{sum(r['top_right'] for r in caused)} of {len(caused)}",
        f"{sum(r['top_right'] for r in likely)} of {len(likely)}" if likely else "no claim",
        f"{sum(r['top_right'] for r in claims)} of {len(claims)}" if claims else "no claim",
        f"{sum(r['band'] != 'none' for r in only)} of {len(only)}",
    ]


def run(out: Results, *, shared: Path, calibrate: bool = False) -> None:
    out.heading("Attribution: which change of the pull request did it")
    if not (shared / "datasets" / "real-traces").is_dir():
        out.skipped("Attribution", "../shared/datasets/real-traces is absent")
        return
    cases = build_cases(shared)
    if calibrate:
        dev = score_cases([c for c in cases if c.half == "development"])
        learned = learn_thresholds(dev)
        CALIBRATION.write_text(
            json.dumps({"thresholds": learned, "learned_on": f"{len(dev)} development cases"}, indent=2) + "\n"
        )
        from refinery.changes.rank import thresholds

        thresholds.cache_clear()
    rows = score_cases(cases)
    out.para(
        f"{len(cases)} pull requests built from the {len(cases) // 4} shared tau-bench and tau2-bench failures "
        "(`benchmarks/attribution/`): per failure, the rule that explains it deleted, weakened, or deleted among six "
        "distractors, and one of distractors only. Bands learned on the development half "
        "(`refinery/changes/calibration.json`): "
        + json.dumps(json.loads(CALIBRATION.read_text())["thresholds"])
        + ". Claims count the top suspect only; a tie is shown as a tie and counts as no claim."
    )
    table = []
    for half in ("development", "check"):
        table.append([half, *_metrics([r for r in rows if r["case"].half == half])])
    out.table(
        [
            "half",
            "cases with a cause",
            "top-1 right",
            '"likely" right',
            "any claim right",
            "claims on distractor-only PRs",
        ],
        table,
    )
    every = _metrics(rows)
    out.figure("Attribution top-1 (both halves)", str(every[1]), "")
    out.figure('Precision of "likely" (both halves)', str(every[2]), "goal ≥90 %")
    out.figure("Claims on distractor-only pull requests", str(every[4]), "goal 0")
