"""mini-swe-agent trajectories: ``{info, messages, trajectory_format, instance_id}``.

The messages are an OpenAI chat transcript (read by the chat reader, which takes each
step's tokens and model from ``extra.response``); ``info`` adds the exit status, the
submission and the run's cost.
"""

from __future__ import annotations

from typing import Any

from refinery.trace.files.chat import load_chat
from refinery.trace.files.swe_agent import SUBMITTED
from refinery.trace.model import Feedback, Trace


def is_mini_swe_agent(data: Any) -> bool:
    return (
        isinstance(data, dict)
        and isinstance(data.get("messages"), list)
        and isinstance(data.get("info"), dict)
        and ("mini_version" in data["info"] or str(data.get("trajectory_format", "")).startswith("mini-swe-agent"))
    )


def load_mini_swe_agent(data: dict[str, Any]) -> list[Trace]:
    info: dict[str, Any] = data["info"]
    trace_id = str(data.get("instance_id") or "mini-swe-agent")
    [trace] = load_chat({"id": trace_id, "name": "mini-swe-agent", "messages": data["messages"]})
    exit_status = info.get("exit_status")
    feedback = (
        [
            Feedback(
                key="exit_status",
                score=1.0 if exit_status.lower() in SUBMITTED else 0.0,
                value=exit_status,
                source="mini-swe-agent",
                fails_below=1.0,
            )
        ]
        if isinstance(exit_status, str)
        else []
    )
    stats = info.get("model_stats") if isinstance(info.get("model_stats"), dict) else {}
    meta = {
        "instance_id": trace_id,
        "trajectory_format": data.get("trajectory_format"),
        **{k: v for k, v in info.items() if k not in ("submission", "config")},
    }
    root = trace.root.model_copy(
        update={
            "outputs": {"submission": info["submission"]} if info.get("submission") else trace.root.outputs,
            "cost": (stats or {}).get("instance_cost"),
        }
    )
    return [
        trace.model_copy(
            update={
                "source": "file:mini-swe-agent",
                "feedback": feedback,
                "metadata": meta,
                "runs": [root, *trace.runs[1:]],
            }
        )
    ]
