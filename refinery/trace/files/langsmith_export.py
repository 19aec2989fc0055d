"""LangSmith runs: the API's run objects, exports as a JSON list, nested ``child_runs``, or JSONL.

``draft_from_langsmith`` is also what the API adapter uses, so a fetched trace and an
exported one normalize the same way.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from refinery.trace.assemble import RunDraft, assemble_trace
from refinery.trace.model import Feedback, Trace, TraceWarning, score_of

# Streaming noise: one event per token adds nothing to a diagnosis.
_DROPPED_EVENTS = {"new_token"}


def _first(*values: Any) -> Any:
    for value in values:
        if value not in (None, ""):
            return value
    return None


def _usage(outputs: dict[str, Any] | None, metadata: dict[str, Any]) -> dict[str, Any]:
    """Token usage from where LangChain and the SDK wrappers put it."""
    if not isinstance(outputs, dict):
        outputs = {}
    usage = outputs.get("usage_metadata") or metadata.get("usage_metadata") or {}
    llm_output = outputs.get("llm_output") or {}
    token_usage = (llm_output.get("token_usage") if isinstance(llm_output, dict) else None) or {}
    if not isinstance(usage, dict):
        usage = {}
    return {
        "prompt_tokens": _first(usage.get("input_tokens"), token_usage.get("prompt_tokens")),
        "completion_tokens": _first(usage.get("output_tokens"), token_usage.get("completion_tokens")),
        "total_tokens": _first(usage.get("total_tokens"), token_usage.get("total_tokens")),
    }


def draft_from_langsmith(run: dict[str, Any]) -> RunDraft:
    """Map one LangSmith run dict (API, SDK or export) to a RunDraft."""
    extra = run.get("extra") or {}
    metadata = dict(extra.get("metadata") or {})
    invocation = extra.get("invocation_params") or {}
    outputs = run.get("outputs")
    usage = _usage(outputs, metadata)
    events = [e for e in (run.get("events") or []) if isinstance(e, dict) and e.get("name") not in _DROPPED_EVENTS]
    for key in ("reference_example_id", "session_id", "app_path"):
        if run.get(key):
            metadata.setdefault(f"ls_{key}", str(run[key]))
    if invocation:
        metadata.setdefault("invocation_params", invocation)
    status = run.get("status")
    return {
        "id": str(run.get("id") or ""),
        "parent_id": _first(run.get("parent_run_id"), run.get("parent_id")),
        "trace_id": str(run.get("trace_id") or ""),
        "dotted_order": run.get("dotted_order"),
        "name": str(run.get("name") or run.get("run_type") or "run"),
        "run_type": str(run.get("run_type") or "chain"),
        "inputs": run.get("inputs") or {},
        "outputs": outputs if isinstance(outputs, dict) or outputs is None else {"output": outputs},
        "error": run.get("error"),
        "start_time": run.get("start_time"),
        "end_time": run.get("end_time"),
        "prompt_tokens": _first(run.get("prompt_tokens"), usage["prompt_tokens"]),
        "completion_tokens": _first(run.get("completion_tokens"), usage["completion_tokens"]),
        "total_tokens": _first(run.get("total_tokens"), usage["total_tokens"]),
        "cost": _first(run.get("total_cost")),
        "model": _first(metadata.get("ls_model_name"), invocation.get("model"), invocation.get("model_name")),
        "agent": _first(metadata.get("agent"), metadata.get("langgraph_node")),
        "tags": list(run.get("tags") or []),
        "metadata": metadata,
        "events": events,
        "status": {"success": "success", "error": "error", "pending": "pending"}.get(str(status)) if status else None,
    }


def feedback_from_langsmith(item: dict[str, Any]) -> Feedback:
    """Map one LangSmith feedback dict to Feedback."""
    score, invalid = score_of(item.get("score"))
    source = item.get("feedback_source") or {}
    return Feedback(
        key=str(item.get("key") or "unnamed"),
        score=score,
        invalid_score=invalid,
        value=item.get("value"),
        comment=item.get("comment"),
        source=(source.get("type") if isinstance(source, dict) else None) or item.get("source"),
        run_id=str(item["run_id"]) if item.get("run_id") else None,
    )


def _stats_feedback(run: dict[str, Any]) -> list[Feedback]:
    """A root run's ``feedback_stats`` as Feedback (the mean score per key), when no feedback came with it."""
    if run.get("parent_run_id") or not isinstance(run.get("feedback_stats"), dict):
        return []
    out = []
    for key, stats in run["feedback_stats"].items():
        if not isinstance(stats, dict) or "avg" not in stats:
            continue
        score, invalid = score_of(stats.get("avg"))
        if score is not None or invalid is not None:
            out.append(
                Feedback(
                    key=str(key), score=score, invalid_score=invalid, source="feedback_stats", run_id=str(run.get("id"))
                )
            )
    return out


def _flatten(runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Unnest ``child_runs`` (iteratively: deep agent loops exceed Python's recursion limit)."""
    flat: list[dict[str, Any]] = []
    stack: list[tuple[dict[str, Any], str | None]] = [(r, None) for r in reversed(runs)]
    while stack:
        run, parent = stack.pop()
        children = run.get("child_runs") or []
        record = dict(run)  # its child_runs stay: the mapping reads none of them
        if parent is not None and not record.get("parent_run_id"):
            record["parent_run_id"] = parent
        flat.append(record)
        stack.extend((c, str(record.get("id"))) for c in reversed(children) if isinstance(c, dict))
    return flat


def load_langsmith(data: Any) -> list[Trace]:
    """Traces from LangSmith run records; records of several traces give several Traces."""
    feedback_items: list[dict[str, Any]] = []
    example: dict[str, Any] | None = None
    if isinstance(data, dict) and isinstance(data.get("runs"), list):
        feedback_items = [f for f in data.get("feedback") or [] if isinstance(f, dict)]
        example = data.get("example") if isinstance(data.get("example"), dict) else None
        runs = data["runs"]
    elif isinstance(data, dict):
        runs = [data]
    else:
        runs = list(data)
    flat = _flatten([r for r in runs if isinstance(r, dict)])
    skipped = len(runs) - sum(1 for r in runs if isinstance(r, dict))

    groups: dict[str, list[RunDraft]] = defaultdict(list)
    for record in flat:
        draft = draft_from_langsmith(record)
        groups[draft["trace_id"] or "_"].append(draft)
    if "_" in groups and len(groups) > 1:
        # Records without a trace id join the largest trace rather than vanish.
        biggest = max((k for k in groups if k != "_"), key=lambda k: len(groups[k]))
        groups[biggest].extend(groups.pop("_"))

    traces = []
    for trace_id, drafts in groups.items():
        warnings = []
        if skipped:
            warnings.append(
                TraceWarning(
                    code="skipped_record", message=f"{skipped} non-object records were ignored.", count=skipped
                )
            )
        tid = None if trace_id == "_" else trace_id
        root_ids = {d["id"] for d in drafts}
        feedback = [
            feedback_from_langsmith(f) for f in feedback_items if str(f.get("run_id")) in root_ids or len(groups) == 1
        ]
        if not feedback:  # an experiment's export carries each root's scores as feedback_stats
            feedback = [item for r in flat if str(r.get("id")) in root_ids for item in _stats_feedback(r)]
        trace = assemble_trace(
            drafts,
            source="file:langsmith",
            trace_id=tid,
            feedback=feedback,
            warnings=warnings,
            reference_outputs=(example or {}).get("outputs"),
        )
        traces.append(trace)
    return traces
