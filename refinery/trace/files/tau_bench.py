"""tau-bench results: a list of ``{task_id, reward, info, traj, trial}``, one trace per element.

``traj`` is an OpenAI chat transcript (tool calls and results), read by the chat reader;
``reward`` becomes feedback (its task checks, when recorded, decide the verdict), the task's expected ``actions`` and ``outputs`` become the
reference outputs shown in evals.md, and ``trial`` is kept as the repetition.
"""

from __future__ import annotations

from typing import Any

from refinery.trace.files.chat import load_chat
from refinery.trace.model import Feedback, Trace, score_of

_KEYS = {"task_id", "reward", "traj"}


def is_tau_bench(data: Any) -> bool:
    """A list of result records, each with ``task_id``, ``reward`` and a ``traj`` list."""
    return (
        isinstance(data, list)
        and bool(data)
        and all(isinstance(item, dict) and item.keys() >= _KEYS and isinstance(item["traj"], list) for item in data[:5])
    )


def load_tau_bench(data: list[dict[str, Any]]) -> list[Trace]:
    """Every result record as one trace."""
    return [_one(item) for item in data]


def _one(item: dict[str, Any]) -> Trace:
    task_id, trial = item["task_id"], item.get("trial", 0)
    trace_id = f"tau-bench-task{task_id}-trial{trial}"
    [trace] = load_chat({"id": trace_id, "name": f"task {task_id}", "messages": item["traj"]})
    info: dict[str, Any] = item["info"] if isinstance(item.get("info"), dict) else {}
    task: dict[str, Any] = info["task"] if isinstance(info.get("task"), dict) else {}
    reward = item.get("reward")
    checks = task_checks(info.get("reward_info"))
    feedback = [
        Feedback(
            key="reward",
            score=score_of(reward)[0],
            invalid_score=score_of(reward)[1],
            comment=_reward_comment(info.get("reward_info")),
            composed=True,
            source="tau-bench",
            fails_below=1.0,
            run_id=trace.root.id,
            informational=bool(checks),
        ),
        *(
            Feedback(
                key=key,
                score=value,
                source="tau-bench",
                fails_below=1.0,
                run_id=trace.root.id,
                comment=_CHECKS[key],
                composed=True,
            )
            for key, value in checks.items()
        ),
    ]
    expected = {k: task[k] for k in ("actions", "outputs") if task.get(k)}
    metadata = {
        **trace.metadata,
        "task_id": task_id,
        "trial": trial,
        **({"question": task["instruction"]} if isinstance(task.get("instruction"), str) else {}),
        **({"user_id": task["user_id"]} if task.get("user_id") else {}),
        **{k: v for k, v in info.items() if k not in ("task", "reward_info")},
    }
    return trace.model_copy(
        update={
            "source": "file:tau-bench",
            "feedback": feedback,
            "reference_outputs": expected or None,
            "metadata": metadata,
        }
    )


_CHECKS = {
    "r_actions": "1 when the database after the run matches the one the expected actions produce",
    "r_outputs": "1 when the answer holds every expected output",
}


def task_checks(reward_info: Any) -> dict[str, float]:
    """tau-bench's task checks (``r_actions``, ``r_outputs``), which its reward is made of.

    When a harness lowers the reward further (efficiency penalties, bonuses), the checks still say
    whether the task was done; the reward is then reported, and the checks decide."""
    info = reward_info.get("info") if isinstance(reward_info, dict) else None
    if not isinstance(info, dict):
        return {}
    checks = {key: score_of(info.get(key))[0] for key in _CHECKS}
    return {key: value for key, value in checks.items() if value is not None}


def _reward_comment(reward_info: Any) -> str | None:
    """What tau-bench says the reward is made of (which actions or outputs were missing)."""
    if not isinstance(reward_info, dict):
        return None
    info = reward_info.get("info")
    # A data hash tells a reader nothing; the checks and their values do.
    parts = [f"{k}: {v}" for k, v in info.items() if not k.endswith("hash")] if isinstance(info, dict) else []
    components = reward_info.get("components")
    if isinstance(components, dict):
        parts += [f"{k} {v:+g}" for k, v in components.items() if k.endswith(("penalty", "bonus")) and _number(v)]
    if "reward" in reward_info:
        parts.insert(0, f"reward {reward_info['reward']}")
    return "; ".join(parts)[:2000] or None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
