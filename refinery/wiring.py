"""The composition root: every SDK client and provider is built here, from Settings, and nowhere else.

The entry points (``cli/`` and ``action.py``) read the environment into Settings and call
these builders; everything below them receives the built clients as arguments. Each SDK's
own retry layer is configured here, once: there is no second retry layer anywhere.
SDKs are imported inside the builders so that a command never pays for an SDK it does not use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from refinery.settings import Settings

if TYPE_CHECKING:
    from github import Github

    from refinery.analysis.control import RunControl
    from refinery.analysis.cost import CostGuard
    from refinery.analysis.providers.base import AnalysisProvider
    from refinery.analysis.providers.openai_responses import OpenAIResponsesProvider, RefineryOpenAI
    from refinery.analysis.providers.vector_store import VectorStoreManager
    from refinery.analysis.ratelimit import RateGate
    from refinery.github.publisher import GitHubPublisher
    from refinery.trace.langsmith import LangSmithSource

# Statuses worth another try for LangSmith reads; POST /runs/query is a read too.
_LANGSMITH_RETRY_STATUSES = [408, 425, 429, 500, 502, 503, 504]


def build_langsmith_source(
    settings: Settings, *, project: str | None = None, experiment: bool | None = None, allow_partial: bool = False
) -> LangSmithSource:
    """A LangSmithSource on a client whose HTTP retries honour 429 Retry-After and 5xx."""
    import langsmith
    from urllib3.util.retry import Retry

    from refinery.trace.langsmith import LangSmithSource

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
    client = langsmith.Client(
        api_url=settings.langsmith_endpoint,
        api_key=key.get_secret_value(),
        retry_config=retry,
        timeout_ms=int(settings.langsmith_timeout_s * 1000),
        auto_batch_tracing=False,
        workspace_id=settings.langsmith_workspace_id,
    )
    return LangSmithSource(
        client,
        endpoint=settings.langsmith_endpoint,
        project=project or settings.langsmith_project,
        # An experiment is bounded (examples × repetitions): every root is read, passing ones too.
        experiment=experiment
        if experiment is not None
        else bool(settings.experiment) and (project or settings.langsmith_project) == settings.experiment,
        allow_partial=allow_partial,
    )


def build_cost_guard(settings: Settings) -> CostGuard:
    """One per run, shared by every trace: no stage starts that would take the run past ``max-cost``."""
    from refinery.analysis.cost import CostGuard

    return CostGuard(settings.max_cost)


def build_rate_gate(settings: Settings) -> RateGate:
    """One gate per run, shared by every provider built for it: a 429 seen by one worker pauses all."""
    from refinery.analysis.ratelimit import RateGate

    return RateGate(settings.tokens_per_minute)


def _http_client(sdk: Any, gate: RateGate | None) -> Any:
    """The SDK's default HTTP client, routed through the run's shared rate gate (if any)."""
    return sdk.DefaultHttpxClient(event_hooks=gate.event_hooks()) if gate is not None else None


def build_openai_client(settings: Settings, gate: RateGate | None = None) -> RefineryOpenAI:
    """The one OpenAI client: SDK retries configured here (and nowhere else)."""
    import openai

    from refinery.analysis.providers.openai_responses import RefineryOpenAI

    key = settings.require_openai_key()
    return RefineryOpenAI(
        api_key=key.get_secret_value(),
        base_url=settings.openai_base_url,
        project=settings.openai_project,
        max_retries=settings.openai_max_retries,
        timeout=settings.openai_timeout_s,
        http_client=_http_client(openai, gate),
    )


def build_vector_store_manager(
    settings: Settings, client: RefineryOpenAI, control: RunControl | None = None
) -> VectorStoreManager:
    """Creates, waits for and deletes the vector stores that hold a trace's documents.

    With the run's ``control``, every store is registered until deleted, so a cancelled run
    deletes what its workers left behind.
    """
    from refinery.analysis.providers.vector_store import VectorStoreManager

    return VectorStoreManager(client, timeout_s=settings.store_timeout_s, control=control)


def build_openai_responses_provider(
    settings: Settings,
    *,
    keep_store: bool = False,
    background: bool | None = None,
    gate: RateGate | None = None,
    control: RunControl | None = None,
) -> OpenAIResponsesProvider:
    """The OpenAI Responses provider with its vector store manager."""
    from refinery.analysis.providers.openai_responses import OpenAIResponsesProvider
    from refinery.analysis.requests import ModelOptions

    client = build_openai_client(settings, gate)
    options = ModelOptions(
        model=settings.openai_model, reasoning_effort=settings.reasoning_effort, background=background
    )
    return OpenAIResponsesProvider(
        client,
        options,
        stores=build_vector_store_manager(settings, client, control),
        timeout_s=settings.stage_timeout_s,
        keep_store=keep_store,
        control=control,
    )


def build_anthropic_provider(
    settings: Settings, gate: RateGate | None = None, control: RunControl | None = None
) -> AnalysisProvider:
    """Claude through the Messages API, documents packed inline."""
    from refinery.analysis.providers.anthropic import AnthropicProvider, import_anthropic

    key = settings.require_key("anthropic")
    anthropic = import_anthropic()
    client = anthropic.Anthropic(
        api_key=key.get_secret_value() if key else None,
        base_url=settings.anthropic_base_url,
        max_retries=settings.openai_max_retries,
        timeout=settings.openai_timeout_s,
        http_client=_http_client(anthropic, gate),
    )
    return AnthropicProvider(client, settings.anthropic_model, context_budget=settings.context_budget, control=control)


def build_gemini_provider(
    settings: Settings, gate: RateGate | None = None, control: RunControl | None = None
) -> AnalysisProvider:
    """Gemini through google-genai, documents packed inline (its client is not routed through the gate)."""
    from refinery.analysis.providers.gemini import GeminiProvider, import_genai

    key = settings.require_key("gemini")
    genai = import_genai()
    from google.genai import types

    http = types.HttpOptions(
        base_url=settings.gemini_base_url,
        timeout=int(settings.openai_timeout_s * 1000),
        retry_options=types.HttpRetryOptions(attempts=settings.openai_max_retries + 1),
    )
    client = genai.Client(api_key=key.get_secret_value() if key else None, http_options=http)
    return GeminiProvider(client, settings.gemini_model, context_budget=settings.context_budget, control=control)


def build_compatible_provider(
    settings: Settings, gate: RateGate | None = None, control: RunControl | None = None
) -> AnalysisProvider:
    """Any OpenAI-compatible server through Chat Completions, documents packed inline."""
    import openai

    from refinery.analysis.providers.openai_chat import OpenAIChatProvider
    from refinery.analysis.providers.openai_responses import RefineryOpenAI

    key = settings.require_key("openai-compatible")
    client = RefineryOpenAI(
        api_key=key.get_secret_value() if key else "not-needed",
        base_url=settings.compatible_base_url,
        max_retries=settings.openai_max_retries,
        timeout=settings.openai_timeout_s,
        http_client=_http_client(openai, gate),
    )
    return OpenAIChatProvider(
        client,
        settings.compatible_model or settings.openai_model,
        context_budget=settings.context_budget,
        control=control,
    )


_INLINE_BUILDERS = {
    "anthropic": build_anthropic_provider,
    "gemini": build_gemini_provider,
    "openai-compatible": build_compatible_provider,
}


def build_provider(
    settings: Settings,
    name: str,
    *,
    keep_store: bool = False,
    background: bool | None = None,
    gate: RateGate | None = None,
    control: RunControl | None = None,
) -> Any:
    """One named provider: ``openai`` (Responses with file_search) or an inline one."""
    if name == "openai":
        return build_openai_responses_provider(
            settings, keep_store=keep_store, background=background, gate=gate, control=control
        )
    return _INLINE_BUILDERS[name](settings, gate, control)


def build_analysis_provider(
    settings: Settings,
    *,
    keep_store: bool = False,
    background: bool | None = None,
    gate: RateGate | None = None,
    control: RunControl | None = None,
) -> Any:
    """The configured provider, or a chain when stages or fallbacks name other providers.

    ``gate`` and ``control`` are shared by every provider built for one run: a 429 seen by
    one trace's worker pauses the others too, and a cancellation stops them all.
    """
    from refinery.analysis.providers.chain import ProviderChain

    def build(name: str) -> Any:
        return build_provider(settings, name, keep_store=keep_store, background=background, gate=gate, control=control)

    names = settings.providers_in_use
    if len(names) == 1:
        return build(names[0])
    return ProviderChain(
        {name: build(name) for name in names},
        default=settings.provider,
        fallback=settings.fallback,
        stage_providers=settings.stage_providers,
    )


def build_github_client(settings: Settings, api_url: str, *, urgent: bool = False) -> Github:
    """The one PyGithub client: retries and rate-limit handling are configured here only.

    After its retries the last answer is returned rather than raised as urllib3's RetryError,
    so the error carries GitHub's own message. ``urgent`` (a cancelled run, seconds before the
    runner's SIGKILL) sends each request once with a short timeout.
    """
    from github import Auth, Github, GithubRetry

    token = settings.require_github_token().get_secret_value()
    retry = GithubRetry(total=0 if urgent else 3, backoff_factor=0.5, raise_on_status=False, secondary_rate_wait=10)
    return Github(
        auth=Auth.Token(token),
        base_url=api_url,
        retry=retry,
        per_page=100,
        timeout=2 if urgent else 30,
        user_agent="refinery-action",
        lazy=True,  # objects are fetched only when an attribute needs it: fewer requests
    )


def build_publisher(settings: Settings, api_url: str, repository: str, *, urgent: bool = False) -> GitHubPublisher:
    """The GitHub publisher for one repository, on the one configured client."""
    from refinery.github.publisher import GitHubPublisher

    return GitHubPublisher(build_github_client(settings, api_url, urgent=urgent), repository)
