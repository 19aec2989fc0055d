"""The one planner: the same steps, in the same order, for the CLI and the action.

collect → select → redact once → triage → cluster → enrich (baseline, changes) → analyse the
representatives → report → publish. The planner owns the run's state; publishers get
snapshots of it (the triage as soon as it is done, the results at the end), in that order.
A failure in an optional step is a warning; a failure of one trace never sinks the others.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Protocol

from refinery.analysis.control import Cancelled, RunControl
from refinery.changes.model import ChangeSet
from refinery.errors import RefineryError
from refinery.pipeline import PrepareOptions, add_model_fixes
from refinery.planner.analyse import BatchOptions, Job, TraceOutcome, analyse_traces, trace_dir_name
from refinery.planner.collect import Selection, collect_and_select
from refinery.planner.enrich import (
    BaselineFinder,
    OptionalSteps,
    enrich_representatives,
    proposed_fixes,
    verify_deadline,
    verify_prepared,
)
from refinery.planner.request import RunRequest
from refinery.planner.services import Services
from refinery.planner.state import RunState
from refinery.planner.triage import Plan, plan_analysis
from refinery.report.artifacts import write_artifacts
from refinery.report.comment import build_comment, sticky_marker
from refinery.settings import Settings
from refinery.words import plural

CLEANUP_S = 2.5
"""After a cancellation, how long the deletion of what the run created may take."""


class PlanLog(Protocol):
    """Where the planner says what it does: the action's log (with groups) or the CLI's stderr."""

    def info(self, message: str) -> None: ...

    def warning(self, message: str) -> None: ...

    def group(self, title: str) -> AbstractContextManager[None]: ...


class Planner:
    """Runs one request through every step, keeping what each step produced in ``state``."""

    def __init__(
        self, request: RunRequest, settings: Settings, services: Services, control: RunControl, log: PlanLog
    ) -> None:
        self.request = request
        self.settings = settings
        self.services = services
        self.control = control
        self.log = log
        self.state = RunState()
        self.steps = OptionalSteps(log.warning, self.state.warnings)
        self._verify_by: float | None = None
        """When all verification must be done: set when the first fix is verified (``verify-budget``)."""

    @property
    def uses_model(self) -> bool:
        """The composition root builds no provider offline or without a key."""
        return self.services.make_provider is not None

    def run(self) -> RunState:
        """Every step up to the analysis. A cancellation or a RefineryError ends the run with what it has."""
        try:
            self._run()
        except Cancelled as exc:
            self.state.cancelled = exc.one_line()
            self.log.warning(exc.one_line())
        except RefineryError as exc:
            self.state.fail(exc.one_line())
            self.state.fatal = exc  # the entry point says it: the action's log, the CLI's exit code
        return self.state

    def _run(self) -> None:
        with self.log.group("Refinery: collecting traces"), self.control.interruptible_section():
            selection = collect_and_select(self.request, self.settings, self.services, self.log.info)
        first = selection.collected.first_error
        if selection.read == 0 and first is not None and len(selection.collected.failures) == 1:
            raise first  # the one input could not be read: that is the run's error, said once
        self._not_analysed(selection.collected.failures)
        self.state.read, self.state.failing = selection.read, selection.failing
        if not selection.traces:
            # Said once, by the entry point: the CLI on stdout, the action in its closing line and `summary`.
            self.state.idle = self.nothing_to_do()
            return
        plan = self._triage(selection)
        if not plan.representatives or self.control.cancelled:
            return
        self._publish_triage(plan)
        changes = self.steps.run("The pull request's changes could not be read", self._read_changes)
        finder = BaselineFinder(self.request.baseline, selection, self.services, self.settings)
        # Fixes are checked against the checkout the changes were read for: the run's root.
        options = replace(self.request.prepare, workspace=self.request.prepare.workspace or self.request.root)
        enrich_representatives(plan.representatives, finder, changes, options, self.steps, self.log.info)
        self._verify(plan)
        outcomes = self._analyse(plan)
        self._model_fixes(outcomes, changes, options)
        self._record(outcomes)

    def _not_analysed(self, failures: list[str]) -> None:
        """Inputs or traces that could not be read or triaged: each an error, and the others go on."""
        for failure in failures:
            self.state.fail(failure, unanalysed=True)
            self.log.warning(f"Not analysed: {failure}")

    def nothing_to_do(self) -> str:
        """Why nothing is analysed: no failing trace among those read (and how many were read)."""
        if self.request.project and not (self.request.files or self.request.trace_ids):
            since = f" started since {self.request.since.isoformat()}" if self.request.since else ""
            return f"No failing traces in {self.request.project!r}{since}."
        if self.state.read:
            return (
                f"No failing traces among the {plural(self.state.read, 'trace')} read: none errored, and no feedback "
                f"scored at or below {self.settings.max_score:g}. Use --all (action input `all-traces`) or "
                "--trace-id to analyse them anyway."
            )
        return "No traces were read."

    def _read_changes(self) -> ChangeSet | None:
        return self.services.read_changes() if self.services.read_changes is not None else None

    def _triage(self, selection: Selection) -> Plan:
        with self.log.group(f"Refinery: triaging {plural(len(selection.traces), 'trace')}"):
            # Redacting a huge trace is CPU work a signal cannot interrupt by itself: it checks the run.
            options = replace(self.request.prepare, checkpoint=lambda: self.control.check("the triage"))
            plan = plan_analysis(
                selection.traces,
                options=options,
                selections=selection.selected,
                max_traces=self.settings.max_traces,
                log=self.log.info,
            )
            self.state.plan = plan
            if self.control.cancelled and len(plan.triaged) + len(plan.failures) < len(selection.traces):
                self.state.notices.append(
                    f"Cancelled during the triage: {len(plan.triaged)} of {plural(len(selection.traces), 'trace')} "
                    "were triaged; the others are not in this report."
                )
            self._not_analysed(plan.failures)
            for triaged in plan.others:  # triage only: their artifacts, listed under their cluster
                folder = self.request.out_dir / trace_dir_name(triaged.number, triaged.trace)
                write_artifacts(triaged.offline(), folder, now=self.request.now)
            self.log.info(
                f"{plural(len(plan.groups), 'failure cluster')}; the model stages run on "
                f"{plural(len(plan.representatives), 'representative')}"
                if self.uses_model
                else f"{plural(len(plan.groups), 'failure cluster')}; triage only (no model)"
            )
        return plan

    def _publish_triage(self, plan: Plan) -> None:
        """The triage goes out as soon as it is done, while the baseline, the changes and the stages take
        their time; each publisher edits it when the run ends."""
        if not self.uses_model:
            return  # the triage is the whole result: published once, at the end
        reps = plan.representatives
        running = (
            f"Diagnosis running: the model stages are analysing {plural(len(reps), 'representative trace')}; "
            "this comment is edited when they end."
        )
        report = self.state.report(self.settings.fail_on, running=running, items=[t.offline() for t in reps])
        for publisher in self.services.publishers:
            publisher.start(report)

    def _verify_deadline(self) -> float:
        if self._verify_by is None:
            self._verify_by = verify_deadline(self.settings)
        return self._verify_by

    def _verify(self, plan: Plan) -> None:
        """Re-run the user's eval without and with each representative's fixes, when asked (an optional step)."""
        command = self.settings.verify_command
        with_fixes = [t for t in plan.representatives if t.prepared.fixes]
        if not command or not with_fixes:
            return
        if self.request.verify_refused:
            self.log.warning(f"The fixes were not verified: {self.request.verify_refused}.")
            return
        for triaged in with_fixes:
            if self.control.cancelled:
                return
            with self.control.interruptible_section():  # SIGTERM stops the eval at once, not after its timeout
                verified = self.steps.run(
                    f"trace {triaged.trace.id}: the fix was not verified",
                    partial(
                        verify_prepared,
                        triaged.prepared,
                        self.request.root,
                        self.settings,
                        triaged.selection,
                        self.request.verify_env,
                        self._verify_deadline(),
                    ),
                )
            if verified is not None:
                triaged.prepared = verified
                first = verified.fixes[0].verification
                if first is not None:
                    self.log.info(f"trace {triaged.trace.id}: fix {first.verdict}: it {first.sentence}")

    def _analyse(self, plan: Plan) -> list[TraceOutcome]:
        reps = plan.representatives
        options = BatchOptions(
            out_dir=self.request.out_dir,
            concurrency=self.settings.concurrency,
            flat=self.request.flat and len(plan.triaged) == 1,
            store_id=self.request.store_id,
            now=self.request.now,
        )
        workers = max(1, min(self.settings.concurrency, len(reps)))
        with self.log.group(f"Refinery: analysing {plural(len(reps), 'trace')}, {workers} at a time"):
            outcomes = analyse_traces(
                [Job(t.prepared, t.selection, t.number) for t in reps],
                options,
                make_provider=self.services.make_provider,
                log=self.log.info,
                control=self.control,
                cost=self.services.cost,
            )
        return outcomes

    def _model_fixes(self, outcomes: list[TraceOutcome], changes: ChangeSet | None, options: PrepareOptions) -> None:
        """The synthesis stage's fixes: checked against the checkout like the revert fix, verified when
        asked, and the trace's artifacts written again with them (an optional step)."""
        for outcome in outcomes:
            result = outcome.result
            proposed = proposed_fixes(result.synthesis if result is not None else None)
            if result is None or outcome.artifacts is None or not proposed or self.control.cancelled:
                continue
            checked = self.steps.run(
                f"trace {outcome.trace.id}: the model's fixes were not checked",
                partial(add_model_fixes, result.prepared, proposed, changes, options),
            )
            if checked is None:
                continue
            verify = self.settings.verify_command and not self.request.verify_refused
            if verify and any(f.verification is None for f in checked.fixes):
                with self.control.interruptible_section():
                    verified = self.steps.run(
                        f"trace {outcome.trace.id}: the model's fixes were not verified",
                        partial(
                            verify_prepared,
                            checked,
                            self.request.root,
                            self.settings,
                            result.selection,
                            self.request.verify_env,
                            self._verify_deadline(),
                        ),
                    )
                checked = verified or checked
            result.prepared = checked
            outcome.artifacts = write_artifacts(result, outcome.artifacts.out_dir, now=self.request.now)

    def _record(self, outcomes: list[TraceOutcome]) -> None:
        for outcome in outcomes:
            self.state.outcomes.append(outcome)
            name = f"trace {outcome.trace.id} ({outcome.trace.root.name})"
            if outcome.result is None:
                self.state.fail(f"{name}: {outcome.error}", unanalysed=True)
                suffix = "; please report it." if outcome.internal else ""
                self.log.warning(f"{name} could not be analysed: {outcome.error}{suffix}")
                continue
            if outcome.error is not None and not outcome.cancelled:
                self.state.fail(f"{name}: {outcome.error}")
                self.log.warning(f"{name}: the model analysis failed; its triage is posted instead: {outcome.error}")
            self.state.results.append(outcome.result)

    def merge(self, patterns: list[str], root: Path) -> None:
        """The fan-out's last step: the matrix jobs analysed one trace each; group their packs."""
        from refinery.report.merge import load_entries

        with self.log.group("Refinery: merging packs"):
            self.state.entries = load_entries(patterns, root)
            self.log.info(f"{plural(len(self.state.entries), 'pack')} to merge")

    def finish(self, *, cancel_budget_s: float = 4.5) -> None:
        """Report and publish: report.md beside the artifacts, then every publisher, whatever the run got to.

        After a cancellation, publishers get what is left of ``cancel_budget_s`` since the signal.
        """
        if self.control.cancelled:
            note = f"The run was cancelled ({self.control.reason}): the triage is complete, the model stages are not."
            self.state.notices.insert(0, note)
            self.state.cancelled = self.state.cancelled or note
            self.log.warning(note)
            for warning in self.control.clean_up(self.control.remaining(CLEANUP_S)):
                self.log.warning(warning)
        report = self.state.report(self.settings.fail_on)
        self._write_report()
        time_left = self.control.remaining(cancel_budget_s) if self.control.cancelled else None
        for publisher in self.services.publishers:
            for line in publisher.finish(report, time_left=time_left):
                self.state.errors.append(line)

    def _write_report(self) -> None:
        """The grouped report.md on top of several traces' folders (one trace's own report.md stands alone)."""
        plan = self.state.plan
        if (plan is not None and self.request.flat and len(plan.triaged) == 1) or not (
            self.state.results or self.state.notices
        ):
            return
        report = self.state.report(self.settings.fail_on)
        body = build_comment(
            report.items,
            marker=sticky_marker("refinery", "", "report"),
            notices=report.notices,
            clusters=report.clusters,
            read=report.counts.read or None,
        )
        self.request.out_dir.mkdir(parents=True, exist_ok=True)
        (self.request.out_dir / "report.md").write_text(body, encoding="utf-8")
