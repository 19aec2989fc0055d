"""Everything the planner uses that talks to the outside world, built once by the composition root.

The entry points ask ``wiring.build_services`` once and pass the bundle down; nothing below them
builds a client. Each member is typed by the interface the planner needs, never by an SDK type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from refinery.analysis.cost import CostGuard
from refinery.analysis.providers.base import AnalysisProvider
from refinery.analysis.ratelimit import RateGate
from refinery.changes.model import ChangeSet
from refinery.report.publisher import Publisher
from refinery.trace.source import TraceSource

ProviderFactory = Callable[[], AnalysisProvider]
"""Builds one analysis provider for one trace (providers are not shared between threads)."""
ChangeReader = Callable[[], ChangeSet | None]
"""Reads the pull request's changes (the GitHub API, the workspace's git, a diff file), or None."""


class SourceFactory(Protocol):
    """A trace source on the run's one LangSmith client: for a project, or for reading by id."""

    def __call__(self, project: str | None = None, *, experiment: bool | None = None) -> TraceSource: ...


@dataclass(frozen=True)
class Services:
    """The run's connections to the outside world."""

    cost: CostGuard
    """The run's cost cap, shared by every trace."""
    gate: RateGate
    """The run's request rate gate, shared by every provider."""
    sources: SourceFactory
    """LangSmith (traces by id, selection in a project, baselines). Its client is built on first use,
    so a run that reads files needs no key, and a missing key is named where one is first needed."""
    make_provider: ProviderFactory | None = None
    """The model stages' provider; None runs the triage alone."""
    read_changes: ChangeReader | None = None
    """The pull request's changes, when there is a pull request (or a diff) to read."""
    publishers: Sequence[Publisher] = field(default_factory=tuple)
    """Where the run's results go besides the artifacts (the GitHub publisher in the action)."""
    started_at: Callable[[], datetime | None] | None = None
    """When the workflow run that ran the evals started (the action's default ``since``)."""
