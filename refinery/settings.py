"""Typed settings, built in one place from the environment, action inputs and CLI options.

Nothing here reads ``os.environ``: the entry points pass a mapping in. Secrets are
``SecretStr`` and never appear in ``repr``. Validation is lazy: a key is required only
when the workflow that needs it asks for it (``require_*``), and a missing one names
the variable or input to set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from refinery.errors import ConfigError, MissingSecretError

DEFAULT_LANGSMITH_ENDPOINT = "https://api.smith.langchain.com"
SectionT = TypeVar("SectionT", bound="Section")


@dataclass(frozen=True)
class Source:
    """Where one setting may come from, in increasing precedence: env vars, then the action input."""

    env: tuple[str, ...] = ()
    action_input: str | None = None

    def describe(self) -> str:
        parts = [f"the environment variable {' or '.join(self.env)}"] if self.env else []
        if self.action_input:
            parts.append(f"the action input `{self.action_input}`")
        return " or ".join(parts) if parts else "its CLI option"


# One row per core setting that can come from outside the CLI. Adapters (providers, publishers)
# bring their own rows in their Section. The action.yml/README sync test reads them all.
SOURCES: dict[str, Source] = {
    "langsmith_api_key": Source(("LANGSMITH_API_KEY", "LANGCHAIN_API_KEY"), "langsmith-api-key"),
    "langsmith_endpoint": Source(("LANGSMITH_ENDPOINT", "LANGCHAIN_ENDPOINT"), "langsmith-endpoint"),
    "langsmith_workspace_id": Source(("LANGSMITH_WORKSPACE_ID",), None),
    "langsmith_project": Source(("LANGSMITH_PROJECT", "LANGCHAIN_PROJECT"), "langsmith-project"),
    "feedback_keys": Source(("REFINERY_FEEDBACK_KEY",), "feedback-key"),
    "max_score": Source(("REFINERY_MAX_SCORE",), "max-score"),
    "all_traces": Source(("REFINERY_ALL_TRACES",), "all-traces"),
    "max_select": Source(("REFINERY_MAX_SELECT",), "max-select"),
    "max_traces": Source(("REFINERY_MAX_TRACES",), "max-traces"),
    "max_cost": Source(("REFINERY_MAX_COST",), "max-cost"),
    "concurrency": Source(("REFINERY_CONCURRENCY",), "concurrency"),
    "tokens_per_minute": Source(("REFINERY_TOKENS_PER_MINUTE",), "tokens-per-minute"),
    "trace_ids": Source(("REFINERY_TRACE_ID",), "trace-id"),
    "trace_file": Source(("REFINERY_TRACE_FILE",), "trace-file"),
    "merge_from": Source(("REFINERY_MERGE_FROM",), "merge-from"),
    "experiment": Source(("REFINERY_EXPERIMENT",), "experiment"),
    "baseline_experiment": Source(("REFINERY_BASELINE_EXPERIMENT",), "baseline-experiment"),
    "changes": Source(("REFINERY_CHANGES",), "changes"),
    "verify_command": Source(("REFINERY_VERIFY_COMMAND",), "verify-command"),
    "verify_runs": Source(("REFINERY_VERIFY_RUNS",), "verify-runs"),
    "verify_timeout": Source(("REFINERY_VERIFY_TIMEOUT",), "verify-timeout"),
    "verify_results_file": Source(("REFINERY_VERIFY_RESULTS_FILE",), "verify-results-file"),
    "verify_budget": Source(("REFINERY_VERIFY_BUDGET",), "verify-budget"),
    "since": Source(("REFINERY_SINCE",), "since"),
    "provider": Source(("REFINERY_PROVIDER",), "provider"),
    "fallback": Source(("REFINERY_FALLBACK",), "fallback"),
    "stage_providers": Source(("REFINERY_STAGE_PROVIDERS",), "stage-providers"),
    "context_budget": Source(("REFINERY_CONTEXT_BUDGET",), "context-budget"),
    "stage_timeout_s": Source(("REFINERY_STAGE_TIMEOUT",), "stage-timeout"),
    "store_timeout_s": Source(("REFINERY_STORE_TIMEOUT",), None),
    "openai_timeout_s": Source(("REFINERY_REQUEST_TIMEOUT",), None),
    "allow_partial": Source(("REFINERY_ALLOW_PARTIAL",), "allow-partial"),
    "max_input_mb": Source(("REFINERY_MAX_INPUT_MB",), None),
    "pr_number": Source(("REFINERY_PR_NUMBER",), "pr-number"),
    "output_dir": Source(("REFINERY_OUTPUT_DIR",), "output-dir"),
    "fail_on": Source(("REFINERY_FAIL_ON",), "fail-on"),
    "redact": Source(("REFINERY_REDACT",), "redact"),
    "debug": Source(("REFINERY_DEBUG",), None),
}


class Section(BaseModel):
    """One adapter's own settings (a provider's key and model, a publisher's switches).

    An adapter module declares a subclass with its fields, each documented, and ``SOURCES`` for
    the ones that come from the environment or an action input; the composition root lists the
    sections, and ``load_settings`` fills each from the same sources as the core settings.
    Field names are unique across sections, so that a CLI option overrides one by name.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    NAME: ClassVar[str] = ""
    """The adapter's name: the provider name (``anthropic``), or the publisher's (``github``)."""
    KIND: ClassVar[Literal["provider", "publisher"]] = "provider"
    SOURCES: ClassVar[dict[str, Source]] = {}

    def configured(self) -> bool:
        """Whether the adapter has what it needs to be tried (a provider: its key or base URL)."""
        return True

    def secret_values(self) -> list[str]:
        """Every secret field's value, for masking and redaction."""
        values = (getattr(self, name) for name in type(self).model_fields)
        return [v.get_secret_value() for v in values if isinstance(v, SecretStr) and v.get_secret_value()]


