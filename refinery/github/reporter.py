"""The GitHub publisher: the sticky comment, the check run and its annotations, the job summary and
the outputs, from the planner's reports.

Every write to GitHub goes through one worker thread, in the order asked: the early triage
comment and the in-progress check run, then the final edit of both. The final job waits behind
the early one, so a slow early publish can delay the final one but never race it: no second
comment, no second check run. Only the worker writes the publication's ids and URLs; the
summary and outputs are written once it is done.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import Field, SecretStr

from refinery.github.commands import Log, write_outputs, write_summary
from refinery.github.event import EventContext
from refinery.github.publish import Publication, publish_early, publish_results
from refinery.github.publisher import GitHubPublisher
from refinery.report.comment import CommentLinks, build_comment
from refinery.report.publisher import RunReport
from refinery.report.sanitize import plain_line, prose
from refinery.settings import Section, Settings, Source
from refinery.triage.confidence import origin_phrase
from refinery.words import plural

EARLY_WAIT_S = 60.0
"""How long the final publishing waits for the early one still in flight (its writes take about a second)."""
PUBLISH_MIN_S = 1.0
"""A cancelled run still posts its comment when at least this much time is left before the kill."""


class GitHubSettings(Section):
    """Where and how the action publishes on GitHub."""

    NAME: ClassVar[str] = "github"
    KIND: ClassVar[Literal["provider", "publisher"]] = "publisher"
    SOURCES: ClassVar[dict[str, Source]] = {
        "github_token": Source(("GITHUB_TOKEN",), "github-token"),
        "comment": Source(("REFINERY_COMMENT",), "comment"),
        "check_run": Source(("REFINERY_CHECK_RUN",), "check-run"),
        "annotations": Source(("REFINERY_ANNOTATIONS",), "annotations"),
    }

    github_token: SecretStr | None = Field(default=None, repr=False)
    """Token used to publish to GitHub (and to read the pull request's files)."""
    comment: Literal["update", "new", "off"] = "update"
    """update: one sticky comment edited in place; new: a comment per run; off: none."""
    check_run: bool = True
    """Create a check run on the head commit."""
    annotations: bool = True
    """Annotate the prompt/tool/eval files in the check run."""


@dataclass(frozen=True)
class Destination:
    """What the reporter needs to know of the run besides the reports."""

    ctx: EventContext
    marker: str
    """The sticky comment's hidden marker (workflow, job and trace selection)."""
    langsmith_host: str | None
    pr_number: int | None
    out_dir: Path
    exclude_files: set[str] = field(default_factory=set)
    """Workspace files that are trace inputs: never annotated."""
    failure_level: Literal["failure", "warning"] = "warning"


class GitHubReporter:
    """Publisher: one entry point per moment (``start``, ``finish``), its own narrow settings."""

    name = "github"

    def __init__(
        self,
        settings: GitHubSettings,
        destination: Destination,
        api: GitHubPublisher | None,
        urgent_api: Callable[[], GitHubPublisher] | None,
        log: Log,
    ) -> None:
        self.settings = settings
        self.destination = destination
        self._api = api
        self._urgent_api = urgent_api
        self._log = log
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="refinery-publish")
        self._pending: Future[None] | None = None
        self._publication: Publication | None = None
        """Written by the worker only: the comment and check run it made (edited at the end)."""

    def start(self, report: RunReport) -> None:
        if self._api is None or report.cancelled:
            return
        body = self._body(report)
        title = plain_line(f"Triage done, diagnosis running: {one_line_summary(report)}", 255)
        self._pending = self._worker.submit(self._post_early, body, title)

    def _post_early(self, body: str, title: str) -> None:
        assert self._api is not None
        ctx = self.destination.ctx
        publication = Publication(
            body=body, marker=self.destination.marker, title=title, results=[], workspace=ctx.workspace or Path.cwd()
        )
        publish_early(
            self._api,
            ctx,
            publication,
            pr_number=self.destination.pr_number,
            comment=self.settings.comment,
            check_run=self.settings.check_run,
            log=self._log,
        )
        self._publication = publication

    def finish(self, report: RunReport, *, time_left: float | None = None) -> list[str]:
        body = self._body(report) if (report.items or report.notices) else None
        outputs = self._outputs(report)
        errors = list(report.errors)
        if body is not None and self._api is None:
            self._log.warning("No github-token: results are in the job summary and artifacts only.")
        elif body is not None and time_left is not None and time_left < PUBLISH_MIN_S:
            self._log.warning("Cancelled too close to the runner's kill to publish: the results are in the summary.")
        elif body is not None:
            self._post(report, body, outputs, errors, time_left)
        # A final job still queued behind a slow early one runs when that ends (the process waits for it,
        # unless a cancellation ends it first): the check run is completed, never started twice.
        self._worker.shutdown(wait=False)
        own = errors[len(report.errors) :]  # what publishing itself ran into: Refinery's errors too
        outputs["conclusion"] = report.conclusion(own)
        self._write_summary(report, body, errors)
        write_outputs(self.destination.ctx.output_path, outputs)
        return own

    def _post(
        self, report: RunReport, body: str, outputs: dict[str, str], errors: list[str], time_left: float | None
    ) -> None:
        """The final writes, queued behind the early ones: never two comments, never two check runs."""
        urgent = time_left is not None
        api = self._urgent_api() if urgent and self._urgent_api is not None else self._api
        assert api is not None
        final = self._worker.submit(self._post_final, api, report, body, outputs, errors)
        try:
            final.result(timeout=max(0.0, time_left - 0.5) if time_left is not None else EARLY_WAIT_S * 2)
        except FutureTimeout:
            self._log.warning("GitHub did not answer in time: the comment and check run were not updated.")

    def _post_final(
        self, api: GitHubPublisher, report: RunReport, body: str, outputs: dict[str, str], errors: list[str]
    ) -> None:
        ctx, dest = self.destination.ctx, self.destination
        early = self._publication
        publication = Publication(
            body=body,
            marker=dest.marker,
            title=one_line_summary(report),
            results=report.results,
            workspace=ctx.workspace or Path.cwd(),
            skip_dirs={dest.out_dir.name},
            exclude_files=dest.exclude_files,
            outputs=outputs,
            errors=errors,
            comment_id=early.comment_id if early else None,
            check_run_id=early.check_run_id if early else None,
            pr_number=early.pr_number if early else None,
        )
        if early is not None:
            outputs.update({k: v for k, v in early.outputs.items() if v})
        publish_results(
            api,
            ctx,
            publication,
            pr_number=dest.pr_number,
            comment=self.settings.comment,
            check_run=self.settings.check_run,
            annotations=self.settings.annotations,
            level=dest.failure_level,
            conclusion=lambda: report.conclusion(errors[len(report.errors) :]),
            log=self._log,
        )

    def _body(self, report: RunReport) -> str:
        ctx = self.destination.ctx
        links = CommentLinks(
            run_url=ctx.run_url,
            artifacts_url=None if report.running else ctx.artifacts_url,
            triggering_run_url=ctx.triggering_run_url,
        )
        return build_comment(
            report.items,
            marker=self.destination.marker,
            links=links,
            langsmith_host=self.destination.langsmith_host,
            notices=report.notices,
            clusters=report.clusters,
            running=report.running,
            read=report.counts.read or None,
        )

    def _outputs(self, report: RunReport) -> dict[str, str]:
        outputs = {
            "traces-analyzed": str(len(report.items)),
            "comment-url": "",
            "check-run-url": "",
            "summary": one_line_summary(report),
            "conclusion": report.conclusion(),
        }
        if report.items or report.notices:
            outputs["report-path"] = str(self.destination.out_dir / "report.md")
        if report.pack_paths:
            outputs["hypothesis-pack-path"] = str(report.pack_paths[0])
        return outputs

    def _write_summary(self, report: RunReport, body: str | None, errors: list[str]) -> None:
        parts = (
            [body]
            if body is not None
            else [f"### Refinery\n\n{prose(report.idle or 'No traces were analysed.', 600)}\n"]
        )
        if errors:
            parts.append("### Refinery errors\n\n" + "\n".join(f"- {prose(e, 1000)}" for e in errors) + "\n")
        write_summary(self.destination.ctx.summary_path, "\n\n".join(parts))


