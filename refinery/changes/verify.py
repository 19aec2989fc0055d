"""Does the fix work? The user's own eval, run without and with it, a few times each.

Each run happens in a throwaway git worktree of the checkout's commit (the fix applied with
``git apply`` in one of them), so the checkout itself is never touched. The command gets the
example's id, the trace id and a file holding the example's inputs (``REFINERY_EXAMPLE_ID``,
``REFINERY_TRACE_ID``, ``REFINERY_INPUTS``), and passes by exit code 0 or, when a results file is
named, by that file read with the selection's own rule (no trace in it fails). Each run has a
timeout, the whole verification a deadline; a run past either is killed with its process group.
The command's output is untrusted: only a redacted, inert tail is kept.

Verdict over ``runs`` runs of each: **verified** when the fix passes at least two thirds of its runs
and the control (no fix) at most a third; **refuted** when the failure reproduces and the fix
passes at most a third; otherwise **inconclusive** (the failure did not reproduce, or it is flaky).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from refinery.errors import ConfigError, RefineryError
from refinery.lines import strip_ansi

OUTPUT_TAIL = 1_500
"""Characters of the last failing run's output kept (redacted, inert)."""


Verdict = Literal["verified", "refuted", "inconclusive"]


class Verification(BaseModel):
    """What re-running the eval said about one fix (the pack's ``fixes[].verification``, 1.5)."""

    verdict: Verdict
    runs: int
    passes: int
    control_runs: int
    control_passes: int
    durations: list[float] = Field(default_factory=list)
    """Seconds per run, the fix's runs then the control's."""
    note: str = ""
    """Why it is inconclusive, or what stopped it early; and the tail of a failing run's output."""

    @property
    def sentence(self) -> str:
        """``passes 3 of 3, 0 of 3 without``."""
        return f"passes {self.passes} of {self.runs}, {self.control_passes} of {self.control_runs} without"


@dataclass(frozen=True)
class VerifyRequest:
    """How to run the user's eval for one failing example."""

    command: str
    runs: int = 3
    timeout_s: float = 600.0
    """Per run."""
    deadline: float | None = None
    """``time.monotonic()`` by which every run must be done (the job's remaining time)."""
    results_file: str | None = None
    """A results file the command writes (relative to the worktree): passes when no trace in it fails."""
    example_id: str = ""
    trace_id: str = ""
    inputs: Any = None


def verdict_of(passes: int, runs: int, control_passes: int, control_runs: int) -> Verdict:
    """verified / refuted / inconclusive, by the thirds the module docstring states."""
    if control_passes * 3 > control_runs:
        return "inconclusive"  # the failure did not reproduce (often enough) without the fix
    if passes * 3 >= runs * 2:
        return "verified"
    return "refuted" if passes * 3 <= runs else "inconclusive"


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=120, check=False)


def _worktree(root: Path, where: Path, patch: str | None) -> None:
    made = _git(root, "worktree", "add", "--detach", "--force", str(where), "HEAD")
    if made.returncode != 0:
        raise ConfigError(
            f"Cannot make a worktree of {root}: {' '.join(made.stderr.split())[:300]}",
            hint="Verification needs the checkout to be a git repository (actions/checkout).",
        )
    if patch:
        (where / ".refinery-fix.patch").write_text(patch, encoding="utf-8")
        applied = _git(where, "apply", ".refinery-fix.patch")
        (where / ".refinery-fix.patch").unlink()
        if applied.returncode != 0:
            raise ConfigError(f"The fix does not apply to the checkout: {' '.join(applied.stderr.split())[:300]}")


def _passed(done: int, where: Path, request: VerifyRequest) -> bool:
    if request.results_file is None:
        return done == 0
    from refinery.trace.files import load_trace_files
    from refinery.trace.source import SelectionCriteria, select_from_traces

    path = where / request.results_file
    if not path.is_file():
        return False
    try:
        return not select_from_traces(load_trace_files(path), SelectionCriteria())
    except (RefineryError, OSError, ValueError):  # a results file that cannot be read says nothing passed
        return False