class Settings(BaseModel):
    """Everything Refinery can be configured with. Built by ``load_settings`` only."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    langsmith_api_key: SecretStr | None = Field(default=None, repr=False)
    """LangSmith API key; needed only to read traces from LangSmith."""
    langsmith_endpoint: str = DEFAULT_LANGSMITH_ENDPOINT
    """LangSmith API base URL (self-hosted instances differ)."""
    langsmith_workspace_id: str | None = None
    """Workspace for org-scoped LangSmith keys."""
    langsmith_project: str | None = None
    """Project (tracer session) to select failing traces from."""
    langsmith_max_retries: int = Field(default=4, ge=0, le=10)
    """Retries the LangSmith SDK's HTTP adapter makes on 429/5xx, honouring Retry-After."""
    langsmith_timeout_s: float = Field(default=30.0, gt=0)
    """Read timeout for one LangSmith request."""
    openai_max_retries: int = Field(default=3, ge=0, le=10)
    """Retries the OpenAI SDK makes on 408/409/429/5xx and connection errors (Retry-After honoured)."""
    openai_timeout_s: float = Field(default=120.0, gt=0)
    """Timeout of one HTTP request to a model provider, in seconds (REFINERY_REQUEST_TIMEOUT)."""
    stage_timeout_s: float = Field(default=600.0, gt=0)
    """How long one background stage may run before it is cancelled, in seconds."""
    store_timeout_s: float = Field(default=300.0, gt=0)
    """How long the vector store may take to process the documents, in seconds."""
    allow_partial: bool = False
    """Keep a LangSmith trace whose runs could not all be fetched (marked partial)."""
    max_input_mb: int = Field(default=512, ge=1, le=16_384)
    """The largest trace file read, once decompressed, in MB."""
    feedback_keys: list[str] = Field(default_factory=list)
    """Only feedback with these keys marks a trace as failing; empty: every key counts."""
    max_score: float = 0.5
    """A trace fails (and feedback is an eval gap) when a score is at or below this."""
    max_select: int = Field(default=50, ge=1, le=1000)
    """How many failing traces are fetched and triaged at most (triage costs no model tokens)."""
    max_traces: int = Field(default=3, ge=1, le=1000)
    """How many failure clusters get the model stages: one representative each, largest first."""
    max_cost: float = Field(default=1.0, ge=0)
    """The most the model stages may cost across the whole run, in USD (estimated before each stage)."""
    concurrency: int = Field(default=4, ge=1, le=32)
    """How many traces are analysed at once."""
    tokens_per_minute: int | None = Field(default=None, ge=1_000)
    """An optional budget of request tokens per minute, shared by all workers."""
    trace_ids: list[str] = Field(default_factory=list)
    """Traces (or runs) to analyse; the action input accepts several, separated by spaces, commas or lines."""
    trace_file: str | None = None
    """A trace file, or a glob of them, relative to the workspace."""
    experiment: str | None = None
    """LangSmith experiment to select failing traces from."""
    baseline_experiment: str | None = None
    """LangSmith experiment (the base branch's) whose run of the same example is each failure's baseline."""
    changes: Literal["auto", "github", "git", "off"] = "auto"
    """Where the pull request's changes are read from (auto: the GitHub API, else the workspace's git)."""
    verify_command: str | None = None
    """The user's eval, run for a failing example without and with each proposed fix (opt in)."""
    verify_runs: int = Field(default=3, ge=1, le=20)
    """Runs with the fix, and as many without."""
    verify_timeout: float = Field(default=600.0, ge=1)
    """Seconds per verification run."""
    verify_results_file: str | None = None
    """A results file the verify command writes (relative to the worktree); else its exit code decides."""
    verify_budget: float | None = Field(default=None, ge=1)
    """Seconds for all of the run's verification, shared by every fix (what the job has left for it); runs
    past it are not started and the verdicts say so. Default: 2 × runs × timeout."""
    merge_from: list[str] = Field(default_factory=list)
    """Packs (files, directories or globs) from a fan-out's matrix jobs: merge them instead of analysing."""
    since: str | None = None
    """Only traces started since (ISO time or an age like 6h); the action defaults to the triggering run's start."""
    provider: str = "openai"
    """Default model provider for the stages (one of the registered providers' names)."""
    fallback: list[str] = Field(default_factory=list)
    """Providers to try, in order, when a stage still fails on its own provider after its retries."""
    stage_providers: dict[str, str] = Field(default_factory=dict)
    """Per-stage provider overrides, e.g. diagnosis=anthropic."""
    context_budget: int | None = Field(default=None, ge=4_000)
    """Tokens of documents to pack inline (default: the model's context window from the table)."""
    pr_number: int | None = Field(default=None, ge=1)
    """Pull request to comment on, when the event does not say."""
    output_dir: str = "refinery-artifacts"
    """Where the artifacts are written (relative to the workspace)."""
    fail_on: Literal["never", "error", "finding"] = "never"
    """never: Refinery never fails the job; error: fail on Refinery's own errors; finding: also when it finds a failure."""
    redact: bool = True
    """Redact secrets before anything leaves the machine."""
    debug: bool = False
    """Show tracebacks for errors."""
    all_traces: bool = False
    """Analyse every trace read, passing ones too, instead of the failing ones only."""
    offline: bool = False
    """Triage only: no model stages even when a provider is configured."""
    sections: dict[str, Section] = Field(default_factory=dict)
    """Each adapter's own settings, by its name."""

    @field_validator("trace_ids", "merge_from", "fallback", "feedback_keys", mode="before")
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        # Action inputs are strings: accept spaces, commas or new lines between items.
        if isinstance(value, str):
            return [part for part in re.split(r"[\s,]+", value) if part]
        return value

    @field_validator("trace_ids")
    @classmethod
    def _printable_ids(cls, value: list[str]) -> list[str]:
        for item in value:
            problem = trace_id_problem(item)
            if problem:
                raise ValueError(problem)
        return value

    @field_validator("stage_providers", mode="before")
    @classmethod
    def _split_stage_providers(cls, value: Any) -> Any:
        if isinstance(value, str):
            pairs = [part.split("=", 1) for part in re.split(r"[\s,]+", value) if part]
            if any(len(p) != 2 for p in pairs):
                raise ValueError("write stage=provider pairs, e.g. diagnosis=anthropic,synthesis=openai")
            return {stage.strip().replace("-", "_"): provider.strip() for stage, provider in pairs}
        return value

    @field_validator("stage_providers")
    @classmethod
    def _known_stages(cls, value: dict[str, str]) -> dict[str, str]:
        stages = {"trace_analysis", "gap_analysis", "diagnosis", "synthesis"}
        unknown = set(value) - stages
        if unknown:
            raise ValueError(f"unknown stage {sorted(unknown)[0]!r}; stages are {', '.join(sorted(stages))}")
        return value

    def section(self, kind: type[SectionT]) -> SectionT:
        """The settings of one adapter (its defaults when no section was loaded for it)."""
        found = self.sections.get(kind.NAME)
        return found if isinstance(found, kind) else kind()

    @property
    def providers_in_use(self) -> list[str]:
        return list(dict.fromkeys([self.provider, *self.stage_providers.values(), *self.fallback]))

    @property
    def has_model_key(self) -> bool:
        """Whether the default provider is configured well enough to try the model stages."""
        found = self.sections.get(self.provider)
        return found is not None and found.configured()

    @field_validator("langsmith_endpoint")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    def require_langsmith_key(self) -> SecretStr:
        """The LangSmith key, or a ConfigError naming where to set it."""
        return _require(self.langsmith_api_key, "langsmith_api_key", "to read traces from LangSmith")

    def secret_values(self) -> list[str]:
        """Every secret's value, for log masking and redaction. Never print these."""
        own = self.langsmith_api_key.get_secret_value() if self.langsmith_api_key is not None else ""
        found = [own] if own else []
        for section in self.sections.values():
            found.extend(section.secret_values())
        return found


