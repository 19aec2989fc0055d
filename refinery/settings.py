"""Typed settings, built in one place from the environment, action inputs and CLI options.

Nothing here reads ``os.environ``: the entry points pass a mapping in. Secrets are
``SecretStr`` and never appear in ``repr``. Validation is lazy: a key is required only
when the workflow that needs it asks for it (``require_*``), and a missing one names
the variable or input to set.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from refinery.errors import ConfigError, MissingSecretError

DEFAULT_LANGSMITH_ENDPOINT = "https://api.smith.langchain.com"
Provider = Literal["openai", "anthropic", "gemini", "openai-compatible"]


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


# One row per setting that can come from outside the CLI. The action.yml/README sync
# test reads this table, so a new input is added here first.
SOURCES: dict[str, Source] = {
    "langsmith_api_key": Source(("LANGSMITH_API_KEY", "LANGCHAIN_API_KEY"), "langsmith-api-key"),
    "langsmith_endpoint": Source(("LANGSMITH_ENDPOINT", "LANGCHAIN_ENDPOINT"), "langsmith-endpoint"),
    "langsmith_workspace_id": Source(("LANGSMITH_WORKSPACE_ID",), None),
    "langsmith_project": Source(("LANGSMITH_PROJECT", "LANGCHAIN_PROJECT"), "langsmith-project"),
    "openai_api_key": Source(("OPENAI_API_KEY",), "openai-api-key"),
    "openai_base_url": Source(("OPENAI_BASE_URL",), "base-url"),
    "openai_project": Source(("OPENAI_PROJECT",), None),
    "openai_model": Source(("REFINERY_MODEL",), "model"),
    "reasoning_effort": Source(("REFINERY_REASONING_EFFORT",), "reasoning-effort"),
    "github_token": Source(("GITHUB_TOKEN",), "github-token"),
    "feedback_keys": Source(("REFINERY_FEEDBACK_KEY",), "feedback-key"),
    "max_score": Source(("REFINERY_MAX_SCORE",), "max-score"),
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
    "since": Source(("REFINERY_SINCE",), "since"),
    "provider": Source(("REFINERY_PROVIDER",), "provider"),
    "fallback": Source(("REFINERY_FALLBACK",), "fallback"),
    "stage_providers": Source(("REFINERY_STAGE_PROVIDERS",), "stage-providers"),
    "anthropic_api_key": Source(("ANTHROPIC_API_KEY",), "anthropic-api-key"),
    "anthropic_model": Source(("REFINERY_ANTHROPIC_MODEL",), "anthropic-model"),
    "anthropic_base_url": Source(("ANTHROPIC_BASE_URL",), None),
    "gemini_api_key": Source(("GEMINI_API_KEY", "GOOGLE_API_KEY"), "gemini-api-key"),
    "gemini_model": Source(("REFINERY_GEMINI_MODEL",), "gemini-model"),
    "gemini_base_url": Source(("GEMINI_BASE_URL",), None),
    "compatible_base_url": Source(("REFINERY_COMPATIBLE_BASE_URL",), "compatible-base-url"),
    "compatible_api_key": Source(("REFINERY_COMPATIBLE_API_KEY",), "compatible-api-key"),
    "compatible_model": Source(("REFINERY_COMPATIBLE_MODEL",), "compatible-model"),
    "context_budget": Source(("REFINERY_CONTEXT_BUDGET",), "context-budget"),
    "stage_timeout_s": Source(("REFINERY_STAGE_TIMEOUT",), "stage-timeout"),
    "store_timeout_s": Source(("REFINERY_STORE_TIMEOUT",), None),
    "openai_timeout_s": Source(("REFINERY_REQUEST_TIMEOUT",), None),
    "allow_partial": Source(("REFINERY_ALLOW_PARTIAL",), "allow-partial"),
    "max_input_mb": Source(("REFINERY_MAX_INPUT_MB",), None),
    "pr_number": Source(("REFINERY_PR_NUMBER",), "pr-number"),
    "comment": Source(("REFINERY_COMMENT",), "comment"),
    "check_run": Source(("REFINERY_CHECK_RUN",), "check-run"),
    "annotations": Source(("REFINERY_ANNOTATIONS",), "annotations"),
    "output_dir": Source(("REFINERY_OUTPUT_DIR",), "output-dir"),
    "fail_on": Source(("REFINERY_FAIL_ON",), "fail-on"),
    "redact": Source(("REFINERY_REDACT",), "redact"),
    "debug": Source(("REFINERY_DEBUG",), None),
}


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
    openai_api_key: SecretStr | None = Field(default=None, repr=False)
    """OpenAI key; needed only for the model stages."""
    openai_base_url: str | None = None
    """Alternative OpenAI-compatible base URL."""
    openai_project: str | None = None
    """OpenAI project id sent with requests."""
    openai_model: str = "gpt-5-mini"
    """Model for the four stages."""
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh"] = "medium"
    """Reasoning effort for reasoning models (ignored by others, which get a temperature)."""
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
    github_token: SecretStr | None = Field(default=None, repr=False)
    """Token used to publish to GitHub."""
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
    merge_from: list[str] = Field(default_factory=list)
    """Packs (files, directories or globs) from a fan-out's matrix jobs: merge them instead of analysing."""
    since: str | None = None
    """Only traces started since (ISO time or an age like 6h); the action defaults to the triggering run's start."""
    provider: Provider = "openai"
    """Default model provider for the stages."""
    fallback: list[Provider] = Field(default_factory=list)
    """Providers to try, in order, when a stage still fails on its own provider after its retries."""
    stage_providers: dict[str, Provider] = Field(default_factory=dict)
    """Per-stage provider overrides, e.g. diagnosis=anthropic."""
    anthropic_api_key: SecretStr | None = Field(default=None, repr=False)
    """Anthropic key (provider anthropic)."""
    anthropic_model: str = "claude-sonnet-4-6"
    """Model on Anthropic."""
    anthropic_base_url: str | None = None
    """Alternative Anthropic API URL (a gateway or proxy)."""
    gemini_api_key: SecretStr | None = Field(default=None, repr=False)
    """Gemini key (provider gemini)."""
    gemini_model: str = "gemini-2.5-pro"
    """Model on Gemini."""
    gemini_base_url: str | None = None
    """Alternative Gemini API URL (a gateway or proxy)."""
    compatible_base_url: str | None = None
    """Base URL of an OpenAI-compatible server (provider openai-compatible): Ollama, vLLM, LiteLLM, Azure."""
    compatible_api_key: SecretStr | None = Field(default=None, repr=False)
    """Its key, if it wants one."""
    compatible_model: str | None = None
    """Its model name."""
    context_budget: int | None = Field(default=None, ge=4_000)
    """Tokens of documents to pack inline (default: the model's context window from the table)."""
    pr_number: int | None = Field(default=None, ge=1)
    """Pull request to comment on, when the event does not say."""
    comment: Literal["update", "new", "off"] = "update"
    """update: one sticky comment edited in place; new: a comment per run; off: none."""
    check_run: bool = True
    """Create a check run on the head commit."""
    annotations: bool = True
    """Annotate the prompt/tool/eval files in the check run."""
    output_dir: str = "refinery-artifacts"
    """Where the artifacts are written (relative to the workspace)."""
    fail_on: Literal["never", "error", "finding"] = "never"
    """never: Refinery never fails the job; error: fail on Refinery's own errors; finding: also when it finds a failure."""
    redact: bool = True
    """Redact secrets before anything leaves the machine."""
    debug: bool = False
    """Show tracebacks for errors."""

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

    def require_key(self, provider: str) -> SecretStr | None:
        """The key ``provider`` needs, or a MissingSecretError naming where to set it."""
        if provider == "openai":
            return self.require_openai_key()
        if provider == "anthropic":
            return _require(self.anthropic_api_key, "anthropic_api_key", "to run stages on Anthropic")
        if provider == "gemini":
            return _require(self.gemini_api_key, "gemini_api_key", "to run stages on Gemini")
        if not self.compatible_base_url:
            raise MissingSecretError(
                f"A base URL is needed for the openai-compatible provider: set {SOURCES['compatible_base_url'].describe()}."
            )
        return self.compatible_api_key

    @property
    def providers_in_use(self) -> list[str]:
        return list(dict.fromkeys([self.provider, *self.stage_providers.values(), *self.fallback]))

    @property
    def has_model_key(self) -> bool:
        """Whether the default provider is configured well enough to try the model stages."""
        return {
            "openai": self.openai_api_key is not None,
            "anthropic": self.anthropic_api_key is not None,
            "gemini": self.gemini_api_key is not None,
            "openai-compatible": bool(self.compatible_base_url),
        }[self.provider]

    @field_validator("langsmith_endpoint", "openai_base_url")
    @classmethod
    def _strip_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

    def require_langsmith_key(self) -> SecretStr:
        """The LangSmith key, or a ConfigError naming where to set it."""
        return _require(self.langsmith_api_key, "langsmith_api_key", "to read traces from LangSmith")

    def require_openai_key(self) -> SecretStr:
        """The OpenAI key, or a ConfigError naming where to set it."""
        return _require(self.openai_api_key, "openai_api_key", "to run the model stages")

    def require_github_token(self) -> SecretStr:
        """The GitHub token, or a ConfigError naming where to set it."""
        return _require(self.github_token, "github_token", "to publish to GitHub")

    def secret_values(self) -> list[str]:
        """Every secret's value, for log masking and redaction. Never print these."""
        secrets = (
            self.langsmith_api_key,
            self.openai_api_key,
            self.github_token,
            self.anthropic_api_key,
            self.gemini_api_key,
            self.compatible_api_key,
        )
        return [s.get_secret_value() for s in secrets if s is not None and s.get_secret_value()]


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


def load_settings(
    env: Mapping[str, str],
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build Settings from env vars, then ``INPUT_*`` action inputs, then explicit overrides.

    Empty strings count as unset: the Actions runner passes every undeclared input as "".
    """
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for field, source in SOURCES.items():
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
    for field, value in (overrides or {}).items():
        if value is not None:
            values[field] = value
            origin[field] = "option --" + field.replace("_", "-")
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "settings"
            where = origin.get(field, field)
            problems.append(f"{where}: {err['msg']}")
        raise ConfigError("Invalid setting: " + "; ".join(problems) + ".") from None


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
