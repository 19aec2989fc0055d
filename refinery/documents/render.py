"""Render a (redacted) Trace into its citable documents.

trace.md   one section per run, ``R0007``, in execution order
prompts.md one section per distinct system prompt or template, ``P01``
evals.md   what was expected: feedback, reference outputs, expectations, assertion, ``E01``
triage.md  the deterministic findings, ``F01`` (rendered by ``refinery.triage.document``)

Rendering is pure and deterministic: the same trace gives byte-identical documents.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from refinery.documents.ids import numbered, run_section
from refinery.documents.model import Document, Section, assemble_document
from refinery.documents.text import as_message, cap, compact_json, content_text, fence, render_value
from refinery.trace.model import Run, Trace
from refinery.trace.tree_view import format_duration
from refinery.words import plural

COMPACT_FIELD_CAP = 400
ERRORED_IN_FULL = 200
"""Cited or errored runs kept in full, in execution order, besides the origin's path: beyond
this many they are shortened like any other run, so thousands of failing retries still fit."""


@dataclass(frozen=True)
class RenderOptions:
    """Caps and budgets for the documents."""

    field_cap: int = 4_000
    """Characters kept per string field (head and tail) in a full section."""
    doc_budget: int = 2_000_000
    """Characters per document; low-priority sections are shortened past it."""
    expectations: str | None = None
    """Text of an expectations file (``--expectations``)."""
    expectations_name: str | None = None
    """Its file name, for the heading."""
    assertion: str | None = None
    """The failing test's assertion message."""


@dataclass(frozen=True)
class Focus:
    """Which runs trace.md must keep in full: decided by whoever judged the trace (triage), passed in."""

    keep: frozenset[str] = frozenset()
    """Run ids a finding cites: kept in full (the first ``ERRORED_IN_FULL`` of them with the errored runs)."""
    path: frozenset[str] = frozenset()
    """The origin and its ancestors: always kept in full."""
    propagated_from: Mapping[str, str] = field(default_factory=dict)
    """Run id -> the section its error propagated from; that run shows only the error's last line."""


@dataclass
class DocumentSet:
    """The four documents, in upload order."""

    documents: list[Document]
    notes: list[str] = field(default_factory=list)

    def by_name(self, name: str) -> Document:
        return next(d for d in self.documents if d.name == name)

    @property
    def section_ids(self) -> set[str]:
        return {sid for d in self.documents for sid in d.section_ids}


def document_header(title: str, lines: list[str]) -> str:
    return f"# {title}\n\n" + "".join(f"{line}  \n" for line in lines) + "\n"


# -- trace.md --------------------------------------------------------------------------------


def _run_meta(run: Run, parent_section: str) -> str:
    tokens = "—"
    if run.prompt_tokens is not None or run.completion_tokens is not None:
        tokens = f"{run.prompt_tokens or 0} in / {run.completion_tokens or 0} out"
    elif run.total_tokens is not None:
        tokens = str(run.total_tokens)
    parts = [
        f"status: {run.status}",
        f"parent: {parent_section}",
        f"duration: {format_duration(run.duration_ms)}",
        f"tokens: {tokens}",
    ]
    if run.agent:
        parts.append(f"agent: {run.agent}")
    if run.model:
        parts.append(f"model: {run.model}")
    if run.tags:
        parts.append("tags: " + ", ".join(run.tags[:8]))
    return " · ".join(parts) + f"  \nrun id: `{run.id}`"


def _run_stub(run: Run, parent_section: str) -> str:
    # Kept to one short line: a 25,000-run trace still needs one heading and stub per run.
    return f"status: {run.status} · parent: {parent_section} · duration: {format_duration(run.duration_ms)} · content elided (budget)"


