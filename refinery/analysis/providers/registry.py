"""The model back-ends for the four stages, one module each, registered here.

A new provider is one module here (its ``InlineProvider`` subclass or full ``AnalysisProvider``,
its ``Section`` of settings, its ``build`` and its ``PLUGIN``) and one line below.
"""

from __future__ import annotations

from refinery.analysis.providers import anthropic, gemini, openai_chat, openai_responses
from refinery.analysis.providers.base import ProviderPlugin

PROVIDERS: dict[str, ProviderPlugin] = {
    plugin.name: plugin
    for plugin in (
        openai_responses.PLUGIN,
        anthropic.PLUGIN,
        gemini.PLUGIN,
        openai_chat.PLUGIN,
    )
}
