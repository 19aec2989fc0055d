"""A run that crashed at its end is a finding, never the origin (``triage/rules/crashes.py``).

The logs are Who&When ``history`` logs of a Magentic-One team, where the framework's stderr (a
traceback from the OpenAI SDK, then the scenario's fallback answer) is printed into the last message.
"""

from __future__ import annotations

from typing import Any

from refinery.analysis.grouping import group_failures
from refinery.analysis.orchestrator import offline_result
from refinery.pipeline import prepare
from refinery.report.comment import build_comment
from refinery.trace.files.chat import load_history
from refinery.trace.model import Trace
from refinery.triage import run_triage
from refinery.triage.ending import crash_report, cut_off, exception_type

FILTERED = (
    "openai.BadRequestError: Error code: 400 - {'error': {'code': 'content_filter', 'message': \"The response "
    "was filtered due to the prompt triggering Azure OpenAI's content management policy.\"}}"
)


def traceback(exception: str) -> str:
    return (
        "Traceback (most recent call last):\n"
        '  File "/usr/local/lib/python3.11/site-packages/autogen_magentic_one/agents/orchestrator.py", line 216\n'
        "    response = await self._model_client.create(messages)\n"
        "               ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^\n"
        '  File "/usr/local/lib/python3.11/site-packages/openai/_base_client.py", line 1638, in _request\n'
        "    raise self._make_status_error_from_response(err.response) from None\n"
        f"{exception}\n"
    )


def team(
    last: str, question: str = "Which city is on the horizon?", after: list[dict[str, Any]] | None = None
) -> Trace:
    history = [
        {"role": "human", "content": question},
        {"role": "Orchestrator (-> WebSurfer)", "content": "Please open the archive of August 2015 and read it."},
        {"role": "WebSurfer", "content": last},
        *(after or []),
    ]
    log = {"question": question, "question_ID": question, "is_corrected": False, "ground_truth": "Chicago"}
    [trace] = load_history(log | {"history": history})
    return trace


PAGE = "I clicked 'Archive 2015'. The page lists the pictures of August 2015."
CRASHED = f"{PAGE}\n{traceback(FILTERED)}/workspace/scenario.py:116: UserWarning: model mismatch\nFINAL ANSWER: Paris"


def test_a_run_that_ends_on_a_traceback_crashed_there_and_the_exception_is_the_evidence() -> None:
    trace = team(CRASHED)
    triage = run_triage(trace)
    [crash] = [f for f in triage.findings if f.rule == "crashed"]
    last = f"R{trace.runs[-1].order:04d}"
    assert (crash.section, crash.agent, crash.severity) == (last, "WebSurfer", "high")
    assert crash.evidence == FILTERED  # the exception, not the warning printed after it
    assert crash.category == "Service Errors"  # no known shape: a crash is the system failing to run
    assert crash.explanation == (
        "The run stopped here on an exception, not because it finished: whatever answer it gave "
        "was not reached by its own work. Fix or retry what raised it before reading the answer."
    )
    assert triage.origin is None or triage.origin.finding_id != crash.id  # a symptom, never the origin
    assert f"how it ended: crashed at {last}, not finished" in triage.checked
    assert "failures along the way: 0" in triage.checked  # no step of the system under test failed


def test_a_crash_of_a_known_shape_takes_that_shapes_category() -> None:
    [crash] = [
        f
        for f in run_triage(team(f"{PAGE}\n{traceback('openai.APIConnectionError: Connection error.')}")).findings
        if f.rule == "crashed"
    ]
    assert (crash.evidence, crash.category) == ("openai.APIConnectionError: Connection error.", "Service Errors")
    rate = traceback("openai.RateLimitError: Error code: 429 - rate limit reached for gpt-4o")
    [limited] = [f for f in run_triage(team(f"{PAGE}\n{rate}")).findings if f.rule == "crashed"]
    assert limited.category == "Rate Limiting"


def test_the_exception_is_the_last_of_a_chain_and_the_first_line_at_the_margin_after_its_frames() -> None:
    chained = (
        traceback("httpx.ConnectError: [Errno 111] Connection refused")
        + "\nThe above exception was the direct cause of the following exception:\n\n"
        + traceback("openai.APIConnectionError: Connection error.")
    )
    assert crash_report(chained) == "openai.APIConnectionError: Connection error."
    assert crash_report('Traceback (most recent call last):\n  File "x.py", line 1\n') is None
    assert crash_report("The page explains what a traceback is.") is None


def test_a_traceback_the_run_went_on_past_is_no_crash() -> None:
    trace = team(
        CRASHED, after=[{"role": "Orchestrator (thought)", "content": "The web surfer hit an error; I will retry."}]
    )
    triage = run_triage(trace)
    assert not [f for f in triage.findings if f.rule == "crashed"]
    assert not [line for line in triage.checked if line.startswith("how it ended")]


def test_an_executors_report_of_the_agents_failed_code_is_that_codes_failure_not_a_crash() -> None:
    report = "exitcode: 1 (execution failed)\nCode output: " + traceback("ZeroDivisionError: division by zero")
    history = [
        {"role": "assistant", "name": "Coder", "content": "Computing the ratio:\n```python\nprint(1/0)\n```"},
        {"role": "user", "name": "Computer_terminal", "content": report},
    ]
    [trace] = load_history({"question": "What is the ratio?", "is_correct": False, "history": history})
    assert not [f for f in run_triage(trace).findings if f.rule == "crashed"]
    assert cut_off(trace.runs[-1]) == "it crashed"  # the run still did not decide to stop