# Trace-wide (the OTel resource, shown once in the header), already shown as the run's own fields,
# or the tracer's bookkeeping (LangSmith's ls_* ids, paths and methods).
_SHOWN_ELSEWHERE = frozenset(
    {
        "resource",
        "usage_metadata",
        "ls_model_name",
        "ls_provider",
        "ls_method",
        "ls_run_depth",
        "ls_app_path",
        "ls_session_id",
        "ls_reference_example_id",
        "message_index",
    }
)
OTHER_FIELDS_CAP = 1_500
"""Characters of a run's unmapped fields shown in its section (the rest is in the trace file)."""


def _run_body(
    run: Run,
    parent_section: str,
    limit: int,
    refs: dict[str, str],
    propagated_from: str | None = None,
    common: frozenset[str] | None = frozenset(),
) -> str:
    """A run's section; ``common`` are the metadata keys shown once in the header (None: no unmapped
    fields at all, as in a compact section)."""
    parts = [_run_meta(run, parent_section)]
    inputs = run.inputs
    system = run.inputs.get("system")
    if isinstance(system, str) and system in refs:
        inputs = {k: v for k, v in run.inputs.items() if k != "system"}
        parts.append(f"system prompt: {refs[system]} in prompts.md")
    if inputs:
        parts.append("**Inputs**\n\n" + fence(render_value(inputs, limit, refs)))
    if run.outputs is not None:
        parts.append("**Outputs**\n\n" + fence(render_value(run.outputs, limit, refs)))
    other = {} if common is None else {k: v for k, v in run.metadata.items() if k not in _SHOWN_ELSEWHERE | common}
    if other:
        # What the reader kept but does not model: shown, so nothing the producer wrote is invisible.
        parts.append("**Other fields**\n\n" + fence(cap(render_value(other, limit, refs), OTHER_FIELDS_CAP)))
    if run.error and propagated_from:
        # The full traceback is in the origin's section; repeating it up the chain only costs tokens.
        last = [line for line in run.error.strip().splitlines() if line.strip()][-1:] or ["error"]
        parts.append(f"**Error** (propagated from {propagated_from})\n\n" + fence(cap(last[0], limit)))
    elif run.error:
        # Errors are kept in full up to a generous cap: they are the evidence.
        parts.append("**Error**\n\n" + fence(cap(run.error, max(limit, 8_000))))
    return "\n\n".join(parts)


def _common_fields(trace: Trace) -> frozenset[str]:
    """Metadata keys with one value on every run (a revision, a session): shown once, in the header."""
    if len(trace.runs) < 2:
        return frozenset()
    candidates = dict(trace.root.metadata)
    for run in trace.runs[1:]:
        candidates = {k: v for k, v in candidates.items() if k in run.metadata and run.metadata[k] == v}
        if not candidates:
            break
    return frozenset(candidates)


