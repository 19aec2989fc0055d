"""Redaction, measured the way issue 23 asks: linear time against the engine it replaced, recall on
gitleaks' own true positives rule by rule, its false positives kept, false replacements on the real
traces, and a SIGTERM while a 2 MB string is being redacted."""

from __future__ import annotations

import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from types import ModuleType
from typing import Any

from benchmarks.results import ROOT, Results

SIZES = (16_000, 256_000, 2_000_000)
# The shapes that made the old key=value rule quadratic, and the ones that cost the new scanner most.
SHAPES = {
    "a run near a trigger word": lambda n: "token " + "a" * n + " http://",
    "hex, then a URL": lambda n: "0123456789abcdef" * (n // 16) + " https://x.example/cb?auth=",
    "key= repeated": lambda n: "key=" * (n // 4),
    "a sensitive name, a word, repeated": lambda n: "password: see " * (n // 14),
    "Authorization: repeated": lambda n: "Authorization: " * (n // 15),
}
OLD_ENGINE_COMMIT = "981b1fa"
"""The last commit with the Python-``re`` redactor, measured beside RE2 on the same texts."""
OLD_ENGINE_CAP_S = 20.0


def _old_engine() -> ModuleType | None:
    """The redactor this one replaced, loaded from git history (None outside a git checkout)."""
    done = subprocess.run(
        ["git", "show", f"{OLD_ENGINE_COMMIT}:refinery/documents/redact.py"], cwd=ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        return None
    path = Path(tempfile.mkdtemp()) / "old_redact.py"
    path.write_text(done.stdout)
    spec = importlib.util.spec_from_file_location("old_redact", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_redact"] = module
    spec.loader.exec_module(module)
    return module


def _seconds(redactor: Any, text: str) -> float:
    start = time.perf_counter()
    redactor.text(text)
    return time.perf_counter() - start


def linear_rows(out: Results, sizes: tuple[int, ...] = SIZES) -> None:
    from refinery.documents.redact import Redactor

    old = _old_engine()
    rows = []
    worst_ratio = 0.0
    for name, shape in SHAPES.items():
        times = [_seconds(Redactor(), shape(size)) for size in sizes]
        ratio = times[-1] / max(times[-2], 1e-6) if len(times) > 1 else 0.0
        worst_ratio = max(worst_ratio, ratio if times[-1] > 0.05 else 0.0)
        before = "" if old is None else _old_times(old, shape)
        rows.append([name, *(f"{t:.3f}" for t in times), f"{ratio:.1f}", before])
    heads = ["text", *(f"{s // 1000:,} KB s" for s in sizes), "last / previous", f"before ({OLD_ENGINE_COMMIT}), s"]
    out.para(
        "**Linear time.** One string of each shape, redacted whole by the action's redactor (RE2): seconds at "
        f"each size. Before: the Python-`re` redactor of {OLD_ENGINE_COMMIT} on the same shapes at 2, 8 and 16 KB "
        f"(stopped past {OLD_ENGINE_CAP_S:g} s)."
    )
    out.table(heads, rows)
    out.figure("Redaction of adversarial text: 2 MB / 256 KB time, worst shape", f"{worst_ratio:.1f}", "≤10 (linear)")


def _old_times(old: ModuleType, shape: Any) -> str:
    parts = []
    for size in (2_000, 8_000, 16_000):
        try:
            seconds = _seconds(old.Redactor(), shape(size))
        except RecursionError:  # the old context rule recursed into each value it rejected
            parts.append(f"{size // 1000} KB: RecursionError")
            break
        parts.append(f"{size // 1000} KB: {seconds:.2f}")
        if seconds > OLD_ENGINE_CAP_S / 4:
            break
    return "; ".join(parts)


def gitleaks_rows(out: Results) -> None:
    from benchmarks.gitleaks_corpus import Reference, true_positives
    from benchmarks.gitleaks_literals import LITERAL_FPS, LITERAL_TPS
    from refinery.documents.redact import Redactor
    from refinery.documents.secrets.gitleaks import gitleaks_rules, global_allow

    cases, undrawn = true_positives()
    rules = {r.name: r for r in gitleaks_rules()}
    for name, texts in LITERAL_TPS.items():
        reference = Reference(rules[name], global_allow())
        for text in texts:
            cases += [type(cases[0])(name, text, s, "literal") for s in reference.secrets(text)]
    redactor = Redactor()
    missed = Counter(c.rule for c in cases if c.secret in redactor.text(c.text))
    covered = {c.rule for c in cases}
    caught_rules = [r for r in covered if not missed[r]]
    fps = [(rule, text) for rule, texts in LITERAL_FPS.items() for text in texts]
    kept = sum(Redactor().text(text) == text for _, text in fps)
    out.para(
        f"**gitleaks' rules.** All {len(rules)} content rules of gitleaks' default set (vendored, MIT), each "
        "against its own true positives: drawn from the rule's pattern alone and in gitleaks' "
        "`GenerateSampleSecrets` contexts, as gitleaks makes them (kept only when gitleaks' own semantics flag "
        f"them), and its literal ones ({sum(len(v) for v in LITERAL_TPS.values())}, "
        f"`benchmarks/gitleaks_literals.py`). {len(undrawn)} rules no draw reached ({', '.join(undrawn)}) have "
        "literal cases instead."
    )
    out.table(
        ["rules with cases", "rules with every case redacted", "true positives", "survived", "false positives kept"],
        [
            [
                f"{len(covered)} of {len(rules)}",
                f"{len(caught_rules)}",
                f"{len(cases):,}",
                f"{sum(missed.values())}" + (f" ({', '.join(sorted(missed))})" if missed else ""),
                f"{kept} of {len(fps)}",
            ]
        ],
    )
    out.figure(
        "gitleaks rules whose every true positive is redacted", f"{len(caught_rules)} of {len(rules)}", "every rule"
    )


def false_replacement_rows(out: Results, shared: Path | None) -> None:
    """Every replacement on the shared real traces and the Who&When logs, by rule, with its judgement."""
    if shared is None or not (shared / "datasets").is_dir():
        out.skipped("False replacements on real traces", "../shared is absent")
        return
    from refinery.documents.redact import Redactor
    from refinery.trace.files import load_trace_files

    sets = {
        "real traces (16 files, 8 producers)": sorted(
            p for p in (shared / "datasets" / "real-traces").rglob("*") if p.is_file() and p.suffix != ".md"
        ),
        "Who&When logs (123)": sorted((shared / "datasets" / "who-and-when").rglob("*.json")),
    }
    redactor = Redactor()
    rows = []
    for name, paths in sets.items():
        found: Counter[tuple[str, str]] = Counter()
        strings = 0
        for path in paths:
            try:
                traces = load_trace_files(path, "auto")
            except Exception:  # a file no reader takes is the fidelity benchmark's to report
                continue
            for trace in traces:
                for text in _strings(trace):
                    strings += 1
                    for span in redactor._scanner.spans(text):
                        found[(span.name, text[span.start : span.end][:24])] += 1
        judged = ", ".join(f"{rule} `{value}…` ×{n}" for (rule, value), n in found.most_common(6)) or "none"
        rows.append([name, f"{strings:,}", f"{sum(found.values())}", judged])
    out.para(
        "**False replacements** (precision). Every string of the shared real traces and the Who&When logs, "
        "redacted: what was replaced, by rule and value. None of these files holds a live credential. "
        "The origin-trial token some Who&When web pages embed (`SystemEntropyOriginTrialToken`) is a public "
        "token whose name says token and whose value has a credential's shape: no principle that keeps it "
        "would not also keep a secret of the same form, so it is counted here as a false replacement."
    )
    out.table(["data", "strings", "replacements", "replaced (rule, value, times)"], rows)


def _strings(trace: Any) -> list[str]:
    out: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                out.append(str(key))
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for run in trace.runs:
        out.append(run.name)
        for part in (run.inputs, run.outputs, run.error, run.metadata):
            walk(part)
    return out


def sigterm_row(out: Results, repeats: int = 3) -> None:
    """SIGTERM to the action process while it redacts 2 MB strings: seconds to exit, and what it published."""
    times = []
    published = []
    for _ in range(repeats):
        seconds, summary = _one_sigterm()
        times.append(seconds)
        published.append("cancelled" in summary.lower())
    median = statistics.median(times)
    out.para(
        "**SIGTERM while redacting.** The action on eight traces each holding a 2.1 MB string of the costliest "
        "shape (a sensitive name and a rejected word, repeated); SIGTERM one second into the triage. Seconds "
        f"from the signal to the process's exit, median of {repeats}; the job summary written with the "
        "triage done and a cancelled note each time: "
        f"{sum(published)} of {repeats}."
    )
    out.figure("SIGTERM to exit while redacting a 2 MB string", f"{median:.2f} s", "≤5 s, triage published")


def _one_sigterm() -> tuple[float, str]:
    import json
    import signal

    from tests.fakes.github_api import FakeGitHub
    from tests.integration.test_action_run import action_env, pr_event
    from tests.integration.test_cancellation import spawn

    hostile = "password: see " * 150_000
    with tempfile.TemporaryDirectory() as tmp, FakeGitHub() as github:
        root = Path(tmp)
        github.add_pull(2, "ec26c3e57ca3a959ca5aad62de7213c562f8c821")
        env = action_env(root, github, "pull_request", pr_event(github.repo), trace_file="*.json")
        workspace = Path(env["GITHUB_WORKSPACE"])
        (workspace / "trace.json").unlink()
        for index in range(8):
            data = json.loads((ROOT / "examples" / "rate-limit-cascade.json").read_text())
            for run in data["runs"]:
                for key in ("id", "trace_id", "parent_run_id"):
                    if run.get(key):
                        run[key] = run[key][:-4] + f"{index:04d}"
            data["runs"][-1]["outputs"] = {"output": hostile}
            (workspace / f"huge-{index}.json").write_text(json.dumps(data))
        process = spawn([sys.executable, str(ROOT / "entrypoint.py")], env)
        assert process.stdout is not None
        while "Refinery: triaging" not in process.stdout.readline():
            pass
        time.sleep(1.0)
        process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        process.communicate(timeout=60)
        return time.monotonic() - signalled, (root / "summary").read_text()
