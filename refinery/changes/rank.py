"""Rank a pull request's hunks against the failure, deterministically and without a model.

A hunk is *used* when it touches something the trace used: a line of a system prompt the
trace carries (matched line by line, fuzzily, on its removed or added side), a tool the
trace called or was offered (its name, or a line of its description), the model or its
parameters (in a config file), or the eval file. The score weighs that, then how much the
hunk's removed and added words overlap the failure: the origin step, the divergence from
the passing run, the failing feedback's comment, the expectations. Each suspect carries
its score in words. A hunk that touches nothing the trace used still ranks, lower.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from refinery.changes.model import ChangeSet, Hunk, Suspect
from refinery.compare.model import Comparison
from refinery.compare.steps import offered_tools
from refinery.documents.render import collect_prompts, prompt_refs
from refinery.trace.model import Trace
from refinery.triage.model import TriageReport

THRESHOLD = 0.55
"""A suspect is claimed in the comment only at or above this score."""
PROMPT_MATCH = 0.82
"""How alike a changed line and a prompt line must be (difflib ratio) to be the same line."""
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]{2,}")
_STOP = {
    "the", "and", "for", "you", "your", "with", "that", "this", "are", "not", "from", "was", "but", "have", "has",
    "any", "all", "can", "use", "when", "then", "than", "into", "its", "will", "must", "should", "always", "never",
    "true", "false", "none", "null", "return", "def", "self", "import", "const", "let", "var", "function",
}  # fmt: skip
_CONFIG = re.compile(r"\.(ya?ml|json|toml|ini|cfg|env|py|ts|js)$|(^|/)\.env")
_PARAMETERS = ("temperature", "top_p", "max_tokens", "max_output_tokens", "reasoning_effort", "seed", "model")
WEIGHT = {"prompt": 0.5, "tool": 0.4, "model": 0.35, "eval": 0.25}
OVERLAP_WEIGHT = 0.5
REMOVED_BONUS = 0.1
"""A removed line of a used prompt: what the agent was told and no longer is."""


def _stem(word: str) -> str:
    """Enough stemming that "confirming", "confirmed" and "confirm" meet; nothing cleverer."""
    for suffix in ("ing", "ed", "es", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _words(text: str) -> set[str]:
    return {_stem(w.lower()) for w in _WORD.findall(text) if w.lower() not in _STOP}


def _normal(line: str) -> str:
    return " ".join(line.strip().strip("\"'`,;").split()).lower()


@dataclass
class Usage:
    """What the trace used, indexed for matching many hunks quickly."""

    prompt_lines: dict[str, str] = field(default_factory=dict)
    """Normalized prompt line -> its prompt's section (P01)."""
    prompt_words: dict[str, set[str]] = field(default_factory=dict)
    """A word -> the normalized prompt lines holding it (candidates for the fuzzy match)."""
    prompt_texts: dict[str, str] = field(default_factory=dict)
    """Prompt section -> its whole text, normalized: a changed sentence may be part of one long line."""
    tools: set[str] = field(default_factory=set)
    tool_text: dict[str, str] = field(default_factory=dict)
    """Normalized line of a tool's description -> the tool."""
    models: set[str] = field(default_factory=set)
    eval_files: set[str] = field(default_factory=set)
    failure_words: dict[str, set[str]] = field(default_factory=dict)
    """What the failure says, by where it says it: origin, divergence, feedback, expectations."""


def trace_usage(trace: Trace, triage: TriageReport, comparison: Comparison | None = None) -> Usage:
    usage = Usage()
    prompts = collect_prompts(trace)
    for text, ref in prompt_refs(prompts).items():
        usage.prompt_texts[ref] = _normal(text)
        for line in text.splitlines():
            normal = _normal(line)
            if len(normal) >= 12:
                usage.prompt_lines.setdefault(normal, ref)
                for word in _words(normal):
                    usage.prompt_words.setdefault(word, set()).add(normal)
    for run in trace.runs:
        if run.run_type == "tool":
            usage.tools.add(run.name)
        if run.run_type == "llm" and run.model:
            usage.models.add(run.model)
    for name, description in offered_tools(trace).items():
        usage.tools.add(name)
        for line in description.splitlines():
            if len(_normal(line)) >= 12:
                usage.tool_text[_normal(line)] = name
    for source in (trace.metadata, trace.root.metadata):
        for key in ("test_file", "eval_file", "ls_test_file", "test_path", "eval_path", "file"):
            value = source.get(key)
            if isinstance(value, str) and value:
                usage.eval_files.add(value.split("::", 1)[0].lstrip("./"))
    words = usage.failure_words
    if triage.origin is not None:
        finding = next((f for f in triage.findings if f.id == triage.origin.finding_id), None)
        words["origin"] = _words(f"{triage.origin.name} {finding.evidence if finding else ''}")
    if comparison is not None and comparison.divergence is not None:
        words["divergence"] = _words(comparison.divergence.detail)
    feedback = " ".join(f"{f.key} {f.comment or ''}" for f in trace.feedback if f.score is not None and f.score < 1)
    if feedback.strip():
        words["feedback"] = _words(feedback)
    if trace.reference_outputs:
        words["expectations"] = _words(str(trace.reference_outputs))
    return usage


