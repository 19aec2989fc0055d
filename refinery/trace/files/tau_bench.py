"""tau-bench results: a list of ``{task_id, reward, info, traj, trial}``, one trace per element.

``traj`` is an OpenAI chat transcript (tool calls and results), read by the chat reader;
``reward`` becomes feedback, the task's expected ``actions`` and ``outputs`` become the
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
    feedback = [
        Feedback(
            key="reward",
            score=score_of(reward)[0],
            invalid_score=score_of(reward)[1],
            comment=_reward_comment(info.get("reward_info")),
            source="tau-bench",
            fails_below=1.0,
            run_id=trace.root.id,
        )
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


def _reward_comment(reward_info: Any) -> str | None:
    """What tau-bench says the reward is made of (which actions or outputs were missing)."""
    if not isinstance(reward_info, dict):
        return None
    parts = []
    info = reward_info.get("info")
    if isinstance(info, dict):
        for key, value in info.items():
            parts.append(f"{key}: {value}")
    if "reward" in reward_info:
        parts.insert(0, f"reward {reward_info['reward']}")
    return "; ".join(parts)[:2000] or None