def trace_id_problem(value: str) -> str | None:
    """Why ``value`` cannot be a trace or run id (control characters, absurd length), or None."""
    if not value or len(value) > 256 or any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in value):
        return f"{value[:40]!r} is not a trace id: ids are 1 to 256 printable characters"
    return None


def check_trace_ids(values: tuple[str, ...] | list[str]) -> None:
    """A ConfigError for the first id that cannot be one (for ids given as CLI options)."""
    for value in values:
        problem = trace_id_problem(value)
        if problem:
            raise ConfigError(f"{problem}.", hint="Copy the id from the LangSmith URL or `refinery select`.")


def _require(value: SecretStr | None, field: str, purpose: str) -> SecretStr:
    if value is None or not value.get_secret_value():
        raise MissingSecretError(f"A key is needed {purpose}: set {SOURCES[field].describe()}.")
    return value


def require_secret(value: SecretStr | None, source: Source, purpose: str) -> SecretStr:
    """``value``, or a MissingSecretError naming where to set it (for a section's key)."""
    if value is None or not value.get_secret_value():
        raise MissingSecretError(f"A key is needed {purpose}: set {source.describe()}.")
    return value


def _read_sources(
    sources: Mapping[str, Source], env: Mapping[str, str], values: dict[str, Any], origin: dict[str, str]
) -> None:
    """Each field's value from its env vars, then its action input (the input wins)."""
    for field, source in sources.items():
        for name in source.env:
            if env.get(name):
                values[field] = env[name]
                origin[field] = f"environment variable {name}"
                break
        if source.action_input:
            # The runner keeps hyphens: input `openai-api-key` arrives as INPUT_OPENAI-API-KEY.
            name = "INPUT_" + source.action_input.upper()
            if env.get(name):
                values[field] = env[name]
                origin[field] = f"action input `{source.action_input}`"


