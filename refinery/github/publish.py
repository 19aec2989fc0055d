"""Publishing one run's results: the sticky comment, the suggested changes, then the check run with
its annotations.

Each write succeeds or fails on its own: a failed comment never skips the check run, nor the
other way round. A read-only token (a fork's pull request) degrades to the job summary with
one warning instead of an error.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from refinery.errors import RefineryError
from refinery.github.annotations import Workspace, build_annotations
from refinery.github.commands import Log
from refinery.github.event import EventContext
from refinery.github.publisher import GitHubPublisher, ReadOnlyToken, Suggestion
from refinery.report.sanitize import plain_line, prose

CHECK_NAME = "Refinery"
README_FORK_HINT = "see the README section “Fork pull requests (workflow_run)”"
Conclusion = Literal["success", "failure", "neutral"]


@dataclass
class Publication:
    """What to publish, and where the results go."""

    body: str
    marker: str
    title: str
    results: list[Any]
    """AnalysisResults, for the annotations (merged packs have none)."""
    workspace: Path
    skip_dirs: set[str] = field(default_factory=set)
    exclude_files: set[str] = field(default_factory=set)
    outputs: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    comment_id: int | None = None
    """The comment this run already posted (the triage, early): edited in place."""
    check_run_id: int | None = None
    """The check run this run already started (``in_progress``): completed, not created again."""
    pr_number: int | None = None
    """The pull request, once found."""


def publish_early(
    publisher: GitHubPublisher,
    ctx: EventContext,
    publication: Publication,
    *,
    pr_number: int | None,
    comment: Literal["update", "new", "off"],
    check_run: bool,
    log: Log,
) -> None:
    """The triage as soon as it is done: the sticky comment, and the check run ``in_progress``.

    Failures here are warnings only: the final publishing tries again.
    """
    pr_number = _pull_request(publisher, ctx, pr_number, log)
    publication.pr_number = pr_number
    if comment != "off" and pr_number is not None:
        try:
            url, publication.comment_id = publisher.upsert_comment(
                pr_number, publication.body, publication.marker, mode=comment
            )
            publication.outputs["comment-url"] = url
            log.info(f"commented the triage: {url}")
        except ReadOnlyToken:
            return  # a fork's token: the final publishing says so once, and falls back to the summary
        except RefineryError as exc:
            log.warning(f"The triage comment was not posted (the final one will be tried): {exc.one_line()}")
    if check_run:
        try:
            url, publication.check_run_id = publisher.start_check_run(
                name=CHECK_NAME,
                head_sha=ctx.head_sha,
                title=plain_line(publication.title, 255) or CHECK_NAME,
                summary=publication.body.replace(publication.marker, "").split("<details>", 1)[0].strip(),
                details_url=ctx.run_url,
            )
            publication.outputs["check-run-url"] = url
            log.info(f"check run started: {url}")
        except ReadOnlyToken:
            return
        except RefineryError as exc:
            log.warning(f"The check run was not started (the final one will be tried): {exc.one_line()}")


def _pull_request(publisher: GitHubPublisher, ctx: EventContext, pr_number: int | None, log: Log) -> int | None:
    if pr_number is None and ctx.needs_pr_lookup:
        try:
            return publisher.find_pull_request(ctx.head_sha, ctx.head_owner, ctx.head_branch)
        except RefineryError as exc:
            log.warning(f"Could not find the pull request for {ctx.head_sha[:12]}: {exc.one_line()}")
    return pr_number


def publish_results(
    publisher: GitHubPublisher,
    ctx: EventContext,
    publication: Publication,
    *,
    pr_number: int | None,
    comment: Literal["update", "new", "off"],
    check_run: bool,
    annotations: bool,
    level: Literal["failure", "warning"],
    conclusion: Callable[[], Conclusion],
    log: Log,
) -> None:
    """The comment, then the check run; ``publication.outputs`` and ``errors`` record what happened."""
    warned = False

    def read_only(exc: Exception) -> None:
        nonlocal warned
        if not warned:
            log.warning(f"{exc} Results are in the job summary and artifacts; {README_FORK_HINT}.")
            warned = True

    def failed(what: str, exc: RefineryError) -> None:
        publication.errors.append(f"{what}: {exc.one_line()}")
        log.warning(f"{what}: {exc.one_line()}")

    if publication.pr_number is None:
        pr_number = _pull_request(publisher, ctx, pr_number, log)
    else:
        pr_number = publication.pr_number
    if comment != "off" and pr_number is not None:
        try:
            url, publication.comment_id = publisher.upsert_comment(
                pr_number, publication.body, publication.marker, mode=comment, comment_id=publication.comment_id
            )
            publication.outputs["comment-url"] = url
            log.info(f"commented: {url}")
        except ReadOnlyToken as exc:
            read_only(exc)
        except RefineryError as exc:
            failed("The comment was not posted", exc)
    if comment != "off" and pr_number is not None:
        _suggest(publisher, ctx, publication, pr_number, log, read_only, failed)
    if not check_run:
        return
    notes = (
        build_annotations(
            publication.results,
            Workspace(publication.workspace, skip=publication.skip_dirs, exclude=publication.exclude_files),
            level=level,
        )
        if annotations
        else []
    )
    body = publication.body.replace(publication.marker, "")
    try:
        url = publisher.publish_check_run(
            name=CHECK_NAME,
            head_sha=ctx.head_sha,
            title=plain_line(publication.title, 255) or CHECK_NAME,
            # The lead (what failed, the hypotheses) as the summary; every trace's full report as the text.
            summary=body.split("<details>", 1)[0].strip(),
            text=body.strip(),
            conclusion=conclusion(),
            annotations=notes,
            details_url=ctx.run_url,
            check_run_id=publication.check_run_id,
        )
        publication.outputs["check-run-url"] = url
        log.info(f"check run: {url} ({len(notes)} annotations)")
    except ReadOnlyToken as exc:
        read_only(exc)
    except RefineryError as exc:
        failed("The check run was not created", exc)


def suggestions_for(results: list[Any], marker: str) -> tuple[list[Suggestion], str]:
    """Each fix whose lines are in the pull request's diff, as a suggested change, unless re-running the
    eval refuted it (a one-click change that was shown not to work is not offered); and the prefix that
    marks this run's suggestions (the sticky comment's marker, renamed)."""
    prefix = marker.removesuffix("-->").replace("refinery:sticky", "refinery:suggestion", 1)
    out: list[Suggestion] = []
    for result in results:
        for fix in getattr(result.prepared, "fixes", []):
            key = f"{prefix}{fix.path}:{fix.start_line}-{fix.end_line} -->"
            checked = fix.verification
            if not fix.in_diff or any(s.key == key for s in out) or (checked and checked.verdict == "refuted"):
                continue
            state = f"{checked.verdict}: your eval {checked.sentence}" if checked else "not verified"
            written = "\n".join(fix.replacement)
            ticks = "`" * max(3, max((len(run) for run in re.findall(r"`+", written)), default=0) + 1)
            body = (
                f"{key}\n**Refinery** suggests ({fix.source}, {state}): {prose(fix.hypothesis, 400)}\n\n"
                f"{ticks}suggestion\n{written}\n{ticks}"
            )
            out.append(Suggestion(key=key, path=fix.path, start_line=fix.start_line, end_line=fix.end_line, body=body))
    return out, prefix


def _suggest(
    publisher: GitHubPublisher,
    ctx: EventContext,
    publication: Publication,
    pr_number: int,
    log: Log,
    read_only: Callable[[Exception], None],
    failed: Callable[[str, RefineryError], None],
) -> None:
    """The fixes as suggested changes on the diff, sticky like the comment (only when a change is claimed:
    otherwise there is nothing to suggest or to take back)."""
    if not any(getattr(getattr(r, "prepared", None), "top_suspect", None) for r in publication.results):
        return
    suggestions, prefix = suggestions_for(publication.results, publication.marker)
    try:
        created, edited, deleted = publisher.sync_suggestions(pr_number, ctx.head_sha, suggestions, prefix)
    except ReadOnlyToken as exc:
        read_only(exc)
        return
    except RefineryError as exc:
        failed("The suggested changes were not posted", exc)
        return
    if created or edited or deleted:
        log.info(f"suggested changes: {created} new, {edited} edited, {deleted} withdrawn")
