"""Mutation testing of the modules that decide what Refinery claims (``python -m benchmarks mutation``).

mutmut 3 mutates one module group at a time in a throwaway copy of the repository
(``benchmarks/out/mutation/<group>/``) and runs, for each mutant, only the tests that cover the
mutated function (mutmut's own per-function test map). A mutant is *killed* when a test fails,
*survives* when none does, and has *no tests* when no test reaches it (counted as surviving:
an untested line is an unchecked claim). Mutants listed in ``mutation_equivalent.json`` change
nothing a user could observe; each carries its reason and is left out of the score.

The scores go to ``benchmarks/mutation.json`` (read by ``python -m benchmarks all`` into
RESULTS.md, since the run is too long for CI) and every survivor's diff to
``benchmarks/mutation-survivors.md``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.results import ROOT, SHARED, Results

OUT = ROOT / "benchmarks" / "out" / "mutation"
SCORES = ROOT / "benchmarks" / "mutation.json"
SURVIVORS = ROOT / "benchmarks" / "mutation-survivors.md"
EQUIVALENT = ROOT / "benchmarks" / "mutation_equivalent.json"
GOAL = 0.90


def _unit(*names: str) -> tuple[str, ...]:
    return tuple(f"tests/unit/test_{name}.py" for name in names)


def _integration(*names: str) -> tuple[str, ...]:
    return tuple(f"tests/integration/test_{name}.py" for name in names)


@dataclass(frozen=True)
class Group:
    """One module group: what is mutated and which tests may kill it."""

    sources: tuple[str, ...]
    """Globs under the repository, as mutmut's ``only_mutate`` reads them."""
    tests: tuple[str, ...]
    """The group's own tests: the tests written for these modules, not every test that happens to
    pass through them. A mutant that only a distant test (a whole action run) notices is a gap in
    the module's tests, and running the whole suite for every survivor is what made one run take
    hours."""
    waits: bool = False
    """Its tests spend much of their time waiting (the user's eval in git worktrees, a deadline, a
    loopback server), not computing: twice as many mutants are tested at a time as the run's
    ``--children`` (the cores stay busy)."""


GROUPS: dict[str, Group] = {
    "compare": Group(
        ("refinery/compare/*",),
        (*_unit("compare", "compare_boundaries"), *_integration("divergence_sentences")),
    ),
    "changes": Group(
        ("refinery/changes/*",),
        (
            *_unit("changes_edges", "diff_reading", "rank_boundaries", "fixes"),
            *_integration("attribution"),
        ),
        waits=True,
    ),
    "selection": Group(
        ("refinery/trace/source.py", "refinery/trace/langsmith.py", "refinery/planner/collect.py"),
        (*_unit("collect", "selection_rules"), *_integration("langsmith_source", "langsmith_selection")),
    ),
    "cost": Group(("refinery/analysis/cost.py",), (*_unit("cost"), *_integration("limits"))),
    "redaction": Group(
        ("refinery/documents/redact.py", "refinery/report/sanitize.py"),
        _unit("redact", "redact_linear", "sanitize_edges", "gitleaks_rules", "untrusted_text"),
    ),
    # The producers' own files (../shared/datasets/real-traces, examples/) read field by field. The
    # producers' live runs behind Prism (tests/integration/test_genai_producers.py) start a server per
    # mutant and would take hours here; they stay in the suite.
    "readers": Group(
        ("refinery/trace/bounds.py", "refinery/trace/files/*"),
        _unit("readers", "bounds", "files", "langsmith_export", "span_attributes", "final_answer"),
    ),
    "annotations": Group(
        ("refinery/github/annotations.py", "refinery/analysis/grouping.py"),
        _unit("annotations", "grouping", "crashes"),
    ),
    # The planner's steps as the entry points build it (test_planner_steps: files, a trace source of
    # our own interface, the OpenAI fake, the user's eval in git worktrees). test_planner.py's
    # CLI-and-action runs (16 s, mostly the GitHub fake behind Prism) stay in the suite: every
    # surviving mutant would run them.
    # Where the failure began and whose it was: the claims this phase is about. The checks on the
    # labelled real failures (test_origin_labelled: every case triaged, about a second) stay in the
    # suite, not in the group: every surviving mutant would pay for them.
    "origin": Group(
        (
            "refinery/triage/origin.py",
            "refinery/triage/workers.py",
            "refinery/triage/ending.py",
            "refinery/triage/rules/limits.py",
            "refinery/triage/rules/crashes.py",
            "refinery/triage/rules/loops.py",
            "refinery/triage/confidence.py",
            "refinery/triage/recovery.py",
            "refinery/triage/cause.py",
            "refinery/trace/roles.py",
            "refinery/report/agreement.py",
        ),
        _unit(
            "origin",
            "origin_choice",
            "confidence",
            "roles_recovery_cause",
            "workers",
            "ending",
            "crashes",
            "final_answer",
            "triage",
            "agreement",
        ),
    ),
    # What the report's timeline shows of each run: trace text, one line, inert; what a long trace keeps.
    "timeline": Group(("refinery/report/timeline.py",), _unit("timeline")),
    "planner": Group(
        (
            "refinery/planner/run.py",
            "refinery/planner/triage.py",
            "refinery/planner/enrich.py",
            "refinery/planner/analyse.py",
            "refinery/planner/state.py",
        ),
        (*_unit("untrusted_text"), *_integration("planner_steps")),
        waits=True,
    ),
}
"""The issue's module groups; ``--module`` picks one."""

