"""The LangSmith API as a TraceSource, through the langsmith SDK.

Every SDK call lives in this module: ``read_run``/``list_runs`` are deprecated in
langsmith 0.15 (removal after Jan 2027), and the swap to ``client.runs``/``client.traces``
must touch one file. SDK errors become RefineryErrors here. Retries (429 with
Retry-After, 5xx) are the SDK's own, configured where the client is built.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import langsmith
import pydantic
from langsmith import utils as ls_utils

from refinery.errors import RefineryError, SourceError, TraceFetchError, TraceNotFound
from refinery.trace.assemble import assemble_trace
from refinery.trace.files.langsmith_export import draft_from_langsmith, feedback_from_langsmith
from refinery.trace.model import Trace, TraceWarning
from refinery.trace.source import SelectedTrace, SelectionCriteria, stats_passed, stats_reasons
from refinery.words import plural


@contextmanager
def _translated(action: str, endpoint: str) -> Iterator[None]:
    """Turn SDK and transport errors into RefineryErrors that say what to do."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    except RefineryError:
        raise
    except ls_utils.LangSmithNotFoundError as exc:
        raise TraceNotFound(
            f"LangSmith has no such {action}.", hint="Check the id and that the key's workspace owns it."
        ) from exc
    except ls_utils.LangSmithAuthError as exc:
        raise SourceError(
            f"LangSmith rejected the API key while reading {action} (401).",
            hint="Set a valid LANGSMITH_API_KEY (action input `langsmith-api-key`).",
        ) from exc
    except ls_utils.LangSmithRateLimitError as exc:
        raise SourceError(
            f"LangSmith kept rate-limiting us while reading {action} (429), after the configured retries.",
            hint="Try again later, or lower `max-traces` (CLI: --max-traces).",
        ) from exc
    except ls_utils.LangSmithConnectionError as exc:
        raise SourceError(
            f"Cannot reach LangSmith at {endpoint} while reading {action}.",
            hint="Check LANGSMITH_ENDPOINT (action input `langsmith-endpoint`) and the network.",
        ) from exc
    except ls_utils.LangSmithError as exc:
        detail = " ".join(str(exc).split())[:300]
        raise SourceError(f"LangSmith failed while reading {action}: {detail}") from exc


def _run_dict(run: Any) -> dict[str, Any]:
    data: dict[str, Any] = run.model_dump()  # the SDK's runs, feedback and examples are pydantic models
    data = {k: v for k, v in data.items() if k not in ("child_runs", "attachments", "feedback_stats")}
    # json round trip turns UUIDs/datetimes into plain values, as an export would hold them.
    return dict(json.loads(json.dumps(data, default=str)))


