"""Rank a pull request's hunks against the failure, by evidence, deterministically and without a model.

A hunk is *used* when it touches something the trace used: a line of a system prompt the trace
carries (matched line by line, fuzzily, on its removed, added or surrounding lines), a tool the
trace called or was offered, the model or its parameters (in a config file), or the eval file.
Being used is context, not evidence. The evidence is the failure's own words, never Refinery's:

- **the action that went wrong**: the words of the origin's tool and of the calls where the run
  departed from its passing run or its expected actions (``exchange``, ``delivered``);
- **the values it got wrong**: the arguments that differed, and the words of the error it hit;
- **what the evaluator said**: its comment on the failing score;
- **what was expected**: the reference outputs (for code and eval files only: every rule of a
  policy shares some words with a task's expected values).

A word counts by how specific it is to one place in the prompt: a word most of the prompt's lines
share (``order`` in a retail policy) says nothing about which rule mattered. A changed prompt line
whose content matches none of it touches the prompt and is still not evidence. The score's bands
(``likely``, ``possible``) have thresholds learned on labelled cases (``calibration.json``, written by
``python -m benchmarks attribution --calibrate``); below them nothing is claimed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from functools import cache
from importlib import resources
from typing import Any

from refinery.changes.model import Band, ChangeSet, Hunk, Suspect
from refinery.changes.words import WORD, stem, surface_words, words_of
from refinery.compare.diverge import argument_change
from refinery.compare.expected import compare_expected
from refinery.compare.model import Comparison, Difference
from refinery.compare.steps import is_read_name, offered_tools
from refinery.documents.render import collect_prompts, prompt_refs
from refinery.trace.model import Run, Trace
from refinery.trace.roles import Roles
from refinery.triage.model import TriageReport

PROMPT_MATCH = 0.82
"""How alike a changed line and a prompt line must be (difflib ratio) to be the same line."""
COMMON = 0.3
"""A word in this share of the prompt's lines (or more) is not specific to any rule."""
_CONFIG = re.compile(r"\.(ya?ml|json|toml|ini|cfg|env|py|ts|js)$|(^|/)\.env")
_PARAMETERS = ("temperature", "top_p", "max_tokens", "max_output_tokens", "reasoning_effort", "seed", "model")
BASE = {"prompt": 0.15, "tool": 0.3, "model": 0.25, "eval": 0.2, "none": 0.0}
"""What touching each kind of thing the trace used is worth before any evidence."""
EVIDENCE = {"action": 0.45, "value": 0.2, "said": 0.35, "expected": 0.2}
REMOVED_BONUS = 0.1
"""A rule taken out (removed, not reworded) whose content is evidence: what the agent is no longer told."""


@dataclass
class Usage:
    """What the trace used, and the failure's own words, indexed for matching many hunks quickly."""

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
    action: set[str] = field(default_factory=set)
    """Words of the action that went wrong (its tool's name, the departed calls' names)."""
    verbs: set[str] = field(default_factory=set)
    """The verbs of those actions (``exchange`` of ``exchange_delivered_order_items``)."""
    other_verbs: set[str] = field(default_factory=set)
    """The verbs of the other state-changing tools the trace used or was offered."""
    values: set[str] = field(default_factory=set)
    """Words of the values it got wrong (differing arguments, the error it hit)."""
    said: set[str] = field(default_factory=set)
    """Words of what an evaluator said went wrong (its comment on a failing score)."""
    expected: set[str] = field(default_factory=set)
    """Words of what was expected (the reference outputs)."""
    commonness: dict[str, float] = field(default_factory=dict)
    """A word -> the share of the prompt's lines holding it."""

    def weight(self, word: str) -> float:
        """How specific ``word`` is: 1 for a word of few prompt lines, 0 from ``COMMON`` of them up."""
        return max(0.0, 1.0 - self.commonness.get(word, 0.0) / COMMON)


def _normal(line: str) -> str:
    return " ".join(line.strip().strip("\"'`,;").split()).lower()