def render_trace_md(trace: Trace, focus: Focus, options: RenderOptions, refs: dict[str, str]) -> Document:
    important = focus.keep
    propagated = focus.propagated_from
    sections: list[Section] = []
    root = trace.root
    # Trace.get goes through pydantic's private-attribute machinery; a plain dict is 10x faster here.
    order_of = {r.id: r.order for r in trace.runs}
    errored_seen = 0
    common = _common_fields(trace)
    for run in trace.runs:
        sid = run_section(run.order)
        parent = run_section(order_of[run.parent_id]) if run.parent_id else "—"
        evidence = run.id in focus.path
        if not evidence and (run.id in important or run.is_error) and errored_seen < ERRORED_IN_FULL:
            evidence = True
            errored_seen += 1
        priority = 0 if evidence else (1 if run.run_type in ("llm", "tool") else 2)
        sections.append(
            Section(
                id=sid,
                heading=f"{sid} · {run.run_type} · {run.name}",
                body=lambda run=run, parent=parent: _run_body(  # type: ignore[misc]
                    run, parent, options.field_cap, refs, propagated.get(run.id), common
                ),
                priority=priority,
                compact=lambda run=run, parent=parent: _run_body(  # type: ignore[misc]
                    run, parent, COMPACT_FIELD_CAP, refs, propagated.get(run.id), None
                ),
                stub=lambda run=run, parent=parent: _run_stub(run, parent),  # type: ignore[misc]
                collapse=None if evidence or run.parent_id is None else (f"{run.run_type} {run.name}", run.status),
            )
        )
    lines = [
        f"trace id: `{trace.id}` · source: {trace.source}" + (f" · project: {trace.project}" if trace.project else ""),
        f"runs: {len(trace.runs)} · errored: {len(trace.errored_runs)} · LLM tokens: {trace.total_tokens} · "
        f"duration: {format_duration(root.duration_ms)}",
        "Each section is one run in execution order; cite runs by their id (R0000 is the root).",
    ]
    if trace.url:
        lines.insert(1, f"url: {trace.url}")
    resource = root.metadata.get("resource")
    if isinstance(resource, dict) and resource:
        lines.append("resource: " + ", ".join(f"{k}={v}" for k, v in list(resource.items())[:12]))
    shared = {k: root.metadata[k] for k in sorted(common) if k in root.metadata and k not in _SHOWN_ELSEWHERE}
    if shared:
        lines.append("on every run: " + cap(", ".join(f"{k}={v}" for k, v in shared.items()), OTHER_FIELDS_CAP))
    for warning in trace.warnings:
        lines.append(f"warning ({warning.code}): {warning.message} [{warning.count}]")
    return assemble_document("trace.md", "trace", document_header("Trace", lines), sections, options.doc_budget)


# -- prompts.md ------------------------------------------------------------------------------


def _system_texts(run: Run) -> list[tuple[str, str]]:
    """(kind, text) of every system prompt or template the run used."""
    found: list[tuple[str, str]] = []
    system = run.inputs.get("system")
    if isinstance(system, str) and system.strip():
        found.append(("system prompt", system))
    elif isinstance(system, list):
        found.append(("system prompt", content_text(system, 10**9)))
    for key in ("messages", "input", "prompt"):
        value = run.inputs.get(key)
        batch = value[0] if isinstance(value, list) and value and isinstance(value[0], list) else value
        if isinstance(batch, list):
            for item in batch:
                message = as_message(item)
                if message and message.get("role") in ("system", "developer"):
                    found.append((f"{message['role']} prompt", content_text(message.get("content"), 10**9)))
    template = run.metadata.get("llm.prompt_template.template") or run.inputs.get("template")
    if isinstance(template, str) and template.strip():
        found.append(("prompt template", template))
    if run.run_type == "prompt" and run.outputs:
        found.append(("rendered prompt", render_value(run.outputs, 10**9)))
    return found


def collect_prompts(trace: Trace) -> dict[str, tuple[str, list[Run]]]:
    """Distinct prompt text -> (kind, runs that used it), in order of first use."""
    by_text: dict[str, tuple[str, list[Run]]] = {}
    for run in trace.runs:
        if run.run_type not in ("llm", "agent", "prompt", "chain"):
            continue
        for kind, text in _system_texts(run):
            entry = by_text.setdefault(text, (kind, []))
            if not entry[1] or entry[1][-1] is not run:
                entry[1].append(run)
    return by_text


def prompt_refs(by_text: dict[str, tuple[str, list[Run]]]) -> dict[str, str]:
    """Prompt text -> its section id in prompts.md."""
    return {text: numbered("P", index) for index, text in enumerate(by_text, start=1)}