def _run_once(where: Path, request: VerifyRequest, env: dict[str, str]) -> tuple[bool, float, str]:
    """(passed, seconds, output). A run past its timeout (or the deadline) is killed with its group."""
    limit = request.timeout_s
    if request.deadline is not None:
        limit = min(limit, max(0.0, request.deadline - time.monotonic()))
    started = time.monotonic()
    child = subprocess.Popen(
        ["bash", "-c", request.command],
        cwd=where,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        output, _ = child.communicate(timeout=limit)
        code = child.returncode
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, signal.SIGKILL)
        output, _ = child.communicate()
        code = None
    except BaseException:  # cancelled (SIGTERM, Ctrl-C): the eval and everything it started go too
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        raise
    text = output.decode("utf-8", "replace")[-OUTPUT_TAIL * 2 :]
    if code is None:
        text += f"\n[stopped after {limit:.0f} s]"
    return code is not None and _passed(code, where, request), time.monotonic() - started, text


def verify_fix(
    root: Path, patch: str, request: VerifyRequest, redact: Callable[[str], str], base_env: dict[str, str]
) -> Verification:
    """Run the eval ``request.runs`` times with the fix and as many without it, each in its own worktree."""
    return verify_fixes(root, [patch], request, redact, base_env)[0]


def verify_fixes(
    root: Path, patches: list[str], request: VerifyRequest, redact: Callable[[str], str], base_env: dict[str, str]
) -> list[Verification]:
    """Each fix on its own, ``request.runs`` times, then the control (no fix) as many times, once for all:
    a verdict per fix, each against the same control."""
    with tempfile.TemporaryDirectory(prefix="refinery-verify-") as scratch:
        inputs = Path(scratch) / "inputs.json"
        inputs.write_text(json.dumps(request.inputs, default=str), encoding="utf-8")
        env = {
            **base_env,
            "REFINERY_EXAMPLE_ID": request.example_id,
            "REFINERY_TRACE_ID": request.trace_id,
            "REFINERY_INPUTS": str(inputs),
        }
        sides: list[tuple[str | None, list[tuple[bool, float, str]]]] = [(p, []) for p in [*patches, None]]
        made: list[Path] = []
        stopped = ""
        try:
            for number, (applied, results) in enumerate(sides):
                where = Path(scratch) / (f"fix-{number + 1}" if applied is not None else "control")
                made.append(where)
                _worktree(root, where, applied)
                for _ in range(request.runs):
                    if request.deadline is not None and time.monotonic() >= request.deadline:
                        break
                    results.append(_run_once(where, request, env))
        except RefineryError as exc:  # cancelled part-way: what finished is still reported
            if not any(results for _, results in sides):
                raise
            stopped = f"stopped: {' '.join(str(exc).split())[:200]}"
        finally:  # the checkout keeps no trace of them
            for where in made:
                _git(root, "worktree", "remove", "--force", str(where))
            _git(root, "worktree", "prune")
    control = sides[-1][1]
    verifications = [_verification({"fix": results, "control": control}, request, redact) for _, results in sides[:-1]]
    for verification in verifications:
        if stopped:
            verification.note = "; ".join(n for n in (stopped, verification.note) if n)
    return verifications


def _verification(
    results: dict[str, list[tuple[bool, float, str]]], request: VerifyRequest, redact: Callable[[str], str]
) -> Verification:
    fixed, control = results["fix"], results["control"]
    passes, control_passes = sum(r[0] for r in fixed), sum(r[0] for r in control)
    notes = []
    if len(fixed) < request.runs or len(control) < request.runs:
        notes.append(f"the job's time ran out after {len(fixed)} + {len(control)} of {2 * request.runs} runs")
    failing = next((r[2] for r in reversed(fixed) if not r[0]), "")
    if failing:
        tail = strip_ansi(redact(failing))[-OUTPUT_TAIL:]
        notes.append("the last failing run with the fix ended: " + " ".join(tail.split())[-OUTPUT_TAIL:])
    verdict = verdict_of(passes, len(fixed), control_passes, len(control)) if fixed and control else "inconclusive"
    if control_passes * 3 > len(control):  # then the verdict is inconclusive, and this says why
        notes.insert(0, "the failure did not reproduce without the fix")
    return Verification(
        verdict=verdict,
        runs=len(fixed),
        passes=passes,
        control_runs=len(control),
        control_passes=control_passes,
        durations=[round(r[1], 2) for r in (*fixed, *control)],
        note="; ".join(notes),
    )