def test_the_comment_says_under_the_trace_that_a_crashed_run_did_not_finish_and_crashes_cluster() -> None:
    trace = team(CRASHED)
    lead = build_comment([offline_result(prepare(trace))], marker="<!-- m -->").split("<details>")[0]
    [line] = [line for line in lead.splitlines() if "did not finish" in line]
    assert line == f"  - the run did not finish: crashed at R{trace.runs[-1].order:04d}, `{FILTERED}`"
    # Azure's own body, as the logs hold it: long enough to say why the provider refused, then cut
    azure = FILTERED.replace(
        "{'error': {",
        "{'error': {'inner_error': {'code': 'ResponsibleAIPolicyViolation', 'content_filter_results': "
        "{'jailbreak': {'filtered': True, 'detected': True}}}, ",
    )
    cut = build_comment([offline_result(prepare(team(f"{PAGE}\n{traceback(azure)}")))], marker="<!-- m -->")
    [line] = [line for line in cut.split("<details>")[0].splitlines() if "did not finish" in line]
    assert "'code': 'content_filter'" in line and line.endswith("…`")
    other = team(CRASHED, question="Who won the race in 2019?")
    [group] = group_failures([offline_result(prepare(trace)), offline_result(prepare(other))])
    assert (group.title, group.cause, group.count) == ("the run: Service Errors", FILTERED, 2)


def test_runs_that_crashed_on_the_same_exception_type_cluster_whatever_its_details() -> None:
    violence = FILTERED.replace("'code': 'content_filter'", "'code': 'content_filter', 'violence': {'filtered': True}")
    filtered = [
        team(f"{PAGE}\n{traceback(FILTERED)}"),
        team(f"{PAGE}\n{traceback(violence)}", question="Who won the race in 2019?"),
    ]
    dropped = team(f"{PAGE}\n{traceback('openai.APIConnectionError: Connection error.')}", question="How far?")
    groups = group_failures([offline_result(prepare(t)) for t in [*filtered, dropped]])
    assert [(g.count, g.cause) for g in groups] == [
        (2, "openai.BadRequestError: Error code: 400 …"),  # the opening up to the bracket their details open
        (1, "openai.APIConnectionError: Connection error."),
    ]


def test_an_exception_type_is_the_dotted_name_that_opens_the_line() -> None:
    assert exception_type(FILTERED) == "openai.BadRequestError"
    assert exception_type("KeyError: 'order_id'") == "KeyError"
    assert exception_type("  _internal.Stop") == "_internal.Stop"
    assert exception_type("Error code: 400 - bad request") is None  # words, not a type
    assert exception_type("404: not found") is None


def test_crashes_of_one_type_cluster_even_when_their_messages_share_few_words() -> None:
    image = "openai.BadRequestError: Error code: 400 - {'error': {'message': 'Invalid image URL', 'param': 'url'}}"
    runs = [team(f"{PAGE}\n{traceback(FILTERED)}"), team(f"{PAGE}\n{traceback(image)}", question="What is shown?")]
    [group] = group_failures([offline_result(prepare(t)) for t in runs])
    assert (group.count, group.cause) == (2, "openai.BadRequestError: Error code: 400 …")


def test_a_traceback_with_its_frames_elided_still_names_its_exception() -> None:
    assert crash_report("Traceback (most recent call last):\nKeyError: 'order_id'\n") == "KeyError: 'order_id'"
    assert crash_report("Traceback (most recent call last):\n File \"a.py\", line 1\nKeyError: 'x'") == "KeyError: 'x'"


def test_a_last_step_that_failed_outright_is_its_own_error_not_a_second_crash() -> None:
    from tests.builders import TraceBuilder

    b = TraceBuilder("agent")
    error = traceback("openai.APIConnectionError: Connection error.")
    b.add("call_model", b.root, "llm", error=error, status="error", outputs={"output": error})
    rules = [f.rule for f in run_triage(b.build()).findings]
    assert "run_error" in rules and "crashed" not in rules
    lone = TraceBuilder("agent", outputs={"output": f"partial\n{traceback('RuntimeError: stopped')}"}).build()
    assert [f.section for f in run_triage(lone).findings if f.rule == "crashed"] == ["R0000"]  # a lone run is the last


def test_a_traceback_quoted_in_a_code_block_is_shown_not_raised() -> None:
    printed = traceback("KeyError: 'sku'")
    quoted = f"The export failed; here is what Python printed:\n```\n{printed}```\nFix the key."
    assert not [f for f in run_triage(team(quoted)).findings if f.rule == "crashed"]
    assert [f.rule for f in run_triage(team(f"{quoted}\n{traceback(FILTERED)}")).findings if f.rule == "crashed"] == [
        "crashed"
    ]  # a traceback outside the block still ends the run


def test_a_models_words_or_a_calls_result_ending_on_a_traceback_is_no_crash_of_the_run() -> None:
    from tests.builders import TraceBuilder

    printed = traceback("ZeroDivisionError: division by zero")
    tool = TraceBuilder(outputs={"output": "done"})
    tool.llm(tool.root, "Running the script.")
    tool.add("run_python", tool.root, "tool", inputs={"code": "1/0"}, outputs={"output": printed})
    assert [f.rule for f in run_triage(tool.build()).findings] == ["tool_output_error"]  # the tool's own failure
    model = TraceBuilder(outputs={"output": "done"})
    model.llm(model.root, f"Your script failed like this:\n{printed}")
    assert not [f for f in run_triage(model.build()).findings if f.rule == "crashed"]