KILLED = {"killed", "timeout"}
"""A mutant that makes its tests hang is caught: the suite never passes with it."""
SKIPPED = {"skipped", "not checked", "caught by type check"}


def _copy_repository(work: Path) -> None:
    """The committed repository (HEAD), without the Node tools (the tests find them through
    REFINERY_NODE_TOOLS: mutmut would copy half a gigabyte of them into every work tree). Not the
    working tree: a file being edited while a group starts would be scored half-written, and the
    score is recorded against HEAD's commit."""
    _checkout_of(work, "HEAD")


def _checkout_of(work: Path, ref: str) -> None:
    """The repository as it was at ``ref``, code and tests, in place of whatever ``work`` held."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "x", "--exclude=tests/tools/*", "-C", str(work)], input=archive, check=True)
    made = subprocess.run(["git", "rev-parse", "--short", ref], cwd=ROOT, capture_output=True, text=True)
    (work.parent / f"{work.name}.commit").write_text(made.stdout.strip() or ref)


def copied_commit(work: Path) -> str | None:
    """The commit a group's work copy was made from (a resumed or harvested run is scored under it)."""
    marker = work.parent / f"{work.name}.commit"
    return marker.read_text().strip() if marker.exists() else None


def _configure(work: Path, group: Group) -> None:
    tops = sorted(p.name for p in work.iterdir() if p.name not in {"refinery", "mutants", "pyproject.toml"})
    section = {
        "source_paths": ["refinery"],
        "only_mutate": list(group.sources),
        "also_copy": [t for t in tops if t != "tests"],
        "pytest_add_cli_args_test_selection": list(group.tests),
        # The architecture tests read the source, which mutmut rewrites into trampolines.
        # benchmarks.mutation_order: a mutant's tests run fastest first, so a kill comes early.
        "pytest_add_cli_args": [
            "-p",
            "no:cacheprovider",
            "-p",
            "benchmarks.mutation_order",
            "-q",
            "--ignore=tests/unit/test_architecture.py",
        ],
        # Workers fork from a server that has collected the tests once: about twice the mutants a
        # second of forking mutmut's own process, which re-collects them for every mutant.
        "process_isolation": "forkserver",
        # A mutant that loops is stopped after twice its tests' own time (plus 1 s): mutmut's
        # default (15x) spends half an hour on the loops a single `i += 1` mutation makes.
        "timeout_multiplier": 2.0,
        "timeout_constant": 1.0,
    }
    lines = ["", "[tool.mutmut]"] + [f"{key} = {json.dumps(value)}" for key, value in section.items()]
    pyproject = work / "pyproject.toml"
    pyproject.write_text(pyproject.read_text() + "\n".join(lines) + "\n")


_DUMP = """
import json, sys
from mutmut.__main__ import walk_mutatable_files, SourceFileMutationData, status_by_exit_code, get_diff_for_mutant
rows = []
for path in walk_mutatable_files():
    data = SourceFileMutationData(path=path)
    data.load()
    for name, code in data.exit_code_by_key.items():
        status = status_by_exit_code[code]
        diff = get_diff_for_mutant(name, path=path) if status not in ("killed",) else ""
        rows.append({"name": name, "path": str(path), "status": status, "diff": diff})
json.dump(rows, sys.stdout)
"""


