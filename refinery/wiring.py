"""The composition root: every adapter is registered here, and every service is built here, once.

The entry points (``cli/`` and ``action/``) read the environment into Settings with
``load_settings`` (which knows every adapter's settings section) and ask ``build_services``
once for the run's services; everything below them receives those as arguments. Each SDK's own
retry layer is configured where its client is built: there is no second retry layer anywhere.

Adding a model provider: one module in ``analysis/providers/`` and one line in its ``registry``.
Adding a publisher: one module (its ``Section`` and a ``Publisher``) and one line in ``PUBLISHERS``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from refinery.analysis.control import RunControl
from refinery.analysis.cost import CostGuard
from refinery.analysis.providers.base import AnalysisProvider, BuildOptions
from refinery.analysis.providers.chain import ProviderChain
from refinery.analysis.providers.registry import PROVIDERS
from refinery.analysis.ratelimit import RateGate
from refinery.errors import ConfigError
from refinery.github.reporter import GitHubSettings
from refinery.planner.services import ChangeReader, Services
from refinery.settings import SOURCES, Section, Settings, Source
from refinery.settings import load_settings as load_core_settings
from refinery.trace.source import TraceSource

if TYPE_CHECKING:
    from github import Github

    from refinery.github.commands import Log
    from refinery.github.event import EventContext
    from refinery.github.publisher import GitHubPublisher
    from refinery.report.publisher import Publisher
    from refinery.trace.langsmith import LangSmithSource

PUBLISHERS: tuple[type[Section], ...] = (GitHubSettings,)
"""Every publisher's settings section (the publisher itself is built in ``_github_publishers``)."""
SECTIONS: tuple[type[Section], ...] = (*(p.section for p in PROVIDERS.values()), *PUBLISHERS)

# Statuses worth another try for LangSmith reads; POST /runs/query is a read too.
_LANGSMITH_RETRY_STATUSES = [408, 425, 429, 500, 502, 503, 504]


def load_settings(env: Mapping[str, str], overrides: Mapping[str, Any] | None = None) -> Settings:
    """Settings with every registered adapter's section."""
    return load_core_settings(env, overrides, SECTIONS)


def load_settings_without_bad(env: Mapping[str, str]) -> Settings:
    """Settings from ``env`` with every variable or input that cannot be read left out, so that a run
    whose setting is invalid can still publish that error where the valid ones say."""
    names = [name for source in all_sources().values() for name in source.env] + [
        "INPUT_" + source.action_input.upper() for source in all_sources().values() if source.action_input
    ]
    kept = dict(env)
    for name in names:
        if name in kept:
            try:
                load_settings({name: kept[name]})
            except ConfigError:
                del kept[name]
    return load_settings(kept)


def all_sources() -> dict[str, Source]:
    """Every setting that can come from the environment or an action input: the core's and each adapter's."""
    found = dict(SOURCES)
    for section in SECTIONS:
        found.update(section.SOURCES)
    return found


def provider_names() -> list[str]:
    return list(PROVIDERS)


@dataclass(frozen=True)
class RunOptions:
    """What the entry point decided about this run beyond the settings."""

    use_model: bool = True
    require_model: bool = False
    """The provider was chosen explicitly: a missing key is an error when the provider is built, not offline."""
    keep_store: bool = False
    background: bool | None = None
    control: RunControl | None = None


def build_services(
    settings: Settings,
    options: RunOptions,
    *,
    read_changes: ChangeReader | None = None,
    event: EventContext | None = None,
    log: Log | None = None,
) -> Services:
    """The run's services, once. ``event`` and ``log`` (the action) add the GitHub publisher and the
    pull request's changes; the CLI passes its own ``read_changes`` (a diff file or a git range)."""
    gate = RateGate(settings.tokens_per_minute)
    make_provider = None
    if options.use_model and not settings.offline and (settings.has_model_key or options.require_model):

        def make_provider() -> AnalysisProvider:
            return build_analysis_provider(
                settings,
                keep_store=options.keep_store,
                background=options.background,
                gate=gate,
                control=options.control,
            )

    publishers: list[Publisher] = []
    started_at: Callable[[], datetime | None] | None = None
    if event is not None and log is not None:
        github = _github_api(settings, event)
        publishers.extend(_github_publishers(settings, event, github, log))
        read_changes = read_changes or _pr_changes(settings, event, github, log)
        if github is not None and event.run_id and event.run_id.isdigit():
            run_id = int(event.run_id)
            started_at = lambda: github.run_started_at(run_id)  # noqa: E731
    return Services(
        cost=CostGuard(settings.max_cost),
        gate=gate,
        sources=_langsmith(settings),  # its client is built on first use: no key, no cost until then
        make_provider=make_provider,
        read_changes=read_changes,
        publishers=tuple(publishers),
        started_at=started_at,
    )


