"""A pytest plugin for mutation runs: each mutant's tests run fastest first.

mutmut hands pytest the tests that reach a mutant as an unordered set, and stops at the first
failure (``-x``). A mutant that a 5 ms unit test kills should not wait for a producer's
one-second integration test to pass first, so the tests are sorted by the durations mutmut
recorded in its stats run (``mutmut-stats.json`` in the work tree). Survivors still run every
test; only the order changes, never the verdict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

STATS = Path("mutmut-stats.json")


def pytest_collection_modifyitems(session: Any, config: Any, items: list[Any]) -> None:
    if not STATS.is_file():
        return  # the stats run itself: nothing measured yet
    durations: dict[str, float] = json.loads(STATS.read_text()).get("duration_by_test", {})
    items.sort(key=lambda item: durations.get(item.nodeid, 0.0))
