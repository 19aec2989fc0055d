"""Traces: the normalized model, and the sources that produce it."""

from refinery.trace.model import Feedback, Run, Trace, TraceWarning

__all__ = ["Feedback", "Run", "Trace", "TraceWarning"]