def _prompt_hits(lines: list[str], usage: Usage) -> list[tuple[str, str]]:
    """(prompt section, the changed line) for each changed line that is a line of a used prompt."""
    hits = []
    for line in lines:
        normal = _normal(line)
        if len(normal) < 12:
            continue
        ref = usage.prompt_lines.get(normal)
        if ref is None:
            candidates = {c for w in _words(normal) for c in usage.prompt_words.get(w, ())}
            best = max(candidates, key=lambda c: SequenceMatcher(None, normal, c, autojunk=False).ratio(), default=None)
            if best is not None and SequenceMatcher(None, normal, best, autojunk=False).ratio() >= PROMPT_MATCH:
                ref = usage.prompt_lines[best]
        if ref is None and len(normal) >= 20:
            # A prompt kept as one long line (a string in code) holds the changed line as a part.
            ref = next((r for r, whole in usage.prompt_texts.items() if normal in whole), None)
        if ref is not None:
            hits.append((ref, line.strip()))
    return hits


def _reworded(line: str, added: list[str]) -> bool:
    """A removed line that an added line restates (a rewording, not a rule taken out)."""
    normal = _normal(line)
    return any(SequenceMatcher(None, normal, _normal(a), autojunk=False).ratio() >= 0.6 for a in added)


def _score(hunk: Hunk, usage: Usage) -> Suspect:
    used: list[str] = []
    reasons: list[str] = []
    weight = 0.0
    # The prompt the trace carries is the one after the change: a removed line is not in it, but the
    # lines around it (or the lines added) are.
    hits = _prompt_hits(hunk.removed + hunk.added + hunk.context, usage)
    if hits:
        refs = sorted({ref for ref, _ in hits})
        used += [f"system prompt {ref}" for ref in refs]
        dropped = [r for r in hunk.removed if len(_normal(r)) >= 12 and not _reworded(r, hunk.added)]
        weight = max(weight, WEIGHT["prompt"] + (REMOVED_BONUS if dropped else 0.0))
        if dropped and not hunk.added:
            what = f"removed {len(dropped)} line{'s' if len(dropped) > 1 else ''} from"
        elif dropped:
            what = "removed and added lines in"
        else:
            what = "reworded or added lines in" if hunk.removed else "added lines to"
        reasons.append(f"{what} the prompt the trace used ({', '.join(refs)})")
    changed_text = "\n".join(hunk.removed + hunk.added)
    tokens = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", changed_text))
    tools = sorted(usage.tools & tokens) + sorted(
        {usage.tool_text[_normal(line)] for line in hunk.removed + hunk.added if _normal(line) in usage.tool_text}
    )
    if tools:
        used += [f"tool {t}" for t in dict.fromkeys(tools)]
        weight = max(weight, WEIGHT["tool"])
        reasons.append(f"touches the tool {', '.join(dict.fromkeys(tools))} the trace used")
    if _CONFIG.search(hunk.path) and (
        any(m in changed_text for m in usage.models) or any(p in tokens for p in _PARAMETERS)
    ):
        used.append("model")
        weight = max(weight, WEIGHT["model"])
        reasons.append("changes the model or its parameters")
    if any(hunk.path == f or hunk.path.endswith("/" + f) for f in usage.eval_files):
        used.append("eval file")
        weight = max(weight, WEIGHT["eval"])
        reasons.append("changes the eval file")
    changed_words = _words(changed_text)
    overlaps = {where: changed_words & words for where, words in usage.failure_words.items() if words}
    best = max((len(o) / max(1, min(len(usage.failure_words[w]), 12)) for w, o in overlaps.items()), default=0.0)
    overlap = min(1.0, best)
    shared = sorted({w for o in overlaps.values() for w in o})
    if shared:
        where = ", ".join(w for w, o in overlaps.items() if o)
        reasons.append(f"its words overlap the failure's {where} ({', '.join(shared[:6])})")
    if not used:
        reasons.insert(0, "touches nothing the trace used")
    score = round(min(1.0, weight + OVERLAP_WEIGHT * overlap * (1.0 if used else 0.5)), 3)
    return Suspect(
        change_id=hunk.change_id,
        path=hunk.path,
        start_line=hunk.start_line,
        end_line=hunk.end_line,
        score=score,
        reason="; ".join(reasons),
        used=used,
        removed=[line.strip() for line in hunk.removed if line.strip()][:3],
        added=[line.strip() for line in hunk.added if line.strip()][:3],
    )


def rank_changes(changes: ChangeSet, usage: Usage) -> list[Suspect]:
    """Every hunk as a suspect, best first (ties in diff order)."""
    suspects = [_score(hunk, usage) for hunk in changes.hunks]
    order = {h.change_id: i for i, h in enumerate(changes.hunks)}
    return sorted(suspects, key=lambda s: (-s.score, order[s.change_id]))
