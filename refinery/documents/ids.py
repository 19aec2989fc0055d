"""Stable section ids shared by the documents, the triage and the citations."""

from __future__ import annotations

import re

DOCUMENT_NAMES = ("trace.md", "prompts.md", "evals.md", "triage.md")
SECTION_ID = re.compile(r"\b(?:R\d{4,}|P\d{2,}|E\d{2,}|F\d{2,})\b")


def run_section(order: int) -> str:
    """``R0007`` for the run at execution position 7 (wider past 9999)."""
    return f"R{order:04d}"


def numbered(prefix: str, index: int) -> str:
    """``P01``, ``E02``, ``F03``: 1-based ids for prompts, eval items and findings."""
    return f"{prefix}{index:02d}"