def _validated(kind: type[BaseModel], values: dict[str, Any], origin: dict[str, str]) -> Any:
    try:
        return kind(**values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "settings"
            where = origin.get(field, field)
            problems.append(f"{where}: {err['msg']}")
        raise ConfigError("Invalid setting: " + "; ".join(problems) + ".") from None


def _check_provider_names(settings: Settings, names: list[str], origin: dict[str, str]) -> None:
    if not names:
        return
    used = {"provider": [settings.provider], "fallback": settings.fallback}
    used["stage_providers"] = list(settings.stage_providers.values())
    for field, given in used.items():
        unknown = [n for n in given if n not in names]
        if unknown:
            where = origin.get(field, field)
            raise ConfigError(
                f"Invalid setting: {where}: unknown provider {unknown[0]!r}; providers are {', '.join(names)}."
            )


def _check_chosen_provider(settings: Settings, origin: dict[str, str]) -> None:
    """A provider chosen explicitly must have its key: a silent fall back to triage alone would hide that
    the stages the user asked for never ran. ``offline`` asks for triage alone; no provider named keeps
    the implicit default (offline, with a hint)."""
    if "provider" not in origin or settings.offline or settings.has_model_key:
        return
    section = settings.sections.get(settings.provider)
    if section is None:
        return
    keys = [source.describe() for field, source in section.SOURCES.items() if field.endswith("api_key")]
    keys = keys or [s.describe() for f, s in section.SOURCES.items() if f.endswith("base_url")]
    raise ConfigError(
        f"Invalid setting: {origin['provider']} chose the provider {settings.provider!r}, and it has no key.",
        hint=f"Set {' or '.join(keys[:1])}; or ask for triage alone with --offline.",
    )


def load_settings(
    env: Mapping[str, str],
    overrides: Mapping[str, Any] | None = None,
    sections: Sequence[type[Section]] = (),
) -> Settings:
    """Build Settings from env vars, then ``INPUT_*`` action inputs, then explicit overrides.

    ``sections`` are the adapters' own settings, filled from the same sources; an override
    goes to the section that has a field of its name. Empty strings count as unset: the
    Actions runner passes every undeclared input as "".
    """
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    _read_sources(SOURCES, env, values, origin)
    section_values: dict[str, dict[str, Any]] = {}
    owner = {field: kind.NAME for kind in sections for field in kind.model_fields}
    for kind in sections:
        section_values[kind.NAME] = {}
        _read_sources(kind.SOURCES, env, section_values[kind.NAME], origin)
    for field, value in (overrides or {}).items():
        if value is None:
            continue
        target = section_values[owner[field]] if field in owner else values
        target[field] = value
        origin[field] = "option --" + field.replace("_", "-")
    built = {kind.NAME: _validated(kind, section_values[kind.NAME], origin) for kind in sections}
    settings: Settings = _validated(Settings, {**values, "sections": built}, origin)
    _check_provider_names(settings, [k.NAME for k in sections if k.KIND == "provider"], origin)
    _check_chosen_provider(settings, origin)
    return settings


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """Parse ``--since``: an ISO-8601 time, or a relative age like ``90m``, ``6h``, ``2d``."""
    now = now or datetime.now(UTC)
    text = text.strip()
    units = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    if text and text[-1] in units and text[:-1].isdigit():
        return now - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(
            f"Cannot read --since {text!r}: give an ISO time (2026-11-01T12:00:00Z) or an age (90m, 6h, 2d)."
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
