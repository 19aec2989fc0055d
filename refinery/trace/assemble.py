"""Turn a bag of run records from any source into a well-formed Trace.

Sources map their own format to ``RunDraft`` dicts (Run's fields, without ``order``).
This module repairs what real exports get wrong and says so in ``Trace.warnings``:
duplicate ids are merged, orphans are attached to the root, cycles are broken, and
runs without times keep their input position. No run is ever dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from refinery.errors import TraceFormatError
from refinery.trace.bounds import MAX_NESTING, epoch_any_unit
from refinery.trace.model import Feedback, Run, Trace, TraceWarning
from refinery.trace.payload import PayloadStats, cap_payload

RunDraft = dict[str, Any]

_PAYLOAD_FIELDS = ("inputs", "outputs", "error", "metadata", "events")
_SAMPLE = 5


def _warn(warnings: list[TraceWarning], code: str, message: str, ids: list[str]) -> None:
    if ids:
        warnings.append(TraceWarning(code=code, message=message, run_ids=ids[:_SAMPLE], count=len(ids)))


def _merge(into: RunDraft, later: RunDraft) -> None:
    # A later record of the same run is an update (LangSmith posts, then patches).
    for key, value in later.items():
        if value not in (None, "", [], {}):
            into[key] = value


def _as_utc(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, (int, float)):
        # Epoch seconds, or milli/micro/nanoseconds for large values; out of range is no time at all.
        return epoch_any_unit(value)
    text = str(value).strip().replace("Z", "+00:00")
    if text.isdigit():  # an epoch written as text; fromisoformat would read "11111111" as 1111-11-11
        return epoch_any_unit(float(text))
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def assemble_trace(
    drafts: list[RunDraft],
    *,
    source: str,
    trace_id: str | None = None,
    times_expected: bool = True,
    feedback: list[Feedback] | None = None,
    warnings: list[TraceWarning] | None = None,
    **trace_fields: Any,
) -> Trace:
    """Order, repair and validate runs into a Trace. Raises TraceFormatError on empty input."""
    if not drafts:
        raise TraceFormatError("The trace has no runs.", hint="Check that the file or trace id is right.")
    notes: list[TraceWarning] = list(warnings or [])
    by_id, seq = _index_drafts(drafts, notes)
    _normalise_times_and_parents(by_id, notes)
    root_id = _choose_root(by_id, seq, trace_id, notes)
    tid = trace_id or str(by_id[root_id].get("trace_id") or root_id)
    by_id[root_id]["parent_id"] = None
    orphans = [rid for rid, d in by_id.items() if d["parent_id"] is not None and d["parent_id"] not in by_id]
    for rid in orphans:
        by_id[rid].setdefault("metadata", {})
        by_id[rid]["metadata"] = {**(by_id[rid]["metadata"] or {}), "orphan_of": by_id[rid]["parent_id"]}
        by_id[rid]["parent_id"] = root_id
    _warn(notes, "orphan", "Runs whose parent is missing were attached to the root.", orphans)
    _break_cycles(by_id, root_id, seq, notes)
    ordered = _execution_order(by_id, root_id, seq)
    if times_expected:
        untimed = [rid for rid in ordered if by_id[rid]["start_time"] is None]
        _warn(notes, "missing_time", "Runs without a start time keep their input position.", untimed)
    runs = _validated_runs(by_id, ordered, tid, notes)
    return Trace(id=tid, source=source, runs=runs, feedback=feedback or [], warnings=notes, **trace_fields)


def _index_drafts(drafts: list[RunDraft], notes: list[TraceWarning]) -> tuple[dict[str, RunDraft], dict[str, int]]:
    """Drafts by id, in input order; a repeated id updates its first record, a missing one is positional."""
    by_id: dict[str, RunDraft] = {}
    seq: dict[str, int] = {}
    duplicates: list[str] = []
    generated: list[str] = []
    for index, raw in enumerate(drafts):
        draft = dict(raw)
        run_id = str(draft.get("id") or "")
        if not run_id:
            run_id = f"run-{index:06d}"
            draft["id"] = run_id
            generated.append(run_id)
        if run_id in by_id:
            duplicates.append(run_id)
            _merge(by_id[run_id], draft)
            continue
        by_id[run_id] = draft
        seq[run_id] = index
    _warn(notes, "duplicate_id", "Runs with the same id were merged (later records update earlier).", duplicates)
    _warn(notes, "missing_id", "Runs without an id were given positional ids.", generated)
    return by_id, seq


def _normalise_times_and_parents(by_id: dict[str, RunDraft], notes: list[TraceWarning]) -> None:
    bad_times: list[str] = []
    for rid, draft in by_id.items():
        given = (draft.get("start_time"), draft.get("end_time"))
        draft["start_time"] = _as_utc(given[0])
        draft["end_time"] = _as_utc(given[1])
        parsed = (draft["start_time"], draft["end_time"])
        if any(p is None and g not in (None, "", 0) for g, p in zip(given, parsed, strict=True)):
            bad_times.append(rid)
        parent = draft.get("parent_id")
        draft["parent_id"] = str(parent) if parent not in (None, "") else None
    _warn(notes, "bad_time", "Times that are not dates between the years 1 and 9999 were ignored.", bad_times)


def _validated_runs(by_id: dict[str, RunDraft], ordered: list[str], tid: str, notes: list[TraceWarning]) -> list[Run]:
    """Each draft, its payloads capped, as a validated Run in execution order; what capping did is said."""
    stats = PayloadStats()
    runs: list[Run] = []
    for order, rid in enumerate(ordered):
        draft = by_id[rid]
        for key in _PAYLOAD_FIELDS:
            if draft.get(key) is not None:
                draft[key] = cap_payload(draft[key], stats, rid)
        draft["order"] = order
        draft["trace_id"] = tid
        if draft.get("status") is None:
            draft["status"] = _status(draft)
        try:
            runs.append(Run.model_validate(draft))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise TraceFormatError(
                f"Run {rid!r} has an invalid field {where}: {first['msg']}.",
                hint="Fix the record or report the exporter that wrote it.",
            ) from None
    for code, count, run_ids, message in (
        ("truncated", stats.truncated, stats.truncated_runs, "very long strings keep only their head and tail."),
        ("deep", stats.deep, stats.deep_runs, f"values nested deeper than {MAX_NESTING} levels became a placeholder."),
        ("binary", stats.binary, stats.binary_runs, "base64/binary payloads were replaced by a placeholder."),
    ):
        if count:
            notes.append(TraceWarning(code=code, message=f"{count} {message}", run_ids=run_ids, count=count))
    return runs


def _status(draft: RunDraft) -> str:
    if draft.get("error"):
        return "error"
    if draft.get("start_time") is not None and draft.get("end_time") is None and draft.get("outputs") is None:
        return "pending"
    return "success"


def _time_key(draft: RunDraft, seq: int) -> tuple[float, int]:
    start = draft.get("start_time")
    return (start.timestamp() if start else float("inf"), seq)


def _choose_root(
    by_id: dict[str, RunDraft], seq: dict[str, int], trace_id: str | None, notes: list[TraceWarning]
) -> str:
    parentless = [rid for rid, d in by_id.items() if d["parent_id"] is None]
    if trace_id and trace_id in by_id:
        root = trace_id
    elif len(parentless) == 1:
        return parentless[0]
    else:
        candidates = parentless or [rid for rid, d in by_id.items() if d["parent_id"] not in by_id] or list(by_id)
        root = min(candidates, key=lambda rid: _time_key(by_id[rid], seq[rid]))
    # Every other run without a parent hangs under the root: the trace is walked from it, and a
    # run left beside it would be dropped without a word.
    others = [rid for rid in parentless if rid != root]
    for rid in others:
        by_id[rid]["parent_id"] = root
    _warn(notes, "multiple_roots", f"Several runs had no parent; {root} was taken as the root.", others)
    return root


def _break_cycles(by_id: dict[str, RunDraft], root_id: str, seq: dict[str, int], notes: list[TraceWarning]) -> None:
    done: set[str] = {root_id}
    broken: list[str] = []
    for start in sorted(by_id, key=seq.__getitem__):
        path: list[str] = []
        on_path: set[str] = set()
        node: str | None = start
        while node is not None and node not in done:
            if node in on_path:
                # `node` closes a loop: cut it loose and hang it under the root.
                broken.append(node)
                by_id[node]["metadata"] = {
                    **(by_id[node].get("metadata") or {}),
                    "cycle_parent": by_id[node]["parent_id"],
                }
                by_id[node]["parent_id"] = root_id
                break
            path.append(node)
            on_path.add(node)
            node = by_id[node]["parent_id"]
        done.update(path)
    _warn(notes, "cycle", "Parent links formed a cycle; the cycle was cut and attached to the root.", broken)


def _execution_order(by_id: dict[str, RunDraft], root_id: str, seq: dict[str, int]) -> list[str]:
    children: dict[str, list[str]] = {rid: [] for rid in by_id}
    for rid, draft in by_id.items():
        if draft["parent_id"] is not None:
            children[draft["parent_id"]].append(rid)
    ordered: list[str] = []
    stack = [root_id]
    while stack:
        rid = stack.pop()
        ordered.append(rid)
        kids = children[rid]
        if kids:
            kids.sort(key=_sibling_key(by_id, kids, seq))
            stack.extend(reversed(kids))
    return ordered


def _sibling_key(by_id: dict[str, RunDraft], siblings: list[str], seq: dict[str, int]) -> Any:
    # Siblings compare on one key only, so a run without a time cannot jump to the end.
    if all(by_id[s].get("dotted_order") for s in siblings):
        return lambda rid: (str(by_id[rid]["dotted_order"]), seq[rid])
    if all(by_id[s]["start_time"] is not None for s in siblings):
        return lambda rid: _time_key(by_id[rid], seq[rid])
    return seq.__getitem__
