"""A Mermaid flowchart of the run tree with the failing path highlighted.

GitHub renders Mermaid in comments and job summaries, but large diagrams fail to render,
so the tree is pruned: the root, the path to the origin, the paths to errored runs and
to findings, and the root's first steps; siblings left out are folded into one
``… N more runs`` node per parent.
"""

from __future__ import annotations

import re
from collections import defaultdict

from refinery.documents.ids import run_section
from refinery.trace.model import Trace
from refinery.triage.model import TriageReport

MAX_NODES = 60
SMALL_TRACE = 30
_UNSAFE = re.compile(r"[^A-Za-z0-9 _.,:/()+\-@#]")


def _label(text: str, limit: int = 40) -> str:
    text = _UNSAFE.sub(" ", text).strip()
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render_mermaid(trace: Trace, triage: TriageReport) -> str:
    """Mermaid source (without the surrounding code fence)."""
    origin_path: set[str] = set()
    if triage.stated_origin:
        origin_path = {r.id for r in trace.path(triage.stated_origin.run_id)}
    wanted: list[str] = [trace.root.id, *sorted(origin_path, key=lambda rid: trace.get(rid).order)]
    for run in trace.errored_runs:
        wanted.extend(r.id for r in trace.path(run.id))
    for finding in triage.findings[:10]:
        if finding.run_id:
            wanted.extend(r.id for r in trace.path(finding.run_id))
    wanted.extend(r.id for r in trace.children(trace.root.id)[:12])
    if len(trace.runs) <= SMALL_TRACE:
        wanted.extend(r.id for r in trace.runs)

    included: list[str] = []
    seen: set[str] = set()
    for rid in wanted:
        if rid not in seen and len(included) < MAX_NODES:
            # A node is only drawn with its parent, so the diagram stays a tree.
            parent = trace.get(rid).parent_id
            if parent is None or parent in seen:
                seen.add(rid)
                included.append(rid)
    included.sort(key=lambda rid: trace.get(rid).order)

    lines = ["flowchart TD"]
    edges: list[tuple[str, str, bool]] = []
    hidden_children: dict[str, int] = defaultdict(int)
    for run in trace.runs:
        if run.id not in seen and run.parent_id in seen:
            hidden_children[run.parent_id] += 1
    for rid in included:
        run = trace.get(rid)
        sid = run_section(run.order)
        status = "error" if run.is_error else run.status
        agent = f" @{run.agent}" if run.agent and run.agent != run.name else ""
        lines.append(f'  {sid}["{sid} {_label(run.name)}{_label(agent, 24)}<br/>{run.run_type} · {status}"]')
        if run.parent_id is not None:
            parent_sid = run_section(trace.get(run.parent_id).order)
            edges.append((parent_sid, sid, rid in origin_path and run.parent_id in origin_path))
    for parent_id, count in sorted(hidden_children.items(), key=lambda kv: trace.get(kv[0]).order):
        parent_sid = run_section(trace.get(parent_id).order)
        noun = "run" if count == 1 else "runs"
        lines.append(f'  {parent_sid}_more(["… {count} more {noun}"])')
        edges.append((parent_sid, f"{parent_sid}_more", False))
    for src, dst, _ in edges:
        lines.append(f"  {src} --> {dst}")
    lines.append("  classDef error fill:#fde2e1,stroke:#cf222e,color:#1f2328")
    lines.append("  classDef origin fill:#ffb3b0,stroke:#82071e,stroke-width:3px,color:#1f2328")
    errored = [run_section(trace.get(rid).order) for rid in included if trace.get(rid).is_error]
    if errored:
        lines.append(f"  class {','.join(errored)} error")
    if triage.stated_origin and triage.stated_origin.run_id in seen:
        lines.append(f"  class {triage.stated_origin.section} origin")
    hot = [str(i) for i, (_, _, on_path) in enumerate(edges) if on_path]
    if hot:
        lines.append(f"  linkStyle {','.join(hot)} stroke:#cf222e,stroke-width:3px")
    return "\n".join(lines)
