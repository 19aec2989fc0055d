"""What one run analyses, read by the CLI from its options and by the action from its inputs."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from refinery.pipeline import PrepareOptions

_OWN_KEYS = ("INPUT_", "REFINERY_", "OPENAI_", "ANTHROPIC_", "GEMINI_", "GOOGLE_API_KEY", "LANGSMITH_", "LANGCHAIN_")


def eval_environment(environ: dict[str, str]) -> dict[str, str]:
    """``environ`` without Refinery's inputs and model or tracing keys: the user's eval is the pull
    request's code and gets nothing Refinery was given."""
    return {k: v for k, v in environ.items() if not k.startswith(_OWN_KEYS)}


@dataclass(frozen=True)
class BaselineRequest:
    """A passing run asked for explicitly; without one, a passing repetition or twin is looked for."""

    file: str | None = None
    """A file holding the passing run (its passing trace of the same task, or the one ``trace_id`` names)."""
    trace_id: str | None = None
    """A passing trace: in ``file``, else in the files read, else on LangSmith."""
    experiment: str | None = None
    """A LangSmith experiment (the base branch's) whose run of the same example is the baseline."""


@dataclass(frozen=True)
class RunRequest:
    """Where the traces come from and where the results go. Limits and switches are in Settings."""

    out_dir: Path
    """Where the artifacts are written."""
    files: tuple[str, ...] = ()
    """Trace files or globs (relative ones under ``root``)."""
    trace_ids: tuple[str, ...] = ()
    """Traces named: picked from ``files`` when files are given, else fetched from LangSmith."""
    project: str | None = None
    """A LangSmith project (or experiment) to select failing traces from, when no file or id is given."""
    experiment: bool = False
    """``project`` is an experiment: every root is read and each example counts once."""
    since: datetime | None = None
    """Only traces started since (project selection)."""
    fmt: str = "auto"
    """The files' format."""
    root: Path = field(default_factory=Path.cwd)
    """Where relative file patterns are resolved (the workspace, or the current directory)."""
    flat: bool = False
    """When the run holds one trace, write its artifacts straight into ``out_dir`` (the CLI's way)."""
    store_id: str | None = None
    """A vector store made by ``refinery init`` to reuse (one trace only)."""
    baseline: BaselineRequest = field(default_factory=BaselineRequest)
    prepare: PrepareOptions = field(default_factory=PrepareOptions)
    """How each trace is redacted, judged and rendered."""
    now: datetime | None = None
    """generated_at for the packs (SOURCE_DATE_EPOCH makes a run reproducible)."""
    verify_env: dict[str, str] = field(default_factory=dict)
    """The environment the user's eval runs in (the entry point's, without Refinery's own keys)."""
    verify_refused: str | None = None
    """Why the fixes must not be verified here (a fork's code where the base repository's secrets are)."""
