"""Refinery's typed errors.

Every error a user can meet is a ``RefineryError`` whose message says what to do.
SDK exceptions are translated at the adapter that caught them (``raise ... from exc``),
so nothing above the adapters ever sees an SDK type.
"""

from __future__ import annotations


class RefineryError(Exception):
    """Base of every error Refinery raises on purpose.

    ``hint`` is the action the user should take; it is appended to the message.
    """

    exit_code = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message if hint is None else f"{message} {hint}")

    def one_line(self) -> str:
        """The error as a single line, for the CLI and the action log."""
        return " ".join(str(self).split())


class ServiceError(RefineryError):
    """A remote service (a model provider, GitHub, LangSmith) refused or failed a request.

    Like openai-python's ``APIStatusError`` it carries what the service said as data, so that
    callers decide on ``status_code`` and ``code``, never on the message's words, and the user
    can quote ``request_id`` to the service's support.
    """

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        status_code: int | None = None,
        request_id: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.status_code = status_code
        """The HTTP status the service answered with; None when no answer came (timeout, refused connection)."""
        self.request_id = request_id
        """The service's id for the request (``x-request-id``, ``request-id``, ``x-github-request-id``)."""
        self.code = code
        """The service's machine-readable error code or type (``insufficient_quota``, ``billing_error``)."""

    def one_line(self) -> str:
        line = super().one_line()
        return f"{line} (request id {self.request_id})" if self.request_id else line


class ConfigError(RefineryError):
    """A setting is missing or invalid."""

    exit_code = 2


class MissingSecretError(ConfigError):
    """A key the chosen workflow needs is not set."""


class TraceNotFound(RefineryError):
    """The trace, run, project or file does not exist."""


class TraceFormatError(RefineryError):
    """A trace file could not be read as any supported format, or is malformed."""


class TraceFetchError(ServiceError):
    """Fetching a trace failed part-way, so what we have would be incomplete."""


class SourceError(ServiceError):
    """A trace source (LangSmith) refused or failed a request."""


class ProviderError(ServiceError):
    """A model provider failed after its own retries."""


class PublishError(ServiceError):
    """Publishing the result (comment, check run, summary) failed."""


class CostCapReached(RefineryError):
    """A stage was not started: its estimated cost would take the run past ``max-cost``."""


class ProviderQuotaError(ProviderError):
    """The account has no quota left (429 insufficient_quota): retrying cannot help."""


class ProviderTimeout(ProviderError):
    """A model call did not finish within the configured time."""


class StageOutputError(ProviderError):
    """The model's reply was not valid JSON for the stage schema, even after one re-ask."""

    def __init__(self, message: str, *, stage: str, attempts: int, raw_text: str, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.stage = stage
        self.attempts = attempts
        self.raw_text = raw_text


class VectorStoreError(ProviderError):
    """Creating, filling or reading the vector store failed."""


class ProviderBadRequest(ProviderError):
    """The provider rejected the request itself (400): another attempt with the same input cannot help."""