def _index_prompts(trace: Trace, usage: Usage) -> None:
    lines_seen = 0
    counts: dict[str, int] = {}
    for text, ref in prompt_refs(collect_prompts(trace)).items():
        usage.prompt_texts[ref] = _normal(text)
        for line in text.splitlines():
            normal = _normal(line)
            if len(normal) < 12:
                continue
            lines_seen += 1
            usage.prompt_lines.setdefault(normal, ref)
            for word in words_of(normal):
                usage.prompt_words.setdefault(word, set()).add(normal)
                counts[word] = counts.get(word, 0) + 1
    usage.commonness = {w: n / lines_seen for w, n in counts.items()} if lines_seen else {}


def _values(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)


def _add_action(name: str, usage: Usage) -> None:
    usage.action |= words_of(name.replace("_", " "))
    usage.verbs |= words_of(name.split("_", 1)[0])


def _departure_words(difference: Difference, usage: Usage) -> None:
    """The calls where the run departed: their names are the action, their differing values what it got wrong."""
    for ref in (difference.failing, difference.baseline):
        if ref is not None:
            _add_action(ref.label.split("(", 1)[0], usage)
    if difference.kind == "different_arguments" and difference.failing and difference.baseline:
        name = difference.failing.label.split("(", 1)[0]
        change = argument_change(
            difference.failing.label[len(name) + 1 : -1], difference.baseline.label[len(name) + 1 : -1]
        )
        if change is not None:
            usage.values |= words_of(f"{change[0]} {change[1]}".replace("_", " "))


def _failure_words(trace: Trace, triage: TriageReport, comparison: Comparison | None, usage: Usage) -> None:
    """The failure in its own words: the trace's names, arguments, errors and expectations, never a
    sentence Refinery wrote, and never a failure the run recovered from."""
    origin = triage.origin
    if origin is not None:
        for section in (origin.section, origin.symptom_section):
            run = next((r for r in trace.runs if f"R{r.order:04d}" == section), None) if section else None
            if run is not None and run.run_type in ("tool", "retriever"):
                _add_action(run.name, usage)
                usage.values |= words_of(run.error or "") | words_of(_error_output(run))
    departures = list(comparison.differences[:1]) if comparison is not None else []
    expected = compare_expected(trace, Roles.of(trace))
    if expected is not None:
        departures += expected.differences[:1]
    for difference in departures:
        _departure_words(difference, usage)
    tools = {r.name for r in trace.runs if r.run_type == "tool"} | set(offered_tools(trace))
    usage.other_verbs = {v for t in tools if not is_read_name(t) for v in words_of(t.split("_", 1)[0])} - usage.verbs
    for item in trace.feedback:
        if item.comment and not item.composed and item.score is not None and item.score < 1:
            usage.said |= words_of(item.comment)
    for key, value in (trace.reference_outputs or {}).items():
        if key != "actions":  # the expected actions speak through the departure above
            usage.expected |= words_of(_values(value).replace("_", " "))


def _error_output(run: Run) -> str:
    """A tool's output when it reports a failure (``Error: …``): the trace's own words for what went wrong."""
    text = _values((run.outputs or {}).get("output", ""))
    return text[:500] if text.lower().lstrip().startswith(("error", "exception")) else ""


def trace_usage(trace: Trace, triage: TriageReport, comparison: Comparison | None = None) -> Usage:
    usage = Usage()
    _index_prompts(trace, usage)
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
    _failure_words(trace, triage, comparison, usage)
    return usage


def _closest_line(normal: str, candidates: set[str]) -> str | None:
    """The prompt line most like ``normal``, if one is alike enough (``PROMPT_MATCH``); the first in
    sorted order on a tie. A candidate whose cheap upper bounds cannot reach the best so far is skipped:
    the full comparison is the costly part, and most lines share a word and little else."""
    best, best_ratio = None, PROMPT_MATCH
    for candidate in sorted(candidates):
        # difflib's real_quick_ratio, before building a matcher: lines of too unlike lengths.
        if 2 * min(len(normal), len(candidate)) < best_ratio * (len(normal) + len(candidate)):
            continue
        matcher = SequenceMatcher(None, normal, candidate, autojunk=False)
        if matcher.quick_ratio() < best_ratio:
            continue
        ratio = matcher.ratio()
        if ratio >= best_ratio and (best is None or ratio > best_ratio):
            best, best_ratio = candidate, ratio
    return best


