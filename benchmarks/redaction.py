"""Redaction: throughput on a large trace, recall on the planted secrets, beside detect-secrets.

Throughput is Refinery's default redactor (the action's path: shapes, context, the configured
keys; no PII, no custom patterns) over every string of a synthetic trace, in MB of string
text per second, median of three passes. Recall counts the planted values of
``tests/hostile/planted.py`` that survive anywhere in the redacted hostile files. detect-secrets
(Yelp's scanner, whose plugins the rule set follows) runs line by line over a slice of the same
strings with its regex plugins only, as the reference it was measured against.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.results import ROOT, Results

SLICE_MB = 2.0
"""How much of the text detect-secrets scans (it is two orders of magnitude slower)."""
DETECT_SECRETS_PLUGINS = [
    "ArtifactoryDetector",
    "AWSKeyDetector",
    "AzureStorageKeyDetector",
    "BasicAuthDetector",
    "CloudantDetector",
    "DiscordBotTokenDetector",
    "GitHubTokenDetector",
    "GitLabTokenDetector",
    "IbmCloudIamDetector",
    "IbmCosHmacDetector",
    "JwtTokenDetector",
    "KeywordDetector",
    "MailchimpDetector",
    "NpmDetector",
    "OpenAIDetector",
    "PrivateKeyDetector",
    "PypiTokenDetector",
    "SendGridDetector",
    "SlackDetector",
    "SoftlayerDetector",
    "SquareOAuthDetector",
    "StripeDetector",
    "TelegramBotTokenDetector",
    "TwilioKeyDetector",
]


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            out.append(str(key))
            _strings(item, out)
    elif isinstance(value, list):
        for item in value:
            _strings(item, out)


def _trace_strings(trace: Any) -> list[str]:
    out: list[str] = []
    for run in trace.runs:
        out.append(run.name)
        for part in (run.inputs, run.outputs, run.error, run.metadata, run.events, run.tags):
            _strings(part, out)
    return out


def _throughput(size: int) -> tuple[float, float, float]:
    """(MB of string text, median seconds, MB/s) of the default redactor over a SIZE-run trace."""
    from benchmarks.synthetic import synthetic_runs
    from refinery.documents.redact import Redactor
    from refinery.perf import gc_paused
    from refinery.trace.files import load_trace_file

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "trace.json"
        path.write_text(json.dumps(synthetic_runs(size)))
        trace = load_trace_file(path)
    mb = sum(len(s.encode()) for s in _trace_strings(trace)) / 1e6
    times = []
    for _ in range(3):
        redactor = Redactor(known_secrets=["configured-key-0123456789", "lsv2_pt_" + "0" * 32 + "_" + "1" * 10])
        with gc_paused():
            start = time.perf_counter()
            redactor.trace(trace)
            times.append(time.perf_counter() - start)
    seconds = statistics.median(times)
    return mb, seconds, mb / seconds


def _recall() -> tuple[int, int, list[str]]:
    """(planted values caught, planted values, the ones that survived) over the hostile files."""
    from refinery.documents.redact import Redactor
    from refinery.trace.files import load_trace_file
    from tests.hostile import planted

    configured = [planted.CONFIGURED_GITHUB_TOKEN, planted.CONFIGURED_OPENAI_KEY]
    survived: set[str] = set()
    for path in sorted((ROOT / "tests" / "hostile" / "planted").glob("*.json")):
        text = Redactor(known_secrets=configured).trace(load_trace_file(path)).model_dump_json()
        survived |= {s for s in planted.SECRETS if s in text}
    return len(planted.SECRETS) - len(survived), len(planted.SECRETS), sorted(survived)


def _detect_secrets(strings: list[str]) -> tuple[float, float] | None:
    """(MB scanned, MB/s) for detect-secrets' regex plugins, or None when it is not installed."""
    try:
        from detect_secrets.core.scan import scan_line
        from detect_secrets.settings import transient_settings
    except ImportError:
        return None
    chosen, total = [], 0
    for text in strings:
        if total > SLICE_MB * 1e6:
            break
        chosen.append(text)
        total += len(text.encode())
    with transient_settings({"plugins_used": [{"name": n} for n in DETECT_SECRETS_PLUGINS]}):
        start = time.perf_counter()
        for text in chosen:
            for line in text.splitlines() or [text]:
                for _ in scan_line(line):
                    pass
        seconds = time.perf_counter() - start
    return total / 1e6, total / 1e6 / seconds


def run(out: Results, *, size: int, shared: Path | None = None, smoke: bool = False) -> None:
    out.heading("Redaction")
    out.para(
        "The action's default redactor (secret shapes, field and assignment names, URL credentials, the "
        "configured keys; no PII, no custom patterns) over every string of a synthetic trace: MB of string "
        "text per second, median of three passes. Recall: planted values of every class "
        "(`tests/hostile/planted.py`) that no longer appear anywhere in the five redacted hostile files."
    )
    mb, seconds, rate = _throughput(size)
    caught, planted, survived = _recall()
    rows = [["Refinery", f"{size:,}-run trace", f"{mb:.1f}", f"{seconds:.2f}", f"{rate:.1f}"]]
    from benchmarks.synthetic import synthetic_runs

    strings: list[str] = []
    _strings(synthetic_runs(min(size, 2_000)), strings)
    reference = _detect_secrets(strings)
    if reference is not None:
        ref_mb, ref_rate = reference
        rows.append(["detect-secrets, regex plugins", "slice of the same text", f"{ref_mb:.1f}", "", f"{ref_rate:.2f}"])
    out.table(["redactor", "input", "MB", "s", "MB/s"], rows)
    if reference is None:
        out.skipped("The detect-secrets row", "detect-secrets is not installed (`pip install -e '.[dev]'`)")
    out.figure(f"Redaction throughput, {size:,}-run trace", f"{rate:.1f} MB/s", "25,000-run prepare ≤3 s")
    out.figure(
        "Planted secrets caught (hostile files, every format)",
        f"{caught} of {planted}" + (f" (missed: {', '.join(survived)})" if survived else ""),
        "all",
    )
    from benchmarks import redaction_rules

    redaction_rules.linear_rows(out, (16_000, 64_000) if smoke else redaction_rules.SIZES)
    redaction_rules.gitleaks_rows(out)
    redaction_rules.false_replacement_rows(out, shared)
    redaction_rules.sigterm_row(out, repeats=1 if smoke else 3)
