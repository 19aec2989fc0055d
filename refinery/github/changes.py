"""The pull request's changes, for ranking against the failure: the GitHub API, else the workspace's git.

Failing to read them is a warning, never the end of the run: the analysis goes on without.
"""

from __future__ import annotations

from pathlib import Path

from refinery.changes.diff import MAX_FILES, read_file_patches
from refinery.changes.git import read_git_range
from refinery.changes.model import ChangeSet
from refinery.errors import RefineryError
from refinery.github.commands import Log
from refinery.github.event import EventContext
from refinery.github.publisher import GitHubPublisher
from refinery.settings import Settings


def read_pr_changes(settings: Settings, ctx: EventContext, api: GitHubPublisher | None, log: Log) -> ChangeSet | None:
    if settings.changes == "off":
        return None
    pr = settings.pr_number or ctx.pr_number
    if settings.changes in ("auto", "github") and pr is not None and api is not None:
        try:
            files, total = api.pull_request_files(pr, MAX_FILES)
            changes = read_file_patches(files, f"pull request #{pr}")
            if total > len(files):
                changes.notes.append(f"The pull request changes {total:,} files; GitHub lists the first {MAX_FILES:,}.")
            log.info(f"changes: {changes.files} files, {len(changes.hunks)} hunks from pull request #{pr}")
            return changes
        except RefineryError as exc:
            if settings.changes == "github":
                log.warning(f"The pull request's changes could not be read: {exc.one_line()}")
                return None
            log.info(f"The pull request's files could not be listed ({exc.one_line()}); trying the workspace's git.")
    if settings.changes in ("auto", "git") and ctx.base_sha:
        try:
            changes = read_git_range(ctx.workspace or Path.cwd(), f"{ctx.base_sha}...{ctx.head_sha}")
        except RefineryError as exc:
            log.warning(f"The pull request's changes could not be read from git: {exc.one_line()}")
            return None
        log.info(f"changes: {changes.files} files, {len(changes.hunks)} hunks from {changes.source}")
        return changes
    return None