def mutant_key(row: dict[str, str]) -> str:
    """A mutant's identity across runs: its function and the lines it changes, not its number
    (numbers shift when code above them changes)."""
    function = row["name"].rsplit("__mutmut_", 1)[0]
    changed = [line for line in row["diff"].splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    return function + ":" + hashlib.sha256("\n".join(changed).encode()).hexdigest()[:12]


def run_group(
    name: str,
    group: Group,
    *,
    children: int,
    tests_of: str | None = None,
    resume: bool = False,
    harvest: bool = False,
) -> dict[str, Any]:
    """Mutate one group and return its counts and survivors (``tests_of``: the repository as it was at
    that commit; ``resume``: go on in the work tree an interrupted run left, keeping its verdicts;
    ``harvest``: only read the verdicts an interrupted run left, the unchecked mutants counted apart)."""
    work = OUT / name
    if not (resume and (work / "mutants").is_dir()):
        _copy_repository(work)
        if tests_of:
            _checkout_of(work, tests_of)
        _configure(work, group)
    env = {
        **os.environ,
        "REFINERY_SHARED_DIR": str(SHARED),
        "REFINERY_NODE_TOOLS": str(ROOT / "tests" / "tools"),
        # The LangSmith fake without Prism in front: a worker the run stops would leave its Prism
        # running, and a hundred of them exhaust the machine's file watches (the suite checks the contract).
        "REFINERY_TESTS_WITHOUT_CONTRACT": "1",
        "CI": "",
        "PYTHONHASHSEED": "0",
    }
    mutmut = Path(sys.executable).with_name("mutmut")
    started = time.monotonic()
    log = work / "mutmut.log"
    if not harvest:
        with log.open("w") as out:
            done = subprocess.run(
                [str(mutmut), "run", "--max-children", str(children * 2 if group.waits else children)],
                cwd=work,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if done.returncode != 0:
            raise RuntimeError(f"mutmut failed on {name} (exit {done.returncode}); see {log}")
    seconds = time.monotonic() - started
    dumped = subprocess.run(
        [sys.executable, "-c", _DUMP], cwd=work, env=env, capture_output=True, text=True, check=True
    )
    rows = json.loads(dumped.stdout)
    equivalent = json.loads(EQUIVALENT.read_text()) if EQUIVALENT.exists() else {}
    counted = [r for r in rows if r["status"] not in SKIPPED]
    for row in counted:
        row["key"] = mutant_key(row)
    listed = [r for r in counted if r["key"] in equivalent and r["status"] not in KILLED]
    scored = [r for r in counted if r not in listed]
    killed = sum(r["status"] in KILLED for r in scored)
    return {
        "mutants": len(rows),
        "scored": len(scored),
        "killed": killed,
        "equivalent": len(listed),
        "no_tests": sum(r["status"] == "no tests" for r in scored),
        "timeouts": sum(r["status"] == "timeout" for r in scored),
        "unchecked": sum(r["status"] == "not checked" for r in rows),
        "seconds": round(seconds),
        "survivors": [r for r in scored if r["status"] not in KILLED],
        "equivalents": [{"key": r["key"], "reason": equivalent[r["key"]]} for r in listed],
    }


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def run(
    out: Results,
    *,
    modules: list[str],
    children: int,
    before: str | None,
    resume: bool = False,
    harvest: bool = False,
) -> None:
    """Run the chosen groups, keep their scores in mutation.json and their survivors in
    mutation-survivors.md, then print the table. ``before``: a commit whose code and tests give the
    "before" figures instead (its survivors are not written)."""
    survivors: dict[str, list[dict[str, str]]] = {}
    scored: dict[str, dict[str, Any]] = {}
    kept = json.loads(SCORES.read_text())["after"] if SCORES.exists() else {}
    for name in modules:
        print(f"mutating {name} ({', '.join(GROUPS[name].sources)})", flush=True)
        result = run_group(
            name, GROUPS[name], children=children, tests_of=before, resume=resume or harvest, harvest=harvest
        )
        found = result.pop("survivors")
        result["commit"] = before or copied_commit(OUT / name) or _commit()
        earlier = kept.get(name, {})
        if harvest and earlier.get("commit") == result["commit"]:
            result["seconds"] = earlier.get("seconds", 0)  # re-scored (equivalents listed since), not re-run
        if before is None:
            survivors[name] = found
        scored[name] = result
    # Read again at the end: another group's run may have written its scores meanwhile.
    stored = json.loads(SCORES.read_text()) if SCORES.exists() else {"before": {}, "after": {}}
    stored["before" if before else "after"].update(scored)
    SCORES.write_text(json.dumps(stored, indent=2, sort_keys=True) + "\n")
    if survivors:
        _write_survivors(survivors)
    report(out, stored)
    section = Results(echo=False)
    report(section, stored)
    update_results(RESULTS, section.lines)


RESULTS = ROOT / "benchmarks" / "RESULTS.md"
HEADING = "## Mutation testing"


def update_results(path: Path, lines: list[str]) -> None:
    """Put the mutation section into RESULTS.md in place (the rest of the file, measured by
    ``python -m benchmarks all``, is left as it is), or add it at the end."""
    if not path.exists():
        return
    text = path.read_text()
    section = "\n".join(lines).strip() + "\n"
    start = text.find(HEADING + "\n")
    if start < 0:
        path.write_text(text.rstrip("\n") + "\n\n" + section)
        return
    end = text.find("\n## ", start + len(HEADING))
    path.write_text(text[:start] + section + ("\n" + text[end + 1 :] if end >= 0 else ""))


def _write_survivors(survivors: dict[str, list[dict[str, str]]]) -> None:
    """Rewrite the groups just run in mutation-survivors.md; keep the others' sections."""
    sections: dict[str, str] = {}
    if SURVIVORS.exists():
        for chunk in SURVIVORS.read_text().split("\n## ")[1:]:
            title, _, body = chunk.partition("\n")
            sections[title.strip()] = body
    for name, rows in survivors.items():
        lines = [""]
        for row in rows:
            lines += [
                f"### `{row['name']}` ({row['status']}; key `{row['key']}`)",
                "",
                "```diff",
                row["diff"].strip(),
                "```",
                "",
            ]
        sections[name] = "\n".join(lines) if rows else "\nNone.\n"
    text = [
        "# Surviving mutants",
        "",
        "Written by `python -m benchmarks mutation`; how to read one: tests/README.md.",
        "",
    ]
    for name in sorted(sections):
        text += [f"## {name}", sections[name].rstrip(), ""]
    SURVIVORS.write_text("\n".join(text))


def _score(row: dict[str, Any] | None) -> str:
    if not row:
        return "not run"
    killed, scored = int(row["killed"]), int(row["scored"])
    partial = f", {row['unchecked']} not yet checked" if row.get("unchecked") else ""
    return f"{killed}/{scored} ({percent_down(killed, scored)}{partial})" if scored else "no mutants"


def percent_down(part: int, whole: int) -> str:
    """``99.5%`` for 1178 of 1183: one decimal, rounded down, so a score never reads as reaching a
    goal (90%, or all killed) it has not reached."""
    return f"{math.floor(1000 * part / whole) / 10:.1f}%"


def report(out: Results, stored: dict[str, dict[str, dict[str, Any]]] | None = None) -> None:
    """The table RESULTS.md shows: before and after per group, with the equivalents' reasons."""
    if stored is None:
        if not SCORES.exists():
            out.skipped("Mutation testing", "python -m benchmarks mutation has not been run")
            return
        stored = json.loads(SCORES.read_text())
    out.heading("Mutation testing")
    out.para(
        "`python -m benchmarks mutation [--module GROUP]` (mutmut 3, each mutant against the tests that cover "
        "its function; not part of CI: it takes too long). Killed includes timeouts; mutants no test reaches "
        f"count as surviving. Goal: at least {GOAL:.0%} per group. Survivors: `benchmarks/mutation-survivors.md`."
    )
    rows = []
    for name, group in GROUPS.items():
        before, after = stored["before"].get(name), stored["after"].get(name)
        rows.append(
            [
                name,
                ", ".join(s.removeprefix("refinery/") for s in group.sources),
                _score(before),
                _score(after),
                after.get("equivalent", 0) if after else "",
                after.get("no_tests", 0) if after else "",
                (f"{int(after['seconds']) / 60:.0f} min" if not after.get("unchecked") else "stopped") if after else "",
                after.get("commit", "") if after else "",
            ]
        )
    out.table(["group", "modules", "before", "after", "equivalent", "no tests", "time", "commit"], rows, right=2)
    finished = [row for row in stored["after"].values() if not row.get("unchecked")]
    if len(finished) == len(GROUPS):
        total = sum(int(row["seconds"]) for row in finished) / 60
        waiting = [name for name, group in GROUPS.items() if group.waits]
        out.para(
            f"The whole run, every group one after another (two mutants at a time; four for {', '.join(waiting)}, "
            f"whose tests mostly wait): {total:.0f} min ({'within' if total < 60 else 'over'} the hour this "
            "2-core machine allows)."
        )
    equivalents = [e for row in stored["after"].values() for e in row.get("equivalents", [])]
    if equivalents:
        out.para("Equivalent mutants (left out of the score):")
        for item in equivalents:
            out.add(f"- `{item['key']}`: {item['reason']}")
        out.add()
