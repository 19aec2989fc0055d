"""The fix made without a model (changes/fix.py): the claimed change's removed prompt lines put back,
checked against the checkout, and written as a patch that `git apply` takes."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from refinery.changes.diff import read_unified_diff
from refinery.changes.fix import fix_patch, propose_fixes
from refinery.changes.model import Band, Hunk, Suspect
from refinery.documents.redact import Redactor

BASE = [
    "You are the airline's support agent.",
    "Before calling cancel_reservation, confirm the cancellation reason with the user.",
    "Never cancel a basic economy reservation that is older than 24 hours.",
    "Answer briefly.",
]


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def pull_request(
    tmp_path: Path, head: list[str], *, context: int = 3, name: str = "prompts/agent.md"
) -> tuple[Path, list[Hunk]]:
    """A repository whose base holds BASE and whose checkout is the PR's head; the PR's hunks."""
    repo = tmp_path / "repo"
    (repo / name).parent.mkdir(parents=True, exist_ok=True)
    git(tmp_path, "init", "-q", str(repo))
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    (repo / name).write_text("\n".join(BASE) + "\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    (repo / name).write_text("\n".join(head) + "\n")
    git(repo, "commit", "-q", "-am", "head")
    diff = git(repo, "diff", f"-U{context}", "HEAD~1", "HEAD")
    return repo, read_unified_diff(diff, "git").hunks


def suspect(hunk: Hunk, band: Band = "likely", used: tuple[str, ...] = ("system prompt P01",)) -> Suspect:
    return Suspect(
        change_id=hunk.change_id,
        path=hunk.path,
        start_line=hunk.start_line,
        end_line=hunk.end_line,
        score=0.5,
        reason="removed lines from the prompt the trace used (P01)",
        used=list(used),
        removed=hunk.removed,
        band=band,
        evidence=["names what it got wrong: basic, economy"],
    )


REDACT = Redactor().text


def applied(repo: Path, patch: str) -> list[str]:
    (repo / "fix.patch").write_text(patch)
    git(repo, "apply", "--check", "fix.patch")
    git(repo, "apply", "fix.patch")
    return (repo / "prompts" / "agent.md").read_text().splitlines()


@pytest.mark.parametrize("context", [3, 0])
def test_a_removed_rule_is_put_back_where_it_was(tmp_path: Path, context: int) -> None:
    repo, [hunk] = pull_request(tmp_path, [BASE[0], BASE[1], BASE[3]], context=context)
    fixes, notes = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    assert notes == []
    [fix] = fixes
    # Anchored on the line before the gap, on the PR's head: line 2 stays, the rule follows it.
    assert (fix.path, fix.start_line, fix.end_line) == ("prompts/agent.md", 2, 2)
    assert fix.original == [BASE[1]] and fix.replacement == [BASE[1], BASE[2]]
    assert fix.in_diff is (context > 0)  # without context the anchor line is not in the diff to suggest on
    assert fix.source == "revert-suspect" and fix.change_id == hunk.change_id
    assert fix.hypothesis == f"Restore the line {hunk.change_id} took out of prompts/agent.md"
    assert applied(repo, fix_patch(fixes, repo)) == BASE


def test_a_rule_removed_from_the_top_is_anchored_on_the_first_line(tmp_path: Path) -> None:
    repo, [hunk] = pull_request(tmp_path, BASE[1:], context=0)
    [fix], _ = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    assert (fix.start_line, fix.original, fix.replacement) == (1, [BASE[1]], [BASE[0], BASE[1]])
    assert applied(repo, fix_patch([fix], repo)) == BASE


def test_a_weakened_rule_is_replaced_by_the_original_wording(tmp_path: Path) -> None:
    weakened = "Avoid cancelling old basic economy reservations if possible."
    repo, [hunk] = pull_request(tmp_path, [BASE[0], BASE[1], weakened, BASE[3]])
    [fix], _ = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    assert (fix.start_line, fix.end_line, fix.original, fix.replacement) == (3, 3, [weakened], [BASE[2]])
    assert applied(repo, fix_patch([fix], repo)) == BASE


def test_no_fix_without_a_likely_claim_on_a_prompt_that_lost_lines(tmp_path: Path) -> None:
    repo, [hunk] = pull_request(tmp_path, [BASE[0], BASE[1], BASE[3]])
    assert propose_fixes(suspect(hunk, band="possible"), [hunk], repo, REDACT) == ([], [])
    assert propose_fixes(suspect(hunk, used=("tool cancel_reservation",)), [hunk], repo, REDACT) == ([], [])
    assert propose_fixes(None, [hunk], repo, REDACT) == ([], [])
    assert propose_fixes(suspect(hunk), [hunk], None, REDACT) == ([], [])
    added, [grown] = pull_request(tmp_path / "b", [*BASE, "Be polite."])
    assert propose_fixes(suspect(grown), [grown], added, REDACT) == ([], [])  # nothing was taken out


def test_a_fix_the_checkout_does_not_match_is_dropped_with_a_note(tmp_path: Path) -> None:
    repo, [hunk] = pull_request(tmp_path, [BASE[0], BASE[1], BASE[3]])
    (repo / "prompts" / "agent.md").write_text("Someone rewrote the whole prompt.\n")
    fixes, [note] = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    assert fixes == [] and note.startswith(f"The fix restoring {hunk.change_id} was dropped: lines 2–2")
    (repo / "prompts" / "agent.md").unlink()
    _, [gone] = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    assert "prompts/agent.md is not a file in the checkout" in gone


def test_a_removed_line_holding_a_secret_is_never_restored(tmp_path: Path) -> None:
    key = "sk-proj-" + "Q7wE9rT2yU4iO6pA8sD0fG1hJ3kL5zX7cV9bN2mQ4wE6rT8y"
    head = [BASE[0], BASE[1], BASE[3]]
    repo, [hunk] = pull_request(tmp_path, head)
    hunk.text = hunk.text.replace(BASE[2], f"Use the key {key} for refunds.")
    hunk.removed = [f"Use the key {key} for refunds."]
    fixes, [note] = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    assert fixes == [] and "hold a secret" in note and key not in note


def test_a_hunk_cut_short_or_too_large_is_not_restored(tmp_path: Path) -> None:
    repo, [hunk] = pull_request(tmp_path, [BASE[0], BASE[1], BASE[3]])
    hunk.text = "\n".join(hunk.text.split("\n")[:3])  # the diff reader capped it
    _, [note] = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    assert "too large to restore" in note
    long_rule = [f"Rule {n}: check the fare class before any change." for n in range(70)]
    base_then = tmp_path / "big"
    repo, [hunk] = pull_request(base_then, [BASE[0]], context=0)
    hunk.text = hunk.text.split("\n")[0].replace("-2,3", "-2,70") + "\n" + "\n".join("-" + r for r in long_rule)
    hunk.old_lines, hunk.removed = 70, long_rule
    _, [big] = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    assert "larger than 60 lines" in big


def test_only_fixes_inside_the_diff_become_suggestions_and_no_fence_inside_can_close_them(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from refinery.changes.fix import Fix
    from refinery.github.publish import suggestions_for

    def fix(line: int, replacement: list[str], in_diff: bool = True) -> Fix:
        return Fix(
            path="prompts/agent.md",
            start_line=line,
            end_line=line,
            original=["x"],
            replacement=replacement,
            hypothesis="Restore the prompt lines C01 took out: names @octocat.",
            source="revert-suspect",
            change_id="C01",
            in_diff=in_diff,
        )

    result = SimpleNamespace(
        prepared=SimpleNamespace(fixes=[fix(2, ["a", "```", "b"]), fix(2, ["dup"]), fix(9, ["c"], False)])
    )
    suggestions, prefix = suggestions_for([result], "<!-- refinery:sticky evals|test|trace.json -->")
    assert prefix == "<!-- refinery:suggestion evals|test|trace.json "
    [only] = suggestions  # the duplicate place once; the fix outside the diff goes to fix.patch only
    assert only.key == prefix + "prompts/agent.md:2-2 -->" and only.body.startswith(only.key + "\n")
    assert "````suggestion\na\n```\nb\n````" in only.body
    assert "@octocat" not in only.body  # the hypothesis is untrusted text: no mention notifies anyone


def test_the_verdict_needs_two_thirds_with_the_fix_and_at_most_a_third_without() -> None:
    from refinery.changes.verify import verdict_of

    assert verdict_of(3, 3, 0, 3) == "verified"
    assert verdict_of(2, 3, 1, 3) == "verified"  # exactly two thirds, exactly one third
    assert verdict_of(2, 3, 2, 3) == "inconclusive"  # the failure did not reproduce often enough
    assert verdict_of(1, 3, 0, 3) == "refuted"  # a third is no better than chance here
    assert verdict_of(0, 3, 0, 3) == "refuted"
    assert verdict_of(3, 5, 0, 5) == "inconclusive"  # 3 of 5 is under two thirds, over one third
    assert verdict_of(4, 5, 1, 5) == "verified"


def test_a_verification_stopped_part_way_kills_the_eval_and_reports_what_finished(tmp_path: Path) -> None:
    import signal
    import time

    from refinery.changes.verify import VerifyRequest, verify_fix

    repo, [hunk] = pull_request(tmp_path, [BASE[0], BASE[1], BASE[3]])
    [fix], _ = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    # With the fix the eval passes at once; without it, it hangs, as a stuck eval would, until stopped.
    # A sleep only this test process starts: another run of the suite (a mutation worker) has its own.
    hang = f"sleep 31.{os.getpid()}"
    command = f'grep -qF "{BASE[2]}" prompts/agent.md || {hang}'

    from refinery.analysis.control import Cancelled

    def stop(signum: int, frame: object) -> None:  # as the run's control raises it on SIGTERM
        raise Cancelled("SIGTERM received")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, 2.0)
    started = time.monotonic()
    try:
        result = verify_fix(
            repo, fix_patch([fix], repo), VerifyRequest(command=command, runs=1), REDACT, {"PATH": "/usr/bin:/bin"}
        )
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    assert time.monotonic() - started < 10
    assert (result.runs, result.passes, result.control_runs) == (1, 1, 0)
    assert result.verdict == "inconclusive" and result.note.startswith("stopped: SIGTERM received")
    still = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            still += [cmdline] if cmdline.read_bytes().replace(b"\0", b" ").strip() == hang.encode() else []
        except OSError:
            continue  # a process that ended while we looked
    assert still == []  # the eval's process group was killed, not left running
    assert len(git(repo, "worktree", "list").splitlines()) == 1


def test_the_patch_applies_to_a_file_without_a_final_newline(tmp_path: Path) -> None:
    repo, [hunk] = pull_request(tmp_path, [BASE[0], BASE[1], BASE[3]])
    (repo / "prompts" / "agent.md").write_text("\n".join([BASE[0], BASE[1], BASE[3]]))  # no newline at the end
    git(repo, "commit", "-qam", "no final newline")
    [fix], _ = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    patch = fix_patch([fix], repo)
    assert patch.startswith("diff --git a/prompts/agent.md b/prompts/agent.md\n--- a/prompts/agent.md\n")
    assert applied(repo, patch) == BASE
    assert not (repo / "prompts" / "agent.md").read_text().endswith("\n")  # the file keeps its ending


# -- fixes the model proposes --------------------------------------------------------------------


def model_fix(start: int, original: list[str], replacement: list[str], end: int | None = None, path: str = "") -> Any:
    from refinery.changes.fix import ProposedFix

    return ProposedFix(
        hypothesis="H1: Answer in full",
        path=path or "prompts/agent.md",
        start_line=start,
        end_line=end if end is not None else start + len(original) - 1,
        original=original,
        replacement=replacement,
    )


def test_a_model_fix_is_kept_only_exactly_as_the_checkout_holds_its_lines(tmp_path: Path) -> None:
    from refinery.changes.fix import check_model_fixes

    head = [BASE[0], BASE[1], "Never cancel anything.", BASE[3]]
    repo, hunks = pull_request(tmp_path, head, context=0)
    proposed = [
        model_fix(3, ["Never cancel anything."], [BASE[2]]),  # in the diff: the changed line
        model_fix(4, [BASE[3]], ["Answer in full."]),  # outside a zero-context diff
        model_fix(1, ["Not what line 1 says."], ["x"]),
        model_fix(4, [BASE[3]], ["y"], end=9),  # a range past the end of the file: its lines disagree
        model_fix(2, [], ["z"], end=1),  # replaces nothing: no line to anchor it on
        model_fix(1, [BASE[0]], [BASE[0]]),
        model_fix(3, ["Never cancel anything."], ["Never cancel."]),  # overlaps the first
        model_fix(1, ["x"], ["y"], path="../outside.md"),
        model_fix(1, [BASE[0]], ["key: ghp_" + "C" * 36]),
    ]
    fixes, notes = check_model_fixes(proposed, hunks, repo, REDACT, [])
    assert [(f.start_line, f.replacement, f.in_diff, f.source) for f in fixes] == [
        (3, [BASE[2]], True, "model"),
        (4, ["Answer in full."], False, "model"),
    ]
    assert fixes[0].hypothesis == "H1: Answer in full"
    assert [n.split(" was dropped: ", 1)[1] if " was dropped: " in n else n for n in notes] == [
        "lines 1–1 of prompts/agent.md in the checkout are not the lines it replaces.",
        "its line range and its original lines disagree (a fix replaces at least one line).",
        "its line range and its original lines disagree (a fix replaces at least one line).",
        "it changes nothing.",
        "it overlaps the lines of another fix.",
        "../outside.md is not a file in the checkout.",
        "the lines it would restore to prompts/agent.md hold a secret.",
    ]
    assert notes[0].startswith("The model's fix 3 (H1, prompts/agent.md) was dropped")
    # The same fix as one already made is said once and not shown twice.
    again, said = check_model_fixes(proposed[:2], hunks, repo, REDACT, fixes[:1])
    assert said == ["The model's fix 1 (H1, prompts/agent.md) repeats a fix already made."]
    assert [f.start_line for f in again] == [4]  # the one after the repeat is still checked and kept
    # Without a checkout nothing can be checked, so nothing is shown, and each fix says why.
    none, why = check_model_fixes(proposed[:2], hunks, None, REDACT, [])
    assert none == [] and len(why) == 2 and all("there is no checkout to check it against" in w for w in why)


def test_each_fix_is_verified_on_its_own_against_one_control(tmp_path: Path) -> None:
    from refinery.changes.fix import Fix
    from refinery.changes.verify import VerifyRequest, verify_fixes

    repo, [hunk] = pull_request(tmp_path, [BASE[0], BASE[1], BASE[3]])
    [restore], _ = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    other = Fix(
        path="prompts/agent.md",
        start_line=3,
        end_line=3,
        original=[BASE[3]],
        replacement=["Answer in full."],
        hypothesis="H2: Answer in full",
        source="model",
    )
    log = tmp_path / "runs.log"
    command = f'pwd >> {log}; grep -qF "{BASE[2]}" prompts/agent.md'
    request = VerifyRequest(command=command, runs=2)
    patches = [fix_patch([restore], repo), fix_patch([other], repo)]
    first, second = verify_fixes(repo, patches, request, REDACT, {"PATH": "/usr/bin:/bin"})
    assert (first.verdict, first.passes, first.control_passes) == ("verified", 2, 0)
    assert (second.verdict, second.passes, second.control_passes) == ("refuted", 0, 0)
    worktrees = [Path(line).name for line in log.read_text().splitlines()]
    assert worktrees == ["fix-1", "fix-1", "fix-2", "fix-2", "control", "control"]  # the control ran once for both


def test_the_verification_budget_is_one_deadline_for_the_run_and_runs_past_it_are_not_started(tmp_path: Path) -> None:
    import time

    from refinery.changes.verify import VerifyRequest, verify_fixes
    from refinery.planner.enrich import verify_deadline
    from refinery.wiring import load_settings

    settings = load_settings({"REFINERY_VERIFY_BUDGET": "30", "REFINERY_VERIFY_RUNS": "2"}, {})
    assert settings.verify_budget == 30
    assert 29 < verify_deadline(settings) - time.monotonic() <= 30
    default = load_settings({"REFINERY_VERIFY_RUNS": "2", "REFINERY_VERIFY_TIMEOUT": "10"}, {})
    assert 39 < verify_deadline(default) - time.monotonic() <= 40  # 2 runs with and 2 without, 10 s each
    repo, [hunk] = pull_request(tmp_path, [BASE[0], BASE[1], BASE[3]])
    [fix], _ = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    late = VerifyRequest(command="true", runs=2, deadline=time.monotonic() - 1)
    [verdict] = verify_fixes(repo, [fix_patch([fix], repo)], late, REDACT, {"PATH": "/usr/bin:/bin"})
    assert (verdict.verdict, verdict.runs, verdict.control_runs) == ("inconclusive", 0, 0)
    assert "the job's time ran out after 0 + 0 of 4 runs" in verdict.note


def test_with_a_results_file_the_verdict_is_the_files_not_the_exit_code(tmp_path: Path) -> None:
    import json

    from refinery.changes.verify import VerifyRequest, verify_fixes

    repo, [hunk] = pull_request(tmp_path, [BASE[0], BASE[1], BASE[3]])
    [fix], _ = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    record = {"task_id": 1, "trial": 0, "info": {"task": {"actions": []}}, "traj": []}
    passed, failed = json.dumps([{**record, "reward": 1.0}]), json.dumps([{**record, "reward": 0.0}])
    # The eval exits 1 every time; the file it writes says whether the example passed.
    command = (
        f"if grep -qF '{BASE[2]}' prompts/agent.md; then echo '{passed}' > out/results.json; "
        f"else echo '{failed}' > out/results.json; fi; exit 1"
    )
    setup = f"mkdir -p out; {command}"
    request = VerifyRequest(command=setup, runs=1, results_file="out/results.json")
    [verdict] = verify_fixes(repo, [fix_patch([fix], repo)], request, REDACT, {"PATH": "/usr/bin:/bin"})
    assert (verdict.verdict, verdict.passes, verdict.control_passes) == ("verified", 1, 0)
    for broken in ("true", "mkdir -p out; echo 'not json' > out/results.json"):  # no file, or one unreadable
        request = VerifyRequest(command=broken, runs=1, results_file="out/results.json")
        [nothing] = verify_fixes(repo, [fix_patch([fix], repo)], request, REDACT, {"PATH": "/usr/bin:/bin"})
        assert (nothing.passes, nothing.control_passes) == (0, 0)


def test_a_run_under_way_is_cut_at_the_deadline_and_what_it_wrote_to_stderr_is_kept(tmp_path: Path) -> None:
    import time

    from refinery.changes.verify import VerifyRequest, verify_fix

    repo, [hunk] = pull_request(tmp_path, [BASE[0], BASE[1], BASE[3]])
    [fix], _ = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    command = 'echo "eval starting" >&2; sleep 20'
    started = time.monotonic()
    request = VerifyRequest(command=command, runs=1, timeout_s=60, deadline=time.monotonic() + 1.5)
    result = verify_fix(repo, fix_patch([fix], repo), request, REDACT, {"PATH": "/usr/bin:/bin"})
    assert time.monotonic() - started < 10  # not the 60 s timeout, nor the 20 s the eval wanted
    assert result.passes == 0 and result.runs >= 1
    assert "eval starting" in result.note  # stderr is part of what the run said
    assert re.search(r"\[stopped after [01] s\]", result.note)  # cut at the deadline, under 1.5 s in


def test_the_eval_gets_the_examples_ids_and_inputs_and_the_checkout_keeps_no_trace_of_the_runs(tmp_path: Path) -> None:
    from refinery.changes.verify import VerifyRequest, verify_fix

    repo, [hunk] = pull_request(tmp_path, [BASE[0], BASE[1], BASE[3]])
    [fix], _ = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    branches = git(repo, "branch", "--list")
    command = (
        'test "$REFINERY_EXAMPLE_ID" = ex-7 && test "$REFINERY_TRACE_ID" = tr-1 '
        '&& grep -q \'"when": "2026-01-01 00:00:00"\' "$REFINERY_INPUTS" '
        f'&& grep -qF "{BASE[2]}" prompts/agent.md'
    )
    from datetime import datetime

    request = VerifyRequest(
        command=command, runs=2, example_id="ex-7", trace_id="tr-1", inputs={"when": datetime(2026, 1, 1)}
    )
    result = verify_fix(repo, fix_patch([fix], repo), request, REDACT, {"PATH": "/usr/bin:/bin"})
    assert (result.verdict, result.passes, result.runs, result.control_passes, result.control_runs) == (
        "verified",
        2,
        2,
        0,
        2,
    )
    assert result.note == ""  # every run done, the failure reproduced without the fix
    assert len(result.durations) == 4 and all(d == round(d, 2) for d in result.durations)
    assert git(repo, "branch", "--list") == branches  # no branch left behind by a worktree
    assert len(git(repo, "worktree", "list").splitlines()) == 1
    assert git(repo, "status", "--porcelain") == ""


def test_a_fix_that_does_not_help_says_how_its_last_run_ended_without_secrets_or_colours(tmp_path: Path) -> None:
    from refinery.changes.verify import VerifyRequest, verify_fix

    repo, [hunk] = pull_request(tmp_path, [BASE[0], BASE[1], BASE[3]])
    [fix], _ = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    secret = "ghp_" + "D" * 36
    command = f"printf '\\033[31mFAILED\\033[0m  test_refund\\n  token {secret}\\n'; exit 1"
    result = verify_fix(
        repo, fix_patch([fix], repo), VerifyRequest(command=command, runs=1), REDACT, {"PATH": "/usr/bin:/bin"}
    )
    assert result.verdict == "refuted"
    assert result.note.startswith("the last failing run with the fix ended: FAILED test_refund token ")
    assert secret not in result.note and "\x1b" not in result.note


def test_a_failure_that_does_not_reproduce_without_the_fix_is_said_first(tmp_path: Path) -> None:
    from refinery.changes.verify import VerifyRequest, verify_fix

    repo, [hunk] = pull_request(tmp_path, [BASE[0], BASE[1], BASE[3]])
    [fix], _ = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    result = verify_fix(
        repo, fix_patch([fix], repo), VerifyRequest(command="true", runs=3), REDACT, {"PATH": "/usr/bin:/bin"}
    )
    assert result.verdict == "inconclusive" and result.note == "the failure did not reproduce without the fix"
    flaky = VerifyRequest(command='test "$(basename "$PWD")" != control || test -e flake', runs=3)
    (repo / "flake").write_text("")  # untracked: no worktree has it, so the control always fails
    assert verify_fix(repo, fix_patch([fix], repo), flaky, REDACT, {"PATH": "/usr/bin:/bin"}).note == ""


def test_a_fix_that_does_not_apply_says_why_and_a_folder_that_is_no_repository_says_what_is_needed(
    tmp_path: Path,
) -> None:
    from refinery.changes.verify import VerifyRequest, verify_fix
    from refinery.errors import ConfigError

    repo, [hunk] = pull_request(tmp_path, [BASE[0], BASE[1], BASE[3]])
    [fix], _ = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    patch = fix_patch([fix], repo)
    (repo / "prompts" / "agent.md").write_text("rewritten\n")
    git(repo, "commit", "-q", "-am", "moved on")
    with pytest.raises(ConfigError) as stale:
        verify_fix(repo, patch, VerifyRequest(command="true", runs=1), REDACT, {"PATH": "/usr/bin:/bin"})
    assert stale.value.message.startswith("The fix does not apply to the checkout: error: patch failed")
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(ConfigError) as none:
        verify_fix(plain, patch, VerifyRequest(command="true", runs=1), REDACT, {"PATH": "/usr/bin:/bin"})
    assert none.value.message.startswith(f"Cannot make a worktree of {plain}: fatal:")
    assert none.value.hint == "Verification needs the checkout to be a git repository (actions/checkout)."


def test_two_fixes_that_both_work_are_each_measured_against_the_run_without_any(tmp_path: Path) -> None:
    from refinery.changes.verify import VerifyRequest, verify_fixes

    repo, [hunk] = pull_request(tmp_path, [BASE[0], BASE[1], BASE[3]])
    [restore], _ = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    patch = fix_patch([restore], repo)
    command = f'grep -qF "{BASE[2]}" prompts/agent.md'
    results = verify_fixes(
        repo, [patch, patch], VerifyRequest(command=command, runs=2), REDACT, {"PATH": "/usr/bin:/bin"}
    )
    assert [(r.verdict, r.passes, r.control_passes, r.control_runs) for r in results] == [("verified", 2, 0, 2)] * 2


def test_fixes_are_numbered_from_f1_in_the_order_given(tmp_path: Path) -> None:
    from refinery.changes.fix import numbered

    repo, [hunk] = pull_request(tmp_path, [BASE[0], BASE[1], BASE[3]])
    [fix], _ = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    assert fix.id == "F1"
    assert [f.id for f in numbered([fix, fix, fix])] == ["F1", "F2", "F3"]


@pytest.mark.parametrize("context", [3, 0])
def test_a_reworded_rule_is_fixed_on_the_lines_the_diff_shows(tmp_path: Path, context: int) -> None:
    weakened = "Avoid cancelling old basic economy reservations if possible."
    repo, [hunk] = pull_request(tmp_path, [BASE[0], BASE[1], weakened, BASE[3]], context=context)
    [fix], _ = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    assert (fix.start_line, fix.original, fix.replacement, fix.in_diff) == (3, [weakened], [BASE[2]], True)
    assert fix.hypothesis == f"Restore the line {hunk.change_id} reworded in prompts/agent.md"


def test_two_removed_rules_are_both_put_back_and_said_as_two_lines(tmp_path: Path) -> None:
    repo, [hunk] = pull_request(tmp_path, [BASE[0], BASE[3]], context=0)
    [fix], _ = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    assert fix.hypothesis == f"Restore the 2 lines {hunk.change_id} took out of prompts/agent.md"
    assert fix.in_diff is False  # a pure removal has no line of the new side to suggest on
    assert applied(repo, fix_patch([fix], repo)) == BASE


def test_fixes_far_apart_in_one_file_are_one_patch_and_without_git_difflib_writes_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from refinery.changes.fix import Fix

    repo, _ = pull_request(tmp_path, [*BASE[:3], "Answer in full."])
    lines = (repo / "prompts" / "agent.md").read_text().splitlines()
    (repo / "prompts" / "agent.md").write_text(
        "\n".join([*lines, *(f"filler {n}" for n in range(20)), "Last rule."]) + "\n"
    )
    git(repo, "commit", "-q", "-am", "longer")

    def fix(line: int, old: str, new: str) -> Fix:
        return Fix(
            path="prompts/agent.md",
            start_line=line,
            end_line=line,
            original=[old],
            replacement=[new],
            hypothesis="H1",
            source="model",
        )

    fixes = [fix(1, BASE[0], "You are the airline's agent."), fix(25, "Last rule.", "The last rule.")]
    patch = fix_patch(fixes, repo)
    assert patch.count("\n@@ ") == 2  # both changes, not only the last hunk
    assert fix_patch([fix(1, BASE[0], BASE[0])], repo) == ""  # a fix that changes nothing is no patch
    (tmp_path / "outside.md").write_text(BASE[0] + "\n")
    outside = fix(1, BASE[0], "x").model_copy(update={"path": "../outside.md"})
    missing = fix(1, BASE[0], "x").model_copy(update={"path": "prompts/gone.md"})
    assert fix_patch([outside, missing], repo) == ""  # a file outside the checkout, or not in it, is never patched
    empty = tmp_path / "no-git"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    without_git = fix_patch(fixes, repo)
    monkeypatch.undo()
    assert without_git.count("\n@@ ") == 2 and "--- a/prompts/agent.md" in without_git
    after = applied(repo, without_git)
    assert after[0] == "You are the airline's agent." and after[-1] == "The last rule."


def test_a_fix_of_exactly_the_largest_size_is_shown_and_one_line_or_character_more_is_not() -> None:
    from refinery.changes.fix import MAX_FIX_CHARS, MAX_FIX_LINES, Fix, check_fix

    def checked(replacement: list[str]) -> str | None:
        fix = Fix(
            path="prompts/agent.md",
            start_line=1,
            end_line=1,
            original=["x"],
            replacement=replacement,
            hypothesis="Restore the rule.",
            source="revert-suspect",
            change_id="C01",
        )
        return check_fix(fix, ["x"], REDACT)

    assert checked(["rule"] * MAX_FIX_LINES) is None
    assert checked(["rule"] * (MAX_FIX_LINES + 1)) == f"it is larger than {MAX_FIX_LINES} lines or 6,000 characters"
    assert checked(["r" * MAX_FIX_CHARS]) is None
    assert checked(["r" * (MAX_FIX_CHARS + 1)]) is not None
    # A line already redacted upstream is a secret's place: restoring it would write the placeholder in.
    assert checked(["Use the key [REDACTED:openai-key] for refunds."]) == (
        "the lines it would restore to prompts/agent.md hold a secret"
    )
    assert (
        checked(["x", "y"]) is None
        and check_fix(
            Fix(
                path="p",
                start_line=0,
                end_line=0,
                original=[],
                replacement=["a"],
                hypothesis="h",
                source="revert-suspect",
            ),
            ["x"],
            REDACT,
        )
        == "lines 0–0 of p in the checkout are not the lines it replaces"
    )


def test_a_removal_past_the_end_of_a_checkout_that_changed_since_is_dropped_with_a_note(tmp_path: Path) -> None:
    repo, [hunk] = pull_request(tmp_path, BASE[:3], context=0)  # the last line taken out
    (repo / "prompts/agent.md").write_text(BASE[0] + "\n")  # the checkout moved on: two lines fewer
    fixes, [note] = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    assert fixes == [] and "lines 3–3 of prompts/agent.md in the checkout are not the lines it replaces" in note


@pytest.mark.parametrize(("control_passes", "said"), [(2, False), (3, True)])
def test_the_failure_counts_as_not_reproduced_from_more_than_a_third_of_the_control_runs(
    tmp_path: Path, control_passes: int, said: bool
) -> None:
    from refinery.changes.verify import VerifyRequest, verify_fix

    repo, [hunk] = pull_request(tmp_path, [BASE[0], BASE[1], BASE[3]])
    [fix], _ = propose_fixes(suspect(hunk), [hunk], repo, REDACT)
    # Runs 1-6 are with the fix (3 pass: inconclusive), runs 7-12 the control (the first few pass).
    count = tmp_path / "count"
    passing = "|".join(str(n) for n in (1, 2, 3, *range(7, 7 + control_passes)))
    command = f"n=$(( $(cat {count} 2>/dev/null || echo 0) + 1 )); echo $n > {count}; case $n in {passing}) exit 0;; esac; exit 1"
    result = verify_fix(
        repo, fix_patch([fix], repo), VerifyRequest(command=command, runs=6), REDACT, {"PATH": "/usr/bin:/bin"}
    )
    assert (result.verdict, result.passes, result.control_passes) == ("inconclusive", 3, control_passes)
    assert result.note.startswith("the failure did not reproduce without the fix") is said
