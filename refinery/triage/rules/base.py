"""The shape every triage rule has."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from refinery.compare.model import Divergence
from refinery.trace.model import Trace
from refinery.trace.roles import Roles
from refinery.triage.model import Finding


@dataclass(frozen=True)
class RuleOptions:
    """What a rule may be tuned by."""

    eval_threshold: float = 0.5
    """Feedback at or below this score is an eval gap."""
    divergence: Divergence | None = None
    """Where the run first parted from a passing run of the same task, when one was given."""
    roles: Roles = field(default_factory=lambda: Roles({}))
    """Whose step each run is (``Roles.of(trace)``); a run it does not list is the system's."""


Rule = Callable[[Trace, RuleOptions], list[Finding]]
"""A rule reads a (redacted) trace and returns what it saw; ids are assigned after ranking."""