def build_analysis_provider(
    settings: Settings,
    *,
    keep_store: bool = False,
    background: bool | None = None,
    gate: RateGate | None = None,
    control: RunControl | None = None,
) -> AnalysisProvider:
    """The configured provider, or a chain when stages or fallbacks name other providers.

    ``gate`` and ``control`` are shared by every provider built for one run: a 429 seen by one
    trace's worker pauses the others too, and a cancellation stops them all. (The entry points
    reach this through ``build_services``; tests and benchmarks call it as their seam.)
    """
    shared = BuildOptions(
        max_retries=settings.openai_max_retries,
        timeout_s=settings.openai_timeout_s,
        stage_timeout_s=settings.stage_timeout_s,
        store_timeout_s=settings.store_timeout_s,
        context_budget=settings.context_budget,
        gate=gate,
        control=control,
        keep_store=keep_store,
        background=background,
    )
    names = settings.providers_in_use
    if len(names) == 1:
        return PROVIDERS[names[0]].build(settings, shared)
    return ProviderChain(
        {name: PROVIDERS[name].build(settings, shared) for name in names},
        default=settings.provider,
        fallback=settings.fallback,
        stage_providers=settings.stage_providers,
    )


class _LangSmith:
    """Sources for any project on the run's one LangSmith client, built on first use."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Any = None

    def __call__(self, project: str | None = None, *, experiment: bool | None = None) -> TraceSource:
        return self.source(project, experiment=experiment)

    def source(self, project: str | None = None, *, experiment: bool | None = None) -> LangSmithSource:
        from refinery.trace.langsmith import LangSmithSource

        settings = self._settings
        if self._client is None:
            self._client = _langsmith_client(settings)
        target = project or settings.langsmith_project
        return LangSmithSource(
            self._client,
            endpoint=settings.langsmith_endpoint,
            project=target,
            # An experiment is bounded (examples × repetitions): every root is read, passing ones too.
            experiment=experiment
            if experiment is not None
            else bool(settings.experiment) and target == settings.experiment,
            allow_partial=settings.allow_partial,
        )


def _langsmith(settings: Settings) -> _LangSmith:
    return _LangSmith(settings)


def build_langsmith_source(
    settings: Settings, *, project: str | None = None, experiment: bool | None = None, allow_partial: bool = False
) -> LangSmithSource:
    """One LangSmith source on its own client: the seam tests, benchmarks and fixture makers use."""
    if allow_partial and not settings.allow_partial:
        settings = settings.model_copy(update={"allow_partial": True})
    return _LangSmith(settings).source(project, experiment=experiment)


def _langsmith_client(settings: Settings) -> Any:
    """The LangSmith client: its HTTP adapter retries 429 (honouring Retry-After) and 5xx."""
    import langsmith
    from urllib3.util.retry import Retry

    key = settings.require_langsmith_key()
    retry = Retry(
        total=settings.langsmith_max_retries,
        status_forcelist=_LANGSMITH_RETRY_STATUSES,
        allowed_methods=None,
        backoff_factor=0.5,
        respect_retry_after_header=True,
        raise_on_status=False,
        raise_on_redirect=False,
    )
    return langsmith.Client(
        api_url=settings.langsmith_endpoint,
        api_key=key.get_secret_value(),
        retry_config=retry,
        timeout_ms=int(settings.langsmith_timeout_s * 1000),
        auto_batch_tracing=False,
        workspace_id=settings.langsmith_workspace_id,
    )


def build_github_client(settings: Settings, api_url: str, *, urgent: bool = False) -> Github:
    """The PyGithub client: retries and rate-limit handling are configured here only.

    After its retries the last answer is returned rather than raised as urllib3's RetryError,
    so the error carries GitHub's own message. ``urgent`` (a cancelled run, seconds before the
    runner's SIGKILL) sends each request once with a short timeout.
    """
    from github import Auth, Github, GithubRetry

    token = settings.section(GitHubSettings).github_token
    assert token is not None
    retry = GithubRetry(total=0 if urgent else 3, backoff_factor=0.5, raise_on_status=False, secondary_rate_wait=10)
    return Github(
        auth=Auth.Token(token.get_secret_value()),
        base_url=api_url,
        retry=retry,
        per_page=100,
        timeout=2 if urgent else 30,
        user_agent="refinery-action",
        lazy=True,  # objects are fetched only when an attribute needs it: fewer requests
    )


def _github_api(settings: Settings, event: EventContext) -> GitHubPublisher | None:
    from refinery.github.publisher import GitHubPublisher

    if settings.section(GitHubSettings).github_token is None:
        return None
    return GitHubPublisher(build_github_client(settings, event.api_url), event.repository)


def _github_publishers(
    settings: Settings, event: EventContext, api: GitHubPublisher | None, log: Log
) -> list[Publisher]:
    from refinery.github.publisher import GitHubPublisher
    from refinery.github.reporter import GitHubReporter, destination_for

    def urgent() -> GitHubPublisher:
        return GitHubPublisher(build_github_client(settings, event.api_url, urgent=True), event.repository)

    section = settings.section(GitHubSettings)
    return [GitHubReporter(section, destination_for(settings, event), api, urgent if api else None, log)]


def _pr_changes(settings: Settings, event: EventContext, api: GitHubPublisher | None, log: Log) -> ChangeReader:
    from refinery.github.changes import read_pr_changes

    return lambda: read_pr_changes(settings, event, api, log)


def diff_reader(diff_file: str | None, git_range: str | None, cwd: Path) -> ChangeReader | None:
    """The CLI's changes: a unified diff file, or a range in the current repository."""
    from refinery.changes.diff import read_unified_diff
    from refinery.changes.git import read_git_range

    if diff_file:
        path = Path(diff_file)
        return lambda: read_unified_diff(path.read_text(encoding="utf-8", errors="replace"), f"diff {path.name}")
    if git_range:
        return lambda: read_git_range(cwd, git_range)
    return None
