"""From a failing trace to a fix that is shown to work: the toy agent repository's cases.

Each case is a real git repository made in a temp dir: a refund agent's policy in
``prompts/policy.md``, a deterministic agent (``agent.py``) that confirms the amount with the customer
if and only if the policy says "Always confirm the refund amount with the customer", and never refunds
more than the policy's limit; it writes its run as a tau-bench result record (``results.json``,
reward 1 when its calls are the task's expected actions). The eval (``eval.sh``) runs the agent and
passes when the reward is 1. A pull request changes the repository and the agent's run on its head
fails; the action then runs in-process, as the runner runs it, against the GitHub fake (the PR's
files from the real diff) and the OpenAI fake (four stages; the last case's synthesis is scripted),
with ``verify-command: bash eval.sh`` and ``verify-runs: 3``.

The truth is known by construction: which fix restores the behaviour, which one cannot, and when the
eval is too flaky to say. *Time* is the action's wall clock from start to the posted comment and
suggestions; *verification* is the eval's own seconds, summed over a fix's runs and the shared
control's, and its runs.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.results import Results

RULE = "Always confirm the refund amount with the customer before calling issue_refund."
LIMIT = "Never refund more than 100 dollars."
POLICY = [
    "You are RefundBot, the support agent of Acme Travel.",
    "Answer questions about bookings and refunds.",
    RULE,
    LIMIT,
    *(f"Policy {n}: keep the tone of the support team, entry {n}." for n in range(1, 7)),
    "Sign every reply as RefundBot.",
]
AGENT = r'''"""A deterministic refund agent: its calls follow the policy's wording, and nothing else."""
import json, re, sys
from pathlib import Path

prompt = Path("prompts/policy.md").read_text()
found = re.search(r"Never refund more than (\d+) dollars", prompt)
amount = min(250, int(found.group(1)) if found else 10**6)
calls = [("get_booking", {"booking_id": "B1"}, json.dumps({"fare": 250}))]
if "Always confirm the refund amount with the customer" in prompt:
    calls.append(("confirm_with_customer", {"amount": amount}, "confirmed"))
calls.append(("issue_refund", {"booking_id": "B1", "amount": amount}, "refunded"))
expected = [
    {"name": "get_booking", "kwargs": {"booking_id": "B1"}},
    {"name": "confirm_with_customer", "kwargs": {"amount": 100}},
    {"name": "issue_refund", "kwargs": {"booking_id": "B1", "amount": 100}},
]
reward = 1.0 if [{"name": n, "kwargs": a} for n, a, _ in calls] == expected else 0.0
traj = [{"role": "system", "content": prompt}, {"role": "user", "content": "Please refund booking B1."}]
for i, (name, args, out) in enumerate(calls):
    call = {"id": f"c{i}", "type": "function", "function": {"name": name, "arguments": json.dumps(args)}}
    traj += [{"role": "assistant", "content": None, "tool_calls": [call]},
             {"role": "tool", "tool_call_id": f"c{i}", "name": name, "content": out}]
traj.append({"role": "assistant", "content": f"Your refund of {amount} dollars is on its way."})
task = {"user_id": "u1", "actions": expected, "instruction": "Refund booking B1.", "outputs": []}
record = {"task_id": 0, "reward": reward, "trial": 0, "traj": traj,
          "info": {"task": task, "reward_info": {"reward": reward, "info": {"r_actions": reward}, "actions": expected}}}
