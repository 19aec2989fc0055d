"""Against a passing run: where the failing run went wrong, and what aligning two long runs costs.

**Accuracy.** Every failing tau-bench trial in ``../shared/datasets/real-traces/tau-bench/``
is paired with a passing run of the same task: the task's expected actions
(``info.task.actions``, the trajectory tau-bench grades against) written as a trial in
tau-bench's own results format, rewarded 1 (``oracle_record``). The reference point is the
failing trial's first wrong state-changing call against the expected state-changing calls,
or the expected call that never came (``reference_point``). Refinery's first divergence is
scored against it, beside the plain method: the first index where the two tool-call lists
differ. Trials whose state-changing calls all match have no reference and are counted apart.

**Scale.** Two synthetic 25,000-run traces, the second with one tool call's arguments changed
and one extra call, are read, their steps extracted, aligned and compared in a fresh process:
seconds and peak RSS.
"""

from __future__ import annotations

import gc
import json
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.child import peak_rss_mb, run_child
from benchmarks.results import Results

TAU = Path("datasets") / "real-traces" / "tau-bench" / "grok-3-airline-first24.json"
TIME_GOAL_S = 2.0
RSS_GOAL_MB = 400
# tau-bench's read-only tools (airline and retail): the rest change the database.
_READS = re.compile(r"^(get_|find_|list_|search_|calculate|think)")


def _args(value: Any) -> str:
    from refinery.compare.steps import normalize_args

    return normalize_args(value)


def _calls(record: dict[str, Any]) -> list[tuple[str, str]]:
    """The trial's tool calls, in order, as (name, normalized arguments)."""
    return [
        (call["function"]["name"], _args(call["function"]["arguments"]))
        for message in record["traj"]
        if message.get("role") == "assistant"
        for call in message.get("tool_calls") or []
    ]


def _expected(record: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["name"], _args(a["kwargs"])) for a in record["info"]["task"]["actions"]]


def oracle_record(record: dict[str, Any]) -> dict[str, Any]:
    """A passing trial of the same task: the expected actions, as tau-bench writes a trial."""
    observed = {}
    traj = record["traj"]
    for index, message in enumerate(traj):
        for call in message.get("tool_calls") or [] if message.get("role") == "assistant" else []:
            result = next(
                (m.get("content") for m in traj[index + 1 :] if m.get("tool_call_id") == call.get("id")), None
            )
            observed.setdefault((call["function"]["name"], _args(call["function"]["arguments"])), result)
    messages = [m for m in traj if m.get("role") in ("system", "user")][:2]
    for number, action in enumerate(record["info"]["task"]["actions"]):
        call_id = f"oracle_{number}"
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {"name": action["name"], "arguments": json.dumps(action["kwargs"])},
                    }
                ],
            }
        )
        result = observed.get((action["name"], _args(action["kwargs"])))
        messages.append({"role": "tool", "tool_call_id": call_id, "name": action["name"], "content": result or "{}"})
    messages.append({"role": "assistant", "content": "Done."})
    # As tau-bench scores a trial that took the expected actions: the database check passes too.
    info = {**record["info"], "reward_info": {"reward": 1.0, "info": {"r_actions": 1.0}, "actions": []}}
    return {**record, "trial": int(record.get("trial", 0)) + 100, "reward": 1.0, "traj": messages, "info": info}


def reference_point(record: dict[str, Any]) -> tuple[str, int] | None:
    """("wrong", i): the failing trial's i-th tool call is its first wrong state-changing call;
    ("missing", j): the j-th expected call never came; None: the state-changing calls all match."""
    calls = _calls(record)
    writes = [(i, c) for i, c in enumerate(calls) if not _READS.match(c[0])]
    expected = [(j, c) for j, c in enumerate(_expected(record)) if not _READS.match(c[0])]
    for (i, got), (_, want) in zip(writes, expected, strict=False):
        if got != want:
            return ("wrong", i)
    if len(writes) > len(expected):
        return ("wrong", writes[len(expected)][0])
    if len(expected) > len(writes):
        return ("missing", expected[len(writes)][0])
    return None


def plain_point(record: dict[str, Any]) -> tuple[str, int] | None:
    """The plain method: the first index where the two tool-call lists differ."""
    calls, expected = _calls(record), _expected(record)
    for index, (got, want) in enumerate(zip(calls, expected, strict=False)):
        if got != want:
            return ("wrong", index)
    if len(calls) > len(expected):
        return ("wrong", len(expected))
    if len(expected) > len(calls):
        return ("missing", len(calls))
    return None