def _prompt_hits(lines: list[str], usage: Usage) -> list[tuple[str, str]]:
    """(prompt section, the changed line) for each changed line that is a line of a used prompt."""
    hits = []
    for line in lines:
        normal = _normal(line)
        if len(normal) < 12:
            continue
        ref = usage.prompt_lines.get(normal)
        if ref is None:
            best = _closest_line(normal, {c for w in words_of(normal) for c in usage.prompt_words.get(w, ())})
            ref = usage.prompt_lines[best] if best is not None else None
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


@dataclass
class _Match:
    """The failure's words a hunk's changed lines hold, and how strongly, by kind of evidence."""

    strength: dict[str, float] = field(default_factory=dict)
    lines: dict[str, str] = field(default_factory=dict)

    def total(self, kinds: tuple[str, ...]) -> float:
        return sum(self.strength.get(k, 0.0) for k in kinds)

    def said(self, kinds: tuple[str, ...]) -> list[str]:
        return [self.lines[k] for k in kinds if k in self.lines]


_LABEL = {
    "action": "the action that went wrong",
    "value": "what it got wrong",
    "said": "what the evaluator said went wrong",
    "expected": "what was expected",
}


def _match(changed: set[str], usage: Usage, surface: dict[str, str] | None = None) -> _Match:
    """What of the failure ``changed`` (stemmed words) names; ``surface`` gives each stem's word as written."""
    match = _Match()
    surface = surface or {}
    # A rule names the action it governs by its verb: one about exchanging is not about returning,
    # however many nouns ("delivered order items") the two share.
    another = bool(changed & usage.other_verbs) and not changed & usage.verbs
    pairs = (("action", usage.action), ("value", usage.values), ("said", usage.said), ("expected", usage.expected))
    for kind, words in pairs:
        if another and kind in ("action", "value"):
            continue
        shared = sorted(w for w in changed & words if usage.weight(w) > 0 or w in usage.verbs)
        # The verb is what makes a rule about this action, but only beside what the action acts on:
        # "when enabled" alone is about enabling something, not about enabling roaming.
        if kind == "action" and not set(shared) - usage.verbs:
            continue
        if shared:
            specific = sum(1.0 if w in usage.verbs else usage.weight(w) for w in shared)
            match.strength[kind] = EVIDENCE[kind] * min(1.0, specific / 2)
            said = sorted({surface.get(w, w) for w in shared})
            match.lines[kind] = f"names {_LABEL[kind]}: {', '.join(said[:5])}"
    return match


def _used(hunk: Hunk, usage: Usage, changed_text: str) -> tuple[str, list[str], list[str]]:
    """(the kind of thing touched, what of the trace, the reasons), the strongest kind first."""
    refs = sorted({ref for ref, _ in _prompt_hits(hunk.removed + hunk.added + hunk.context, usage)})
    used = [f"system prompt {ref}" for ref in refs]
    reasons: list[str] = []
    kind = "prompt" if refs else "none"
    if refs:
        what = "removed lines from" if not hunk.added else "changed lines in"
        reasons.append(f"{what} the prompt the trace used ({', '.join(refs)})")
    tokens = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", changed_text))
    tools = sorted(usage.tools & tokens) + sorted(
        {usage.tool_text[_normal(line)] for line in hunk.removed + hunk.added if _normal(line) in usage.tool_text}
    )
    if tools:
        used += [f"tool {t}" for t in dict.fromkeys(tools)]
        kind = "tool" if kind == "none" else kind  # a prompt line naming a tool is still a prompt line
        reasons.append(f"touches the tool {', '.join(dict.fromkeys(tools))} the trace used")
    if _CONFIG.search(hunk.path) and (any(m in changed_text for m in usage.models) or tokens & set(_PARAMETERS)):
        used.append("model")
        kind = "model" if kind == "none" else kind
        reasons.append("changes the model or its parameters")
    if any(hunk.path == f or hunk.path.endswith("/" + f) for f in usage.eval_files):
        used.append("eval file")
        kind = "eval" if kind == "none" else kind
        reasons.append("changes the eval file")
    return kind, used, reasons