Path(sys.argv[1] if len(sys.argv) > 1 else "results.json").write_text(json.dumps([record], indent=1))
'''
EVAL = """set -e
python3 agent.py results.json
python3 -c "import json, sys; sys.exit(0 if json.load(open('results.json'))[0]['reward'] == 1 else 1)"
"""
# Passes every other run whatever the policy says (a counter outside the worktrees): a flaky eval.
FLAKY = """python3 agent.py results.json
n=$(( $(cat {counter} 2>/dev/null || echo 0) + 1 )); echo $n > {counter}
python3 -c "import json, sys; sys.exit(0 if json.load(open('results.json'))[0]['reward'] == 1 or $n % 2 == 0 else 1)"
"""


@dataclass(frozen=True)
class FixCase:
    """One pull request on the toy repository, and what should become of its fixes."""

    name: str
    change: Callable[[list[str]], list[str]]
    """The policy's lines after the pull request."""
    truth: dict[str, str]
    """Per fix source (``revert-suspect``, ``model``): the verdict it should get; empty: no fix at all."""
    base: Callable[[list[str]], list[str]] = lambda lines: lines
    readme_only: bool = False
    flaky: bool = False
    synthesis: dict[str, Any] | None = None


def _wrong_model_fix() -> dict[str, Any]:
    """A synthesis whose fix edits the limit line, which cannot bring the confirmation back."""
    after = [line for line in POLICY if line != RULE]
    line = after.index(LIMIT) + 1
    hypothesis = {
        "id": "H1",
        "title": "State the refund limit more firmly",
        "category": "Instruction Non-compliance",
        "origin_run_id": "R0004",
        "rationale": "The refund went out without a check.",
        "proposed_change": {"kind": "prompt", "target": "prompts/policy.md", "before": LIMIT, "after": "firmer"},
        "expected_effect": "The agent checks before refunding.",
        "how_to_verify": "Rerun the eval.",
        "confidence": 0.5,
    }
    fix = {
        "hypothesis_id": "H1",
        "path": "prompts/policy.md",
        "start_line": line,
        "end_line": line,
        "original": [LIMIT],
        "replacement": ["Never refund more than 100 dollars, and check the booking first."],
    }
    return {
        "summary": "The agent refunded without confirming.",
        "top_findings": ["issue_refund came right after get_booking"],
        "actions_next": ["Check the policy"],
        "hypotheses": [hypothesis],
        "fixes": [fix],
    }


CASES = [
    FixCase("rule removed", lambda p: [x for x in p if x != RULE], {"revert-suspect": "verified"}),
    FixCase(
        "rule weakened",
        lambda p: ["Confirm the refund amount with the customer when it seems useful." if x == RULE else x for x in p],
        {"revert-suspect": "verified"},
    ),
    FixCase(
        "value changed",
        lambda p: ["Never refund more than 1000 dollars." if x == LIMIT else x for x in p],
        {"revert-suspect": "verified"},
    ),
    FixCase(
        "distractor-only PR",
        lambda p: p,
        {},
        base=lambda p: [x for x in p if x != RULE],
        readme_only=True,
    ),
    FixCase("flaky eval", lambda p: [x for x in p if x != RULE], {"revert-suspect": "inconclusive"}, flaky=True),
    FixCase(
        "wrong model fix",
        lambda p: [x for x in p if x != RULE],
        {"revert-suspect": "verified", "model": "refuted"},
        synthesis=_wrong_model_fix(),
    ),
]


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def make_repository(where: Path, case: FixCase, eval_script: str) -> tuple[Path, str, str]:
    """The toy repository with its base commit and the pull request's; returns (repo, base, head)."""
    repo = where / "repo"
    (repo / "prompts").mkdir(parents=True)
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "config", "user.email", "dev@example.com")
    _git(repo, "config", "user.name", "Dev")
    (repo / "prompts" / "policy.md").write_text("\n".join(case.base(POLICY)) + "\n")
    (repo / "agent.py").write_text(AGENT)
    (repo / "eval.sh").write_text(eval_script)
    (repo / "README.md").write_text("# Refund agent\n\nRun `bash eval.sh`.\n")
    (repo / ".gitignore").write_text("results.json\nrefinery-artifacts/\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-q", "-m", "base")
    base = _git(repo, "rev-parse", "HEAD")
    if case.readme_only:
        (repo / "README.md").write_text("# Refund agent\n\nRun `bash eval.sh` to check the refund flow.\n")
    else:
        (repo / "prompts" / "policy.md").write_text("\n".join(case.change(case.base(POLICY))) + "\n")
    _git(repo, "commit", "-q", "-am", "PR")
    return repo, base, _git(repo, "rev-parse", "HEAD")


def pr_files(repo: Path, base: str, head: str) -> list[dict[str, Any]]:
    """The PR's files as the GitHub API lists them, a patch per file, from the real diff."""
    out = []
    for path in _git(repo, "diff", "--name-only", f"{base}...{head}").splitlines():
        patch = _git(repo, "diff", f"{base}...{head}", "--", path).split("\n@@", 1)[1]
        out.append({"filename": path, "patch": "@@" + patch})
    return out


@dataclass
class CaseResult:
    name: str
    truth: dict[str, str]
    got: dict[str, str]
    seconds: float
    eval_seconds: dict[str, float]
    eval_runs: dict[str, int]
    suggestions: int
    cost_usd: float | None

    @property
    def right(self) -> bool:
        return self.got == self.truth


def run_case(case: FixCase, scratch: Path) -> CaseResult:
    """The action on the case's pull request, with verification, and what became of each fix."""
    from tests.fakes.github_api import FakeGitHub
    from tests.fakes.openai_api import FakeOpenAI, Step, reply
    from tests.integration.test_action_run import HEAD, run_action, verify_checkout_env

    counter = scratch / f"flaky-{uuid.uuid4().hex}"
    repo, base, head = make_repository(scratch / "git", case, FLAKY.format(counter=counter) if case.flaky else EVAL)
    with FakeGitHub() as github, FakeOpenAI() as openai:
        github.add_pull(2, HEAD, files=pr_files(repo, base, head))
        if case.synthesis is not None:
            openai.script(Step("auto"), Step("auto"), Step("auto"), reply(case.synthesis))
        env = verify_checkout_env(
            scratch, github, openai, repo, "bash eval.sh", trace_file="results.json", verify_runs="3"
        )
        checkout = Path(env["GITHUB_WORKSPACE"])
        subprocess.run(["python3", "agent.py", "results.json"], cwd=checkout, check=True)  # the failing run
        counter.unlink(missing_ok=True)
        started = time.perf_counter()
        code, log = run_action(env)
        seconds = time.perf_counter() - started
        if code != 0:
            raise RuntimeError(f"{case.name}: the action exited {code}:\n{log[-2000:]}")
        suggestions = len(github.review_comments_on(2))
    pack = json.loads(next((checkout / "refinery-artifacts").glob("trace-*/hypothesis-pack.json")).read_text())
    got, spent, runs = {}, {}, {}
    for fix in pack["fixes"]:
        check = fix.get("verification") or {}
        got[fix["source"]] = check.get("verdict", "not verified")
        # The fix's own runs, and its share of the control's (run once for every fix).
        durations = check.get("durations", [])
        control = sum(durations[check.get("runs", 0) :]) / max(1, len(pack["fixes"]))
        spent[fix["source"]] = sum(durations[: check.get("runs", 0)]) + control
        runs[fix["source"]] = check.get("runs", 0) + check.get("control_runs", 0)
    cost = (pack.get("usage") or {}).get("cost_usd")
    return CaseResult(case.name, case.truth, got, seconds, spent, runs, suggestions, cost)


def run(out: Results) -> None:
    try:
        from tests.fakes.github_api import require_node_tools

        require_node_tools()
    except BaseException as exc:  # pytest.skip raises a BaseException subclass
        out.skipped("Fixes and verification", f"the GitHub fake's tools are absent ({exc})")
        return
    results = []
    for case in CASES:
        with tempfile.TemporaryDirectory(prefix="refinery-fixes-") as scratch:
            results.append(run_case(case, Path(scratch)))
    _write(out, results)


def _cell(values: dict[str, Any], fmt: Callable[[Any], str]) -> str:
    return "; ".join(f"{source}: {fmt(value)}" for source, value in values.items()) or "no fix"


def _write(out: Results, results: list[CaseResult]) -> None:
    out.heading("Fixes: from the failing trace to a fix shown to work")
    out.para((__doc__ or "").split("\n\n", 1)[1].replace("\n", " "))
    rows = [
        [
            r.name,
            _cell(r.truth, str),
            _cell(r.got, str),
            "yes" if r.right else "**no**",
            r.suggestions,
            f"{r.seconds:.2f}",
            _cell(r.eval_seconds, lambda s: f"{s:.2f} s"),
            _cell(r.eval_runs, str),
            f"${r.cost_usd:.4f}" if r.cost_usd is not None else "n/a",
        ]
        for r in results
    ]
    out.table(
        [
            "case",
            "truth",
            "Refinery",
            "right",
            "suggestions posted",
            "action s (to the posted comment)",
            "verification, eval s per fix",
            "eval runs per fix",
            "model cost (fake's tokens)",
        ],
        rows,
        right=4,
    )
    right = sum(r.right for r in results)
    out.figure("Fix verdicts against the truth (toy repository)", f"{right} of {len(results)}", "every case")
    median = sorted(r.seconds for r in results)[len(results) // 2]
    out.figure("Failing trace to posted suggestion, median (verification included)", f"{median:.2f} s", "")