def refinery_point(
    record: dict[str, Any], folder: Path, passing: dict[str, Any] | None = None
) -> tuple[str, int] | None:
    """Refinery's first divergence against ``passing`` (the expected actions by default), as the same kind of point."""
    from refinery.compare import compare_runs
    from refinery.trace.files import load_trace_files

    path = folder / f"task{record['task_id']}.json"
    path.write_text(json.dumps([record, passing or oracle_record(record)]))
    failing, passing = load_trace_files(path)
    compared = compare_runs(failing, passing, source="file")
    divergence = compared.comparison.divergence
    if divergence is None:
        return None
    tools = [s for s in compared.steps if s.kind == "tool"]
    if divergence.kind == "missing_step":
        first = next(d for d in compared.comparison.differences if d.detail == divergence.detail)
        assert first.baseline is not None
        baseline_tools = [s for s in compared.baseline_steps if s.kind == "tool"]
        return ("missing", next(i for i, s in enumerate(baseline_tools) if s.index == first.baseline.step - 1))
    return ("wrong", next(i for i, s in enumerate(tools) if s.run_id == divergence.run_id))


def _variants(record: dict[str, Any]) -> list[dict[str, Any]]:
    """Passing trials of the same task that a real rerun could produce: the expected actions as they are,
    with the reads before the first write in reverse order, and with an extra read and a thought
    added before the first write."""
    base = oracle_record(record)
    traj = base["traj"]
    head = [m for m in traj if m.get("role") in ("system", "user")]
    pairs = [(traj[i], traj[i + 1]) for i in range(len(head), len(traj) - 1, 2) if traj[i].get("tool_calls")]
    first_write = next(
        (i for i, (call, _) in enumerate(pairs) if not _READS.match(call["tool_calls"][0]["function"]["name"])),
        len(pairs),
    )
    reads, rest = pairs[:first_write], pairs[first_write:]
    reordered = [*head, *[m for p in reversed(reads) for m in p], *[m for p in rest for m in p], traj[-1]]
    extra_call = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "extra_0", "type": "function", "function": {"name": "think", "arguments": '{"thought": "checking"}'}},
    ]}  # fmt: skip
    extra = [
        *head,
        *[m for p in reads for m in p],
        extra_call,
        {"role": "tool", "tool_call_id": "extra_0", "name": "think", "content": ""},
        *([m for m in reads[0]] if reads else []),
        *[m for p in rest for m in p],
        traj[-1],
    ]
    return [
        base,
        {**base, "trial": base["trial"] + 1, "traj": reordered},
        {**base, "trial": base["trial"] + 2, "traj": extra},
    ]


def _failed(record: dict[str, Any]) -> bool:
    from refinery.trace.files.tau_bench import task_checks

    checks = task_checks(record["info"].get("reward_info"))
    return min(checks.values()) < 1 if checks else record["reward"] < 1


def accuracy(shared: Path) -> dict[str, Any]:
    """Exact and within-one-call accuracy against the reference, and stability over passing variants."""
    records = [r for r in json.loads((shared / TAU).read_text()) if _failed(r)]
    ours = plain = near = plain_near = scored = stable = 0
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for record in records:
            points = [refinery_point(record, Path(tmp), passing) for passing in _variants(record)]
            stable += len({p for p in points}) == 1
            reference = reference_point(record)
            if reference is None:
                continue
            scored += 1
            mine, theirs = points[0], plain_point(record)
            ours += mine == reference
            plain += theirs == reference
            near += mine is not None and mine[0] == reference[0] and abs(mine[1] - reference[1]) <= 1
            plain_near += theirs is not None and theirs[0] == reference[0] and abs(theirs[1] - reference[1]) <= 1
            rows.append((record["task_id"], reference, mine, theirs))
    return {
        "records": len(records),
        "scored": scored,
        "ours": ours,
        "plain": plain,
        "near": near,
        "plain_near": plain_near,
        "stable": stable,
        "rows": rows,
    }


