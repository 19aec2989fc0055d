"""``analyze``'s options, read back from their groups into the run's settings and request."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from refinery.cli.common import pack_time
from refinery.cli.option_groups import (
    CompareGroup,
    LimitGroup,
    ModelGroup,
    RenderGroup,
    SourceGroup,
    compare_options,
    limit_options,
    model_group_options,
    render_options,
    source_options,
    take,
)
from refinery.documents.render import RenderOptions
from refinery.errors import ConfigError
from refinery.pipeline import PrepareOptions, redactor_for
from refinery.planner.request import BaselineRequest, RunRequest, eval_environment
from refinery.settings import Settings, check_trace_ids, parse_since

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class AnalyzeOptions:
    """Every option of ``analyze``, in its group."""

    source: SourceGroup
    limits: LimitGroup
    model: ModelGroup
    compare: CompareGroup
    render: RenderGroup

    @classmethod
    def from_click(cls, given: dict[str, Any]) -> AnalyzeOptions:
        given = dict(given)
        built = cls(
            take(SourceGroup, given),
            take(LimitGroup, given),
            take(ModelGroup, given),
            take(CompareGroup, given),
            take(RenderGroup, given),
        )
        if given:
            raise TypeError(f"options without a group: {sorted(given)}")
        check_trace_ids(built.source.trace_ids)
        if built.compare.diff_file and built.compare.git_range:
            raise ConfigError("Give --diff or --git-range, not both.")
        if built.compare.diff_file and not Path(built.compare.diff_file).is_file():
            raise ConfigError(
                f"--diff {built.compare.diff_file}: no such file.", hint="Give a unified diff (git diff > pr.diff)."
            )
        return built

    def overrides(self) -> dict[str, Any]:
        """The settings the options change (None leaves the environment's value)."""
        m, lim = self.model, self.limits
        return {
            "openai_model": m.model,
            "reasoning_effort": m.reasoning_effort,
            "openai_base_url": m.base_url,
            "provider": m.provider,
            "fallback": m.fallback,
            "stage_providers": ",".join(m.stage_providers) or None,
            "context_budget": m.context_budget,
            "stage_timeout_s": m.stage_timeout,
            "store_timeout_s": m.store_timeout,
            "offline": m.offline or None,
            "max_select": lim.max_select,
            "max_traces": lim.max_traces,
            "max_score": lim.max_score,
            "feedback_keys": list(lim.feedback_keys) or None,
            "max_cost": lim.max_cost,
            "concurrency": lim.concurrency,
            "allow_partial": lim.allow_partial or None,
            "all_traces": self.source.all_traces or None,
        }

    def request(self, settings: Settings) -> RunRequest:
        source, render = self.source, self.render
        files = tuple(source.files) + (
            (source.trace_file,) if source.trace_file and source.trace_file not in source.files else ()
        )
        if (source.project or source.experiment) and files:
            raise ConfigError("Give trace files or --project/--experiment, not both.")
        expectations = (
            Path(render.expectations).read_text(encoding="utf-8", errors="replace") if render.expectations else None
        )
        prepare = PrepareOptions(
            redact=render.redact,
            redact_pii=render.redact_pii,
            redact_patterns=render.redact_patterns,
            known_secrets=tuple(settings.secret_values()),
            eval_threshold=settings.max_score,
            render=RenderOptions(
                field_cap=render.field_cap,
                doc_budget=render.doc_budget,
                expectations=expectations,
                expectations_name=Path(render.expectations).name if render.expectations else None,
                assertion=render.assertion,
            ),
        )
        redactor_for(prepare)  # a --redact-pattern that is not a regex is an error before anything is read
        return RunRequest(
            out_dir=Path(render.out_dir),
            files=files,
            trace_ids=source.trace_ids,
            project=source.experiment or source.project,
            experiment=bool(source.experiment),
            since=parse_since(source.since) if source.since else None,
            fmt=source.fmt,
            root=Path.cwd(),
            flat=True,
            store_id=self.model.store_id,
            baseline=BaselineRequest(
                self.compare.baseline_file, self.compare.baseline_trace_id, self.compare.baseline_experiment
            ),
            prepare=prepare,
            now=pack_time(),
            verify_env=eval_environment(dict(os.environ)),
        )


def analyze_options(f: F) -> F:
    """Every group's options, in the order ``--help`` lists them."""
    for group in (render_options, compare_options, model_group_options, limit_options, source_options):
        f = group(f)
    return f
