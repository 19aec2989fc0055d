"""Refinery: when an AI agent's eval fails in CI, tell the team why.

The map (which folder owns what, and where to add a trace reader, a model provider, a
triage rule or a publisher) is ARCHITECTURE.md at the repository's top. In short:
``cli/`` and ``action.py`` read the environment; ``wiring.py`` builds every client;
``batch.py`` and ``pipeline.py`` run the analysis over ``trace/``, ``documents/``,
``triage/`` and ``analysis/``; ``report/`` and ``github/`` publish it.
"""

__version__ = "0.1.0"