class LangSmithSource:
    """Reads traces, feedback and reference examples from LangSmith."""

    def __init__(
        self,
        client: langsmith.Client,
        *,
        endpoint: str,
        project: str | None = None,
        experiment: bool = False,
        allow_partial: bool = False,
    ) -> None:
        self._client = client
        self._endpoint = endpoint
        self._project = project
        self._experiment = experiment
        self._allow_partial = allow_partial
        self.notes: list[str] = []
        """What the last selection could not do (more roots than it reads)."""

    # -- fetching -------------------------------------------------------------------------

    def _read_root(self, run_or_trace_id: str) -> Any:
        with _translated(f"run {run_or_trace_id}", self._endpoint):
            run = self._client.read_run(run_or_trace_id)
            if run.trace_id and str(run.trace_id) != str(run.id):
                run = self._client.read_run(run.trace_id)
        return run

    def _list_trace_runs(self, root: Any) -> tuple[list[dict[str, Any]], TraceWarning | None]:
        runs: list[dict[str, Any]] = []
        try:
            with _translated(f"the runs of trace {root.trace_id}", self._endpoint):
                # No `limit`: list_runs treats it as a total and stops there, while the
                # server pages at its default (100, the most it accepts) with a cursor.
                for run in self._client.list_runs(trace_id=root.trace_id, project_id=root.session_id, select=None):
                    runs.append(_run_dict(run))
        except (SourceError, TraceNotFound) as exc:
            if not runs or not self._allow_partial:
                raise TraceFetchError(
                    f"Fetching trace {root.trace_id} stopped after {plural(len(runs), 'run')}: {exc.one_line()}",
                    hint="Re-run, or set `allow-partial: true` (CLI: --allow-partial) to analyse what was fetched; "
                    "it is marked partial.",
                ) from exc
            return runs, TraceWarning(
                code="partial",
                message=f"Only {plural(len(runs), 'run')} could be fetched: {exc.one_line()}",
                count=len(runs),
            )
        return runs, None

    def _feedback(self, root: Any) -> list[dict[str, Any]]:
        """The root's feedback; when the SDK cannot read it (a score it will not take, such as a string),
        the root's ``feedback_stats`` instead, one mean per key, rather than no trace at all."""
        run_id = str(root.id)
        try:
            with _translated(f"feedback on run {run_id}", self._endpoint):
                return [_run_dict(f) for f in self._client.list_feedback(run_ids=[run_id])]
        except pydantic.ValidationError:
            stats = root.feedback_stats if isinstance(root.feedback_stats, dict) else {}
            return [
                {"key": key, "score": value.get("avg"), "feedback_source": {"type": "feedback_stats"}, "run_id": run_id}
                for key, value in stats.items()
                if isinstance(value, dict)
            ]

    def _example(self, example_id: Any) -> dict[str, Any] | None:
        if not example_id:
            return None
        try:
            with _translated(f"example {example_id}", self._endpoint):
                return _run_dict(self._client.read_example(example_id))
        except TraceNotFound:
            return None

    def fetch_raw(self, trace_id: str) -> dict[str, Any]:
        """The trace as LangSmith returns it: runs, root feedback, reference example."""
        root = self._read_root(trace_id)
        runs, partial = self._list_trace_runs(root)
        root_dict = _run_dict(root)
        if not any(r.get("id") == root_dict["id"] for r in runs):
            runs.insert(0, root_dict)
        return {
            "runs": runs,
            "feedback": self._feedback(root),
            "example": self._example(root.reference_example_id),
            "url": root.url,
            "project_id": str(root.session_id) if root.session_id else None,
            "partial": partial.model_dump() if partial else None,
        }

    def fetch_trace(self, trace_id: str) -> Trace:
        raw = self.fetch_raw(trace_id)
        drafts = [draft_from_langsmith(r) for r in raw["runs"]]
        warnings_ = [TraceWarning.model_validate(raw["partial"])] if raw["partial"] else []
        example = raw["example"] or {}
        metadata: dict[str, Any] = {}
        if example.get("dataset_id"):
            metadata["dataset_id"] = example["dataset_id"]
        if example.get("inputs") is not None:
            metadata["example_inputs"] = example["inputs"]
        trace = assemble_trace(
            drafts,
            source="langsmith",
            feedback=[feedback_from_langsmith(f) for f in raw["feedback"]],
            warnings=warnings_,
            url=raw["url"],
            project=self._project,
            reference_outputs=example.get("outputs"),
            metadata=metadata,
            partial=bool(raw["partial"]),
        )
        missing = [w for w in trace.warnings if w.code == "orphan"]
        if missing and not self._allow_partial:
            raise TraceFetchError(
                f"Trace {trace.id} came back with {plural(missing[0].count, 'run')} whose parents are missing.",
                hint="Re-run (LangSmith may still be ingesting), or set `allow-partial: true` (CLI: --allow-partial).",
            )
        if missing:
            trace = trace.model_copy(update={"partial": True})
        return trace

    # -- selection ------------------------------------------------------------------------

    def select_failing(self, criteria: SelectionCriteria) -> list[SelectedTrace]:
        """Failing root runs, judged by their ``feedback_stats`` read in the same query as the runs.

        Every root of an experiment is read, so that an example's passing repetitions are
        counted (and kept as baselines); elsewhere, when feedback keys narrow the selection,
        the server prefilters on errors and those keys' scores.
        """
        if not self._project:
            raise SourceError(
                "No project to select from.",
                hint="Set `langsmith-project` or `experiment` (CLI: --project, --experiment).",
            )
        query_filter = None
        if criteria.feedback_keys and not self._experiment:
            clauses = ["neq(error, null)"] + [
                f"and(eq(feedback_key, {json.dumps(key)}), lte(feedback_score, {criteria.max_score:g}))"
                for key in criteria.feedback_keys
            ]
            query_filter = f"or({', '.join(clauses)})"
        groups: dict[str, list[tuple[Any, list[str], bool]]] = {}
        self.notes = []
        with _translated(f"project {self._project!r}", self._endpoint):
            roots = self._client.list_runs(
                project_id=self._project_id(),
                is_root=True,
                start_time=criteria.since,
                filter=query_filter,
                select=list(_SELECT),
            )
            for scanned, root in enumerate(roots, start=1):
                if scanned > SCAN_LIMIT:
                    self.notes.append(f"Only the newest {SCAN_LIMIT:,} root runs were read; narrow with `since`.")
                    break
                example = str(root.reference_example_id) if root.reference_example_id else None
                reasons = stats_reasons(root.error, root.feedback_stats, criteria)
                passed = stats_passed(root.error, root.feedback_stats, criteria)
                groups.setdefault(example or f"trace:{root.id}", []).append((root, reasons, passed))
        selected = [self._selected(key, runs) for key, runs in groups.items() if any(r for _, r, _ in runs)]
        selected.sort(key=lambda s: s.start_time.timestamp() if s.start_time else 0.0, reverse=True)
        return selected[: criteria.limit]

    def find_passing_run(self, project: str, example_id: str, criteria: SelectionCriteria) -> str | None:
        """The newest root run of ``example_id`` in ``project`` (an experiment) that passed; its trace id."""
        with _translated(f"example {example_id} in {project!r}", self._endpoint):
            roots = self._client.list_runs(
                project_id=self._project_id(project),
                is_root=True,
                reference_example_id=example_id,
                select=list(_SELECT),
            )
            passing = [r for r in roots if stats_passed(r.error, r.feedback_stats, criteria)]
        passing.sort(key=lambda r: _aware(r.start_time) or _EPOCH, reverse=True)
        return str(passing[0].id) if passing else None  # a root run's id is its trace's

    def _project_id(self, name: str | None = None) -> str:
        """The project's id by name. Through list_projects: read_project sends ``include_stats=False``,
        which LangSmith's description does not accept as a boolean (it wants ``false``)."""
        name = name or self._project
        found = next(iter(self._client.list_projects(name=name, limit=1)), None)
        if found is None:
            raise SourceError(
                f"LangSmith has no project {name!r}.",
                hint="Check `langsmith-project` / `experiment` (CLI: --project, --experiment) and the key's workspace.",
            )
        return str(found.id)

    @staticmethod
    def _selected(key: str, runs: list[tuple[Any, list[str], bool]]) -> SelectedTrace:
        """One failing example (or trace): its newest failing repetition, and which repetitions are known
        to have passed (an unscored one is neither, and makes no example flaky)."""
        failed = sorted((r for r, why, _ in runs if why), key=lambda r: _aware(r.start_time) or _EPOCH, reverse=True)
        root, reasons = next((r, why) for r, why, _ in runs if r is failed[0])
        return SelectedTrace(
            trace_id=str(root.id),  # a root run's id is its trace's
            name=root.name,
            start_time=_aware(root.start_time),
            url=root.url,
            reasons=reasons,
            example_id=None if key.startswith("trace:") else key,
            repetitions=len(runs),
            failed_trace_ids=[str(r.id) for r in failed],
            passed_trace_ids=[str(r.id) for r, _, passed in runs if passed],
        )


SCAN_LIMIT = 10_000
"""Root runs read at most in one selection (a CI window rarely holds more)."""
_SELECT = (
    # What RunSchema requires, then what the selection reads: no inputs or outputs.
    *("id", "name", "run_type", "trace_id", "dotted_order", "status", "session_id", "app_path"),
    *("start_time", "end_time", "error", "feedback_stats", "reference_example_id", "parent_run_id"),
)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)
