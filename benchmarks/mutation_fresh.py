"""Fresh mutations written by hand, not by mutmut's operators (``python -m benchmarks.mutation_fresh``).

The issue's check on the mutation score: realistic bugs at the places a wrong claim would come from (a
boundary, a threshold, a limit the README promises), each applied alone to a copy of the committed
repository and run against its group's own tests (``benchmarks/mutation.py:GROUPS``). They should be
caught at the rate the mutation score says. Not part of ``all``: it runs the groups' tests once per
mutation (about three minutes).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.mutation import GROUPS
from benchmarks.results import ROOT, SHARED

MUTATIONS = [  # (group, file, the code as it is, the bug, what a user would see)
    (
        "selection",
        "refinery/trace/source.py",
        "elif item.score <= criteria.max_score:",
        "elif item.score < criteria.max_score:",
        "a score exactly at max-score passes",
    ),
    (
        "selection",
        "refinery/trace/source.py",
        "if avg is not None and avg <= criteria.max_score:",
        "if avg is not None and avg < criteria.max_score:",
        "LangSmith mean exactly at max-score passes",
    ),
    (
        "selection",
        "refinery/trace/langsmith.py",
        "if scanned > SCAN_LIMIT:",
        "if scanned > SCAN_LIMIT + 1:",
        "scan cap off by one",
    ),
    (
        "changes",
        "refinery/changes/diff.py",
        "left_new = int(match.group(4)) if match.group(4) is not None else 1",
        "left_new = int(match.group(4)) if match.group(4) is not None else 0",
        "hunk header without a count read as 0 lines",
    ),
    (
        "changes",
        "refinery/changes/rank.py",
        "if likely is not None and score >= likely:",
        "if likely is not None and score > likely:",
        "score at the threshold not claimed",
    ),
    (
        "changes",
        "refinery/changes/rank.py",
        "if len(normal) < 12:\n            continue\n        ref",
        "if len(normal) < 10:\n            continue\n        ref",
        "shorter changed lines matched to the prompt",
    ),
    (
        "changes",
        "refinery/changes/verify.py",
        "if control_passes * 3 > len(control):",
        "if control_passes * 2 > len(control):",
        "did-not-reproduce threshold halves",
    ),
    (
        "cost",
        "refinery/analysis/cost.py",
        "self._spent + self._reserved + cost > self.cap_usd",
        "self._spent + self._reserved + cost >= self.cap_usd",
        "spend plus estimate exactly at the cap refused",
    ),
    (
        "compare",
        "refinery/compare/diverge.py",
        "if here.error and not there.error:",
        "if here.error:",
        "the same step failing in both runs called a divergence",
    ),
    (
        "compare",
        "refinery/compare/steps.py",
        'r"^(get|find|list|search|read',
        'r"^(get|find|read',
        "search_ and list_ no longer reads",
    ),
    ("readers", "refinery/trace/bounds.py", "MAX_NESTING = 64", "MAX_NESTING = 63", "nesting limit one lower"),
    (
        "annotations",
        "refinery/github/annotations.py",
        "return candidate.is_file() and self.root.resolve() in candidate.parents",
        "return candidate.is_file()",
        "a file outside the workspace annotated",
    ),
    (
        "redaction",
        "refinery/report/sanitize.py",
        'stripped.startswith(("```", "~~~"))',
        'stripped.startswith("```")',
        "a tilde fence not seen as a fence",
    ),
    (
        "redaction",
        "refinery/documents/redact.py",
        "secrets = sorted({s for s in known_secrets if len(s) >= 6}, key=len, reverse=True)",
        "secrets = sorted({s for s in known_secrets if len(s) >= 8}, key=len, reverse=True)",
        "known secrets of 6-7 characters no longer redacted",
    ),
    (
        "planner",
        "refinery/planner/triage.py",
        "for group in groups[:max_traces]:",
        "for group in groups[-max_traces:]:",
        "the model stages run on the smallest clusters",
    ),
    (
        "planner",
        "refinery/planner/triage.py",
        "chosen += [t for t in triaged if t not in failing][: max(0, max_traces - len(chosen))]",
        "chosen += [t for t in triaged if t not in failing]",
        "traces that passed analysed past max-traces",
    ),
    (
        "planner",
        "refinery/planner/run.py",
        "if self.request.verify_refused:",
        "if self.request.verify_refused and not self.settings.verify_command:",
        "a fork's fixes verified where the secrets are",
    ),
    (
        "planner",
        "refinery/planner/run.py",
        "self.state.notices.insert(0, note)",
        "self.state.notices.append(note)",
        "the cancellation no longer leads the report",
    ),
    (
        "origin",
        "refinery/triage/origin.py",
        "unrecovered = [f for f in failures if not f.recovered_at]",
        "unrecovered = list(failures)",
        "a failure the run recovered from named over the one that explains the failure",
    ),
    (
        "origin",
        "refinery/triage/confidence.py",
        '"low": "possibly starts at"',
        '"low": "starts at"',
        "a low-confidence origin worded as certain",
    ),
    (
        "origin",
        "refinery/triage/confidence.py",
        'if evidence.basis == "precondition":\n        return "medium"',
        'if evidence.basis == "precondition":\n        return "high"',
        "the write behind a precondition error said to be where it starts, on one source",
    ),
    (
        "origin",
        "refinery/triage/workers.py",
        "if hands_out(run, tasks):\n        return False",
        "if hands_out(run, tasks) and not tasks:\n        return False",
        "a manager's brief counted as the work the answer rests on",
    ),
    (
        "origin",
        "refinery/triage/cause.py",
        "in expected:\n            continue",
        "in expected and not expected:\n            continue",
        "a write the task expects blamed as the cause",
    ),
    (
        "origin",
        "refinery/triage/recovery.py",
        'return code == 0 if run.run_type == "agent" else code in (None, 0)',
        "return code in (None, 0)",
        "an executor's message with no exit code taken as the code succeeding",
    ),
]


def caught(group: str, path: str, old: str, new: str, work: Path) -> str:
    """``caught``, ``NOT CAUGHT``, or ``NOT APPLIED`` when the code no longer holds ``old``."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "x", "--exclude=tests/tools/*", "-C", str(work)], input=archive, check=True)
    target = work / path
    text = target.read_text()
    if old not in text:
        return "NOT APPLIED"
    target.write_text(text.replace(old, new, 1))
    env = {
        **os.environ,
        "REFINERY_SHARED_DIR": str(SHARED),
        "REFINERY_NODE_TOOLS": str(ROOT / "tests" / "tools"),
        "REFINERY_TESTS_WITHOUT_CONTRACT": "1",
        "CI": "",
    }
    tests = GROUPS[group].tests
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests],
        cwd=work,
        env=env,
        capture_output=True,
    )
    return "caught" if done.returncode != 0 else "NOT CAUGHT"


def main() -> None:
    results = []
    with tempfile.TemporaryDirectory(prefix="refinery-fresh-") as scratch:
        for group, path, old, new, why in MUTATIONS:
            verdict = caught(group, path, old, new, Path(scratch) / "work")
            results.append(verdict)
            print(f"{group} | {why} | {verdict}", flush=True)
    print(f"{results.count('caught')} of {len(results)} caught")


if __name__ == "__main__":
    main()