def child(size: int) -> None:
    """In a fresh process: two synthetic traces of ``size`` runs, aligned and compared."""
    from benchmarks.synthetic import synthetic_runs
    from refinery.compare import compare_runs, summarize
    from refinery.trace.files.langsmith_export import load_langsmith

    failing_runs = synthetic_runs(size)
    passing_runs = json.loads(json.dumps(failing_runs))
    tools = [r for r in passing_runs if r["run_type"] == "tool"]
    changed = tools[len(tools) * 3 // 5]
    changed["inputs"] = {**(changed.get("inputs") or {}), "query": "a different query"}
    passing_runs.remove(tools[len(tools) // 3])  # the failing run has one call the passing run lacks
    texts = [json.dumps(failing_runs), json.dumps(passing_runs)]
    del failing_runs, passing_runs, tools, changed
    gc.collect()
    # As prepare() does with a baseline: each trace read, summarized for comparing (steps, prompt,
    # tools) and let go; here the failing one too, since aligning needs no more of it.
    from refinery.perf import gc_paused

    read = summarizing = 0.0
    summaries = []
    while texts:
        with gc_paused():
            started = time.perf_counter()
            trace = load_langsmith(json.loads(texts.pop(0)))[0]
            read += time.perf_counter() - started
            started = time.perf_counter()
            summaries.append(summarize(trace))
            summarizing += time.perf_counter() - started
        del trace
        gc.collect()
    started = time.perf_counter()
    compared = compare_runs(summaries[0], summaries[1], source="benchmark")
    seconds = summarizing + time.perf_counter() - started
    print(
        json.dumps(
            {
                "seconds": seconds,
                "read_seconds": read,
                "peak_mb": peak_rss_mb(),
                "steps": compared.comparison.steps,
                "baseline_steps": compared.comparison.baseline_steps,
                "differences": len(compared.comparison.differences),
                "divergence": compared.comparison.divergence.kind if compared.comparison.divergence else None,
            }
        )
    )


def run(out: Results, *, shared: Path, size: int = 25_000) -> None:
    out.heading("Against a passing run: divergence accuracy and alignment cost")
    scale = run_child("_child-align", str(size))
    out.para(
        f"**Alignment.** Two synthetic {size:,}-run traces (the passing one lacks one tool call and has another "
        "call's arguments changed; the failing one's errors removed from it), compared in a fresh process: "
        "steps extracted, Myers alignment, differences, baseline.md rendered. The traces are loaded before the "
        "clock starts; peak RSS includes them."
    )
    out.table(
        ["runs", "steps", "passing steps", "differences", "first divergence", "read s", "align s", "peak RSS MB"],
        [
            [
                f"{size:,}",
                f"{scale['steps']:,}",
                f"{scale['baseline_steps']:,}",
                scale["differences"],
                scale["divergence"] or "none",
                f"{scale['read_seconds']:.2f}",
                f"{scale['seconds']:.2f}",
                f"{scale['peak_mb']:.0f}",
            ]
        ],
    )
    out.figure(
        f"Aligning two {size:,}-run traces; peak RSS",
        f"{scale['seconds']:.2f} s; {scale['peak_mb']:.0f} MB",
        f"goal ≤{TIME_GOAL_S:g} s, ≤{RSS_GOAL_MB} MB",
    )
    if not (shared / TAU).is_file():
        out.skipped("Divergence accuracy", f"no tau-bench file at {shared / TAU}")
        return
    m = accuracy(shared)
    out.para(
        f"**Accuracy** on the {m['records']} failing tau-bench trials of `{TAU.name}` (failing by tau-bench's task "
        "checks), each paired with a passing run of its task built from `info.task.actions` (the trajectory "
        "tau-bench grades against) in tau-bench's results format. Reference: the failing trial's first wrong "
        "state-changing call, or the expected call that never came; "
        f"{m['records'] - m['scored']} trials whose state-changing calls all match have none. *Stability*: the same "
        "first divergence against three passing trials of the task (the expected actions; their reads in another "
        "order; an extra thought and a repeated read), of all failing trials."
    )
    out.table(
        ["method", "exact", "within one tool call", "of", "stable over 3 passing trials"],
        [
            [
                "Refinery (alignment; reads reordered or repeated and thoughts tolerated)",
                m["ours"],
                m["near"],
                m["scored"],
                f"{m['stable']} of {m['records']}",
            ],
            ["plain: first index where the tool-call lists differ", m["plain"], m["plain_near"], m["scored"], ""],
        ],
    )
    out.figure(
        "Divergence within one tool call of the first wrong state-changing call (tau-bench), Refinery / plain",
        f"{m['near']} / {m['plain_near']} of {m['scored']}",
        "goal ≥85 %",
    )
    out.figure("Divergence stable whichever passing trial is used", f"{m['stable']} of {m['records']}", "goal ≥90 %")
