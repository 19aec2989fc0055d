"""One planner for the CLI and the action: collect → select → redact once → triage → cluster →
enrich (baseline, changes) → analyse representatives → report → publish.

- ``request.py``: what a run analyses (``RunRequest``), the same for both entry points.
- ``services.py``: what talks to the outside world (``Services``), built once by ``wiring.py``.
- ``collect.py``: reading files and ids, and selecting the failing traces.
- ``triage.py``: redacting and triaging every selected trace once, clustering, choosing representatives.
- ``enrich.py``: a passing run to compare with, and the PR's changes, added to each representative.
- ``analyse.py``: the model stages over the representatives, each isolated.
- ``state.py``: the run's state, owned by the planner; publishers get snapshots of it.
- ``run.py``: the steps in order (``run_plan``).
"""