def render_prompts_md(by_text: dict[str, tuple[str, list[Run]]], options: RenderOptions) -> Document:
    sections = []
    for index, (text, (kind, runs)) in enumerate(by_text.items(), start=1):
        sid = numbered("P", index)
        used = ", ".join(run_section(r.order) for r in runs[:30]) + (
            f" and {len(runs) - 30} more" if len(runs) > 30 else ""
        )
        agents = sorted({r.agent for r in runs if r.agent})
        meta = f"used by {plural(len(runs), 'run')}: {used}" + (f"  \nagents: {', '.join(agents)}" if agents else "")
        digest = hashlib.sha256(text.encode()).hexdigest()[:12]
        sections.append(
            Section(
                id=sid,
                heading=f"{sid} · {kind} · used by {plural(len(runs), 'run')}",
                body=f"{meta}  \nsha256: {digest}\n\n" + fence(cap(text, max(options.field_cap, 16_000))),
                priority=0,
                stub=f"{meta}  \n[prompt text elided to fit the document budget]",
            )
        )
    lines = ["Each distinct system prompt or prompt template used by the trace's model calls, shown once."]
    if not sections:
        lines.append("No system prompt or template was recorded in this trace.")
    return assemble_document("prompts.md", "prompts", document_header("Prompts", lines), sections, options.doc_budget)


# -- evals.md --------------------------------------------------------------------------------


def render_evals_md(trace: Trace, options: RenderOptions) -> Document:
    sections: list[Section] = []
    root_section = run_section(trace.root.order)

    def add(heading: str, body: str) -> None:
        sid = numbered("E", len(sections) + 1)
        sections.append(Section(id=sid, heading=f"{sid} · {heading}", body=body, priority=0))

    for item in trace.feedback:
        score = "—" if item.score is None else f"{item.score:g}"
        target = root_section
        if item.run_id and item.run_id != trace.root.id:
            try:
                target = run_section(trace.get(item.run_id).order)
            except KeyError:
                target = f"run `{item.run_id}`"
        lines = [f"key: {item.key} · score: {score} · source: {item.source or '—'} · on: {target}"]
        if item.value is not None:
            lines.append(f"value: {cap(compact_json(item.value), options.field_cap)}")
        body = "  \n".join(lines)
        if item.comment:
            body += "\n\n" + fence(cap(item.comment, options.field_cap))
        add(f"feedback · {item.key} = {score}", body)
    if trace.reference_outputs is not None:
        add("reference outputs", fence(render_value(trace.reference_outputs, options.field_cap)))
    inputs = trace.metadata.get("example_inputs")
    if inputs is not None:
        add("dataset example inputs", fence(render_value(inputs, options.field_cap)))
    if options.expectations:
        add(f"expectations · {options.expectations_name or 'file'}", fence(cap(options.expectations, 32_000)))
    if options.assertion:
        add("failing assertion", fence(cap(options.assertion, options.field_cap)))
    question = trace.metadata.get("question")
    if isinstance(question, str):
        add("task", fence(cap(question, options.field_cap)))
    add(f"final output ({root_section})", fence(render_value(trace.root.outputs, options.field_cap)))
    lines = ["What the run was expected to do, and how it was judged. Compare with the final output."]
    if len(sections) == 1:
        lines.append("No evaluator feedback, reference output, expectations or assertion were provided.")
    return assemble_document(
        "evals.md", "evals", document_header("Expectations and evals", lines), sections, options.doc_budget
    )


def render_documents(
    trace: Trace,
    options: RenderOptions | None = None,
    *,
    focus: Focus | None = None,
    extra: Sequence[Document] = (),
) -> DocumentSet:
    """trace.md, prompts.md and evals.md for ``trace`` (already redacted), then ``extra`` (triage.md)."""
    options = options or RenderOptions()
    prompts = collect_prompts(trace)
    documents = [
        render_trace_md(trace, focus or Focus(), options, prompt_refs(prompts)),
        render_prompts_md(prompts, options),
        render_evals_md(trace, options),
        *extra,
    ]
    return DocumentSet(documents=documents, notes=[n for d in documents for n in d.notes])


def documents_manifest(documents: DocumentSet) -> list[dict[str, Any]]:
    """Name, kind, size and section count of each document."""
    return [
        {"name": d.name, "kind": d.kind, "chars": d.chars, "sections": len(d.section_ids)} for d in documents.documents
    ]
