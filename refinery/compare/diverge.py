"""From an alignment to the differences, the first divergence, and what changed around the runs.

The steps the diff marks as changed are paired: a call with the same tool's call in its stretch,
or, for a state-changing call, in another stretch (reads moved around it split the stretches);
that is ``different_arguments``. What is left in a stretch is paired in order, another tool
``different_tool``; what is left over is an ``extra_step`` (only this run) or a
``missing_step`` (only the passing run). A step both runs took that failed only here is an
``error``. The first divergence is the first difference in the failing run's order that
changed something: an extra or a missing read (one ``get_…`` more or less) is listed but,
like a retry, does not count as where the run went wrong unless nothing else differs.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence

from refinery.compare.align import Alignment, Pair
from refinery.compare.model import ContextChange, Difference, Divergence, StepRef
from refinery.compare.steps import Step
from refinery.compare.summary import RunSummary


def step_ref(step: Step) -> StepRef:
    return StepRef(section=step.section, run_id=step.run_id, step=step.index + 1, label=step.label, agent=step.agent)


def find_differences(
    alignment: Alignment, failing: Sequence[Step], baseline: Sequence[Step], *, other: str = "the passing run"
) -> list[Difference]:
    """Every difference, in the order of the alignment; ``other`` names the baseline in the details."""
    out: list[Difference] = []
    pairs = alignment.pairs
    stretches = _stretches(pairs)
    partner = _same_tool(stretches, pairs, failing, baseline)
    taken = {t.index for t in partner.values()}
    i = 0
    last_failing: Step | None = None
    for begin, end in [*stretches, (len(pairs), len(pairs))]:
        for pair in pairs[i:begin]:  # steps both runs took
            here, there = failing[pair.failing or 0], baseline[pair.baseline or 0]
            if here.error and not there.error:
                out.append(
                    Difference(
                        kind="error",
                        failing=step_ref(here),
                        baseline=step_ref(there),
                        detail=f"{here.label} failed here ({here.error}); in {other} it succeeded",
                    )
                )
            last_failing = here
        out.extend(_stretch(pairs[begin:end], failing, baseline, last_failing, other, partner, taken))
        for pair in pairs[begin:end]:
            if pair.failing is not None:
                last_failing = failing[pair.failing]
        i = end
    return out


def _stretches(pairs: Sequence[Pair]) -> list[tuple[int, int]]:
    """The runs of pairs the diff marks as changed (removed or added), as [begin, end) ranges."""
    out: list[tuple[int, int]] = []
    i = 0
    while i < len(pairs):
        if pairs[i].op in ("removed", "added"):
            j = i
            while j < len(pairs) and pairs[j].op in ("removed", "added"):
                j += 1
            out.append((i, j))
            i = j
        else:
            i += 1
    return out


def _same_tool(
    stretches: list[tuple[int, int]], pairs: Sequence[Pair], failing: Sequence[Step], baseline: Sequence[Step]
) -> dict[int, Step]:
    """Each changed step of this run with the passing run's call of the same tool: in its own stretch
    first; then, for a state-changing call, in another stretch. Reads moved around a call split the
    stretches, not the behaviour: one call made with other arguments is never two unrelated steps,
    nor paired with another tool only because it stood in the same place."""
    partner: dict[int, Step] = {}
    used: set[int] = set()

    def removed(begin: int, end: int) -> list[Step]:
        return [failing[p.failing] for p in pairs[begin:end] if p.op == "removed" and p.failing is not None]

    def added(begin: int, end: int) -> list[Step]:
        return [baseline[p.baseline] for p in pairs[begin:end] if p.op == "added" and p.baseline is not None]

    def pair(here: Step, candidates: list[Step]) -> None:
        same = next((t for t in candidates if t.index not in used and (t.kind, t.name) == (here.kind, here.name)), None)
        if same is not None:
            partner[here.index] = same
            used.add(same.index)

    for begin, end in stretches:
        for here in removed(begin, end):
            pair(here, added(begin, end))
    writes = [t for begin, end in stretches for t in added(begin, end) if not (t.is_read or t.reasoning)]
    for begin, end in stretches:
        for here in removed(begin, end):
            if here.index not in partner and not (here.is_read or here.reasoning):
                pair(here, writes)
    return partner


def _stretch(
    stretch: Sequence[Pair],
    failing: Sequence[Step],
    baseline: Sequence[Step],
    before: Step | None,
    other: str,
    partner: dict[int, Step],
    taken: set[int],
) -> list[Difference]:
    """The stretch's differences: each step with its same-tool partner (other arguments), then the rest
    paired by position (another tool); what is left over is extra or missing."""
    removed = [failing[p.failing] for p in stretch if p.op == "removed" and p.failing is not None]
    free = [baseline[p.baseline] for p in stretch if p.op == "added" and p.baseline is not None]
    free = [t for t in free if t.index not in taken]
    mine = dict(partner)
    for here in removed:
        if here.index not in mine and free and not here.is_read and not free[0].is_read:
            mine[here.index] = free.pop(0)
    out: list[Difference] = []
    for here in removed:
        there = mine.get(here.index)
        if there is None:
            out.append(_extra(here, other))
        else:
            out.append(
                Difference(
                    kind="different_arguments" if here.name == there.name else "different_tool",
                    failing=step_ref(here),
                    baseline=step_ref(there),
                    detail=f"called {here.label} where {other} called {there.label}",
                )
            )
        before = here
    out += [_missing(there, removed[-1] if removed else before, other) for there in free]
    return out


def _extra(here: Step, other: str) -> Difference:
    return Difference(kind="extra_step", failing=step_ref(here), detail=f"called {here.label}, which {other} never did")


def _missing(there: Step, before: Step | None, other: str) -> Difference:
    return Difference(
        kind="missing_step",
        baseline=step_ref(there),
        anchor=step_ref(before) if before is not None else None,
        detail=f"never called {there.label}, which {other} did"
        + (f" after {before.label}" if before is not None else " first"),
    )


def _benign(difference: Difference, failing: Sequence[Step], baseline: Sequence[Step]) -> bool:
    """A read one run did and the other did not (looking something up changes nothing, like a retry), or
    any difference in a step that only thinks or computes (``Step.reasoning``)."""
    here = failing[difference.failing.step - 1] if difference.failing is not None else None
    there = baseline[difference.baseline.step - 1] if difference.baseline is not None else None
    if any(s is not None and s.reasoning for s in (here, there)):
        return True
    if difference.kind == "extra_step" and here is not None:
        return here.is_read
    if difference.kind == "missing_step" and there is not None:
        return there.is_read
    return False


def _reasoning_only(difference: Difference, failing: Sequence[Step], baseline: Sequence[Step]) -> bool:
    here = failing[difference.failing.step - 1] if difference.failing is not None else None
    there = baseline[difference.baseline.step - 1] if difference.baseline is not None else None
    return any(s is not None and s.reasoning for s in (here, there))


def first_divergence(
    differences: Sequence[Difference],
    failing: Sequence[Step],
    baseline: Sequence[Step],
    *,
    other: str = "the passing run",
    unit: str = "step",
) -> Divergence | None:
    """The first difference that changed something.

    A run that lacks the passing run's whole beginning, or everything after some step (it stopped),
    diverges at the first step it missed, a read included: that is what the passing run did and it
    did not. Otherwise an extra or missing read
    counts only when nothing else differs, and a difference in a step that only thinks or computes
    never does: if nothing the run did next differs, the runs did not part ways.
    """
    if not differences:
        return None
    head = differences[0]
    stopped = head.anchor is None or head.anchor.step == len(failing)
    if head.kind == "missing_step" and stopped:
        first = head
    else:
        changed = [d for d in differences if not _benign(d, failing, baseline)]
        reads = [d for d in differences if not _reasoning_only(d, failing, baseline)]
        if not (changed or reads):
            return None
        first = (changed or reads)[0]
    ref = first.failing or first.anchor
    return Divergence(
        section=ref.section if ref else None,
        run_id=ref.run_id if ref else None,
        step=ref.step if ref else None,
        kind=first.kind,
        agent=ref.agent if ref else None,
        detail=first.detail,
        baseline_section="B01",
        baseline_step=first.baseline.step if first.baseline else None,
        sentence=divergence_sentence(first, len(failing), other, unit),
    )


def _arguments(args: str) -> dict[str, str] | None:
    try:
        value = json.loads(args)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return {str(k): json.dumps(v, ensure_ascii=False, separators=(",", ":")) for k, v in value.items()}


def argument_change(here: str, there: str) -> tuple[str, str, list[str]] | None:
    """Only the arguments that differ, on each side, and the names of those that were the same."""
    ours, theirs = _arguments(here), _arguments(there)
    if ours is None or theirs is None:
        return None
    changed = [k for k in sorted(set(ours) | set(theirs)) if ours.get(k) != theirs.get(k)]
    same = [k for k in sorted(set(ours) & set(theirs)) if ours[k] == theirs[k]]

    def shown(side: dict[str, str]) -> str:
        return ", ".join(f"{k}={side[k]}" if k in side else f"no {k}" for k in changed)

    return shown(ours), shown(theirs), same


def divergence_sentence(
    difference: Difference, failing_steps: int, other: str = "the passing run", unit: str = "step"
) -> str:
    """One exact sentence, with the positions in both runs and no placeholder for a missing one.

    ``unit`` names what the positions count (``step``; ``state-changing call`` against expected actions)."""
    here, there, anchor = difference.failing, difference.baseline, difference.anchor
    theirs = f" ({'their' if other.endswith('s') else 'its'} {unit} {there.step})" if there is not None else ""
    if difference.kind == "different_arguments" and here and there:
        name = here.label.split("(", 1)[0]
        change = argument_change(here.label[len(name) + 1 : -1], there.label[len(name) + 1 : -1])
        if change is not None:
            ours, yours, same = change
            kept = f"; {', '.join(same)} {'was' if len(same) == 1 else 'were'} the same" if same else ""
            return (
                f"At {unit} {here.step} ({here.section}) this run called {name} with {ours}; "
                f"{other} called it with {yours}{theirs}{kept}."
            )
    if difference.kind in ("different_tool", "different_arguments") and here and there:
        return f"At {unit} {here.step} ({here.section}) this run called {here.label}; {other} called {there.label}{theirs}."
    if difference.kind == "extra_step" and here:
        return f"This run called {here.label} at {unit} {here.step} ({here.section}), which {other} never did."
    if difference.kind == "error" and here:
        return f"At {unit} {here.step} ({here.section}) {here.label} failed here; in {other} it succeeded{theirs}."
    if difference.kind == "missing_step" and there:
        if anchor is None and failing_steps == 0:
            return f"This run made no tool call; {other} began with {there.label}{theirs}."
        if anchor is None:
            return f"This run never called {there.label}, which {other} called first{theirs}."
        if anchor.step == failing_steps:
            return (
                f"After {unit} {anchor.step} ({anchor.section}) this run stopped calling tools; "
                f"{other} went on with {there.label}{theirs}."
            )
        return f"After {unit} {anchor.step} ({anchor.section}) this run never called {there.label}, which {other} did{theirs}."
    return difference.detail[:1].upper() + difference.detail[1:] + "."


# -- around the runs ---------------------------------------------------------------------------


def context_changes(failing: RunSummary, baseline: RunSummary) -> list[ContextChange]:
    """System prompt (as a unified diff), tools offered, models and their parameters."""
    out: list[ContextChange] = []
    ours, theirs = failing.system_prompt, baseline.system_prompt
    if ours is not None and theirs is not None and ours != theirs:
        # Lines without their ends: a prompt's last line has none, and kept ends would glue it to the next.
        diff = "\n".join(
            difflib.unified_diff(
                theirs.splitlines(), ours.splitlines(), fromfile="passing run", tofile="this run", lineterm=""
            )
        )
        out.append(ContextChange(what="system_prompt", detail="the system prompt differs", diff=diff))
    elif (ours is None) != (theirs is None):
        out.append(
            ContextChange(
                what="system_prompt",
                detail="only " + ("this run" if ours is not None else "the passing run") + " has a system prompt",
            )
        )
    tools_here, tools_there = failing.tools, baseline.tools
    if tools_here != tools_there and tools_here | tools_there:
        parts = []
        if tools_here - tools_there:
            parts.append("only this run was offered " + ", ".join(sorted(tools_here - tools_there)))
        if tools_there - tools_here:
            parts.append("only the passing run was offered " + ", ".join(sorted(tools_there - tools_here)))
        out.append(ContextChange(what="tools", detail="; ".join(parts)))
    if failing.models and baseline.models and failing.models != baseline.models:
        out.append(
            ContextChange(
                what="model",
                detail=f"this run used {', '.join(failing.models)}; the passing run {', '.join(baseline.models)}",
            )
        )
    here, there = failing.parameters, baseline.parameters
    changed = sorted(k for k in set(here) | set(there) if here.get(k) != there.get(k))
    if changed:
        shown = "; ".join(f"{k}: {there.get(k)!r} → {here.get(k)!r}" for k in changed)
        out.append(ContextChange(what="parameters", detail=f"model parameters differ (passing → this run): {shown}"))
    return out