def one_line_summary(report: RunReport) -> str:
    """The ``summary`` output and check-run title: untrusted text made plain (it may reach a shell)."""
    prefix = "cancelled: " if report.cancelled else ""
    packs = report.packs
    unanalysed = report.counts.unanalysed
    if not packs:
        detail = (
            f"{plural(unanalysed, 'trace or file', 'traces or files')} could not be analysed"
            if unanalysed
            else report.idle or "no traces analysed"
        )
        return plain_line(prefix + detail, 1000)
    parts = []
    for pack in packs:
        origin = pack.triage.origin
        if pack.summary:
            parts.append(pack.summary.split(". ")[0][:200])
        elif origin is not None and origin.stated:
            parts.append(f"the failure {origin_phrase(origin)} {origin.section} {origin.name}")
    failed = f", {unanalysed} not analysed" if unanalysed else ""
    text = f"{prefix}{plural(len(packs), 'trace')}{failed}: " + " / ".join(parts or ["no origin found"])
    return plain_line(text, 1000)


def destination_for(settings: Settings, ctx: EventContext) -> Destination:
    """Where this run publishes: its marker (workflow, job, selection), PR, LangSmith host and artifacts."""
    from refinery.report.comment import sticky_marker

    selection = ",".join(settings.trace_ids) or settings.trace_file or settings.experiment
    workspace = ctx.workspace or Path.cwd()
    out_dir = Path(settings.output_dir)
    return Destination(
        ctx=ctx,
        marker=sticky_marker(ctx.workflow, ctx.job, selection or settings.langsmith_project or "auto"),
        langsmith_host=langsmith_host(settings.langsmith_endpoint),
        pr_number=settings.pr_number or ctx.pr_number,
        out_dir=out_dir if out_dir.is_absolute() else workspace / out_dir,
        exclude_files=_trace_files(settings.trace_file, workspace),
        failure_level="failure" if settings.fail_on == "finding" else "warning",
    )


def langsmith_host(endpoint: str) -> str:
    """The LangSmith app's host for an API endpoint (links to it stay live in the comment)."""
    host = endpoint.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    return host.replace("api.smith.", "smith.", 1) if ".smith." in f".{host}" else host


def _trace_files(pattern: str | None, workspace: Path) -> set[str]:
    """The workspace files the traces came from: an annotation never lands on an input."""
    from refinery.errors import ConfigError
    from refinery.trace.collect import trace_file_paths

    if not pattern:
        return set()
    try:
        paths = trace_file_paths(pattern, workspace)
    except ConfigError:
        return set()
    found = set()
    for path in paths:
        try:
            found.add(path.resolve().relative_to(workspace.resolve()).as_posix())
        except (ValueError, OSError):
            continue
    return found