# A prompt line is evidence only through what went wrong (the action, the values, the evaluator's
# words for it), not through words it shares with the expected values: every rule shares some.
_KINDS = {"prompt": ("action", "value", "said"), "none": ("action", "value", "said")}
_ALL = ("action", "value", "said", "expected")


def _score(hunk: Hunk, usage: Usage) -> tuple[Suspect, float]:
    changed_text = "\n".join(hunk.removed + hunk.added)
    kind, used, reasons = _used(hunk, usage, changed_text)
    match = _match(
        words_of(changed_text.replace("_", " ")) | words_of(changed_text), usage, surface_words(changed_text)
    )
    kinds = _KINDS.get(kind, _ALL)
    strength = match.total(kinds)
    score = BASE[kind] + (strength if kind != "none" else strength / 2)
    # Only a prompt's removed lines can be a rule taken out (and comparing lines is the costly part).
    if (
        kind == "prompt"
        and strength > 0
        and any(len(_normal(r)) >= 12 and not _reworded(r, hunk.added) for r in hunk.removed)
    ):
        score += REMOVED_BONUS
    evidence = match.said(kinds)
    if not used:  # then _used gave no reason either
        reasons = ["touches nothing the trace used"]
    if not evidence:
        reasons.append("its words match nothing of what went wrong")
    suspect = Suspect(
        change_id=hunk.change_id,
        path=hunk.path,
        start_line=hunk.start_line,
        end_line=hunk.end_line,
        score=round(min(1.0, score), 3),
        reason="; ".join(reasons + evidence),
        used=used,
        removed=[line.strip() for line in hunk.removed if line.strip()][:3],
        added=[line.strip() for line in hunk.added if line.strip()][:3],
        evidence=evidence,
    )
    return suspect, strength


@cache
def thresholds() -> dict[str, float | None]:
    """The learned band thresholds (``likely``, ``possible``); None where no threshold reached its precision."""
    try:
        text = resources.files("refinery.changes").joinpath("calibration.json").read_text(encoding="utf-8")
    except FileNotFoundError:
        return {"likely": None, "possible": None}
    data = json.loads(text)
    return {band: data.get("thresholds", {}).get(band) for band in ("likely", "possible")}


def band_of(score: float) -> Band:
    """The claim a score allows: ``likely``, ``possible`` or ``none``."""
    learned = thresholds()
    likely, possible = learned["likely"], learned["possible"]
    if likely is not None and score >= likely:
        return "likely"
    if possible is not None and score >= possible:
        return "possible"
    return "none"


def rank_changes(changes: ChangeSet, usage: Usage) -> list[Suspect]:
    """Every hunk as a suspect, best first: by score, then by evidence strength; equal on both is a tie.
    Only the best (and what ties with it) gets a band; the others are ranked, not claimed."""
    scored = [_score(hunk, usage) for hunk in changes.hunks]
    scored.sort(key=lambda pair: (-pair[0].score, -pair[1]))
    alike: dict[tuple[float, float], list[str]] = {}
    for suspect, strength in scored:
        alike.setdefault((suspect.score, strength), []).append(suspect.change_id)
    out = []
    top = alike[(scored[0][0].score, scored[0][1])] if scored else []
    for suspect, strength in scored:
        ties = [c for c in alike[(suspect.score, strength)] if c != suspect.change_id][:10]
        # One claim: the best suspect (or the hunks tied with it); the rest are ranked, not blamed.
        band = band_of(suspect.score) if suspect.evidence and suspect.change_id in top else "none"
        out.append(suspect.model_copy(update={"band": band, "tied_with": ties if suspect.score > 0 else []}))
    return out


__all__ = ["WORD", "Usage", "band_of", "rank_changes", "stem", "thresholds", "trace_usage"]
