"""tau2-bench results: ``{info, tasks, simulations}``, one trace per simulation.

Messages are read as a chat transcript after mapping tau2's shapes onto OpenAI's: tool calls
``{id, name, arguments}`` and results carrying ``id`` and ``error``. The user is an LLM
simulator with tools of its own (telecom): its tool calls become tool runs of a
``user_simulator`` step. Per-message ``usage`` and ``cost`` are the agent's tokens and cost;
``reward_info`` becomes the reward feedback, and the task's ``evaluation_criteria`` the
reference outputs in evals.md. The domain policy tau2 gives the agent (``info.environment_info.policy``)
is its system prompt.
"""

from __future__ import annotations

import json
from typing import Any

from refinery.trace.files.chat import load_chat
from refinery.trace.model import Feedback, Run, Trace, score_of


def is_tau2_bench(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and isinstance(data.get("simulations"), list)
        and isinstance(data.get("tasks"), list)
        and all(isinstance(s, dict) and isinstance(s.get("messages"), list) for s in data["simulations"][:5])
    )


def _openai_message(msg: dict[str, Any]) -> dict[str, Any]:
    out = dict(msg)  # tau2's own keys (id, turn_idx, raw_data) are read by nobody and do no harm
    calls = msg.get("tool_calls")
    if msg.get("role") == "tool":
        out["tool_call_id"] = msg.get("id")
        return out
    if isinstance(calls, list) and calls:
        out["tool_calls"] = [
            {
                "id": call.get("id"),
                "type": "function",
                "function": {"name": call.get("name"), "arguments": json.dumps(call.get("arguments") or {})},
            }
            for call in calls
            if isinstance(call, dict)
        ]
        if msg.get("role") == "user":
            # The user simulator acted on its own device: an LLM step of the simulator, not user input.
            out["role"], out["name"] = "assistant", "user_simulator"
    if msg.get("role") == "user":
        out.pop("usage", None)  # the simulator's own tokens are not the agent's
        out.pop("cost", None)
    return out


def load_tau2_bench(data: dict[str, Any]) -> list[Trace]:
    tasks = {str(t.get("id")): t for t in data["tasks"] if isinstance(t, dict)}
    return [_one(sim, tasks, data.get("info")) for sim in data["simulations"]]


def _one(sim: dict[str, Any], tasks: dict[str, dict[str, Any]], info: Any) -> Trace:
    task_id, trial = str(sim.get("task_id")), sim.get("trial", 0)
    trace_id = str(sim.get("id") or f"tau2-{task_id}-trial{trial}")
    messages = [_openai_message(m) for m in sim["messages"] if isinstance(m, dict)]
    policy = _policy(info)
    if policy is not None and not any(m.get("role") == "system" for m in messages):
        messages.insert(0, {"role": "system", "content": policy})
    [trace] = load_chat({"id": trace_id, "name": f"task {task_id}", "messages": messages})
    task = tasks.get(task_id, {})
    reward_info: dict[str, Any] = sim["reward_info"] if isinstance(sim.get("reward_info"), dict) else {}
    reward = reward_info.get("reward")
    feedback = [
        Feedback(
            key="reward",
            score=score_of(reward)[0],
            invalid_score=score_of(reward)[1],
            comment=_reward_comment(reward_info),
            composed=True,
            source="tau2-bench",
            fails_below=1.0,
            run_id=trace.root.id,
        )
    ]
    criteria = task.get("evaluation_criteria") if isinstance(task.get("evaluation_criteria"), dict) else None
    scenario: dict[str, Any] = task["user_scenario"] if isinstance(task.get("user_scenario"), dict) else {}
    instructions = scenario.get("instructions")
    meta: dict[str, Any] = {
        "task_id": task_id,
        "trial": trial,
        **{k: sim[k] for k in ("termination_reason", "agent_cost", "user_cost", "duration", "seed") if k in sim},
    }
    if instructions is not None:
        meta["question"] = instructions if isinstance(instructions, str) else json.dumps(instructions)
    if isinstance(info, dict) and isinstance(info.get("agent_info"), dict):
        meta["agent_info"] = info["agent_info"]
    root = trace.root.model_copy(update={"cost": sim.get("agent_cost")})
    runs = _mark_simulator([root, *trace.runs[1:]])
    return trace.model_copy(
        update={
            "source": "file:tau2-bench",
            "feedback": feedback,
            "reference_outputs": {k: v for k, v in (criteria or {}).items() if v} or None,
            "metadata": meta,
            "runs": runs,
        }
    )


def _policy(info: Any) -> str | None:
    """The domain policy tau2 gives the agent as its system prompt (``info.environment_info.policy``)."""
    environment = info.get("environment_info") if isinstance(info, dict) else None
    policy = environment.get("policy") if isinstance(environment, dict) else None
    return policy if isinstance(policy, str) and policy.strip() else None


def _mark_simulator(runs: list[Run]) -> list[Run]:
    """The user simulator's steps and the tool calls it made are the user's, not the agent's."""
    simulator = {r.metadata.get("message_index") for r in runs if r.run_type == "llm" and r.name == "user_simulator"}
    return [
        r.model_copy(update={"actor": "user"}) if r.parent_id and r.metadata.get("message_index") in simulator else r
        for r in runs
    ]


def _reward_comment(info: dict[str, Any]) -> str | None:
    parts = []
    db = info.get("db_check")
    if isinstance(db, dict) and "db_match" in db:
        parts.append(f"database {'matches' if db['db_match'] else 'does not match'} the expected state")
    for check in info.get("env_assertions") or []:
        if isinstance(check, dict) and isinstance(check.get("env_assertion"), dict) and check.get("met") is False:
            parts.append(f"unmet: {check['env_assertion'].get('func_name')}")
    for check in info.get("action_checks") or []:
        if isinstance(check, dict) and isinstance(check.get("action"), dict) and check.get("action_match") is False:
            parts.append(f"expected action not taken: {check['action'].get('name')}")
    return "; ".join(parts) or None
