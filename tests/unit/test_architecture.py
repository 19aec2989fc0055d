"""The layout the map in ARCHITECTURE.md promises: layers import downward only, SDK clients are
built in one place, and modules stay small."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "refinery"

# Lower layers first. A module may import its own layer and any layer before it, never one after.
LAYERS: list[set[str]] = [
    {"errors", "words", "perf", "settings", "lines"},
    {"trace"},
    {"documents"},
    {"compare"},
    {"triage"},
    {"changes"},
    {"pipeline"},
    {"analysis"},
    {"report"},
    {"github"},
    {"planner"},
    {"wiring"},
    {"cli", "action", "__main__", "interrupts"},
]
RANK = {name: rank for rank, names in enumerate(LAYERS) for name in names}
# The entry point modules run everything; __main__ only calls the CLI.
ENTRY_POINTS = {"cli", "action", "__main__", "interrupts"}
CLIENT_CONSTRUCTORS = re.compile(
    r"(?<!class )\b(?:langsmith\.Client|openai\.OpenAI|anthropic\.Anthropic|genai\.Client|Github)\("
)
# A provider adapter builds its own SDK client (its module is the only place its SDK's types live);
# LangSmith's and GitHub's clients are built by the composition root.
CLIENT_BUILDERS = {"wiring.py"} | {
    f"analysis/providers/{p.name}" for p in (PACKAGE / "analysis" / "providers").glob("*.py")
}


def modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py"))


def top(path: Path) -> str:
    parts = path.relative_to(PACKAGE).with_suffix("").parts
    return parts[0] if parts[0] != "__init__" else "__init__"


def imported(path: Path) -> set[str]:
    """The refinery top-level parts a module imports (at any depth in the file)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = (
                [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                if node.module == "refinery"
                else [node.module]
            )
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] == "refinery" and len(parts) > 1 and parts[1] in RANK:
                found.add(parts[1])
    return found


def test_every_module_belongs_to_a_layer() -> None:
    unplaced = {top(p) for p in modules()} - set(RANK) - {"__init__"}
    assert unplaced == set(), f"add these to LAYERS (and ARCHITECTURE.md): {sorted(unplaced)}"


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layers_import_downward_only(path: Path) -> None:
    own = top(path)
    if own == "__init__":
        return
    upward = sorted(name for name in imported(path) if RANK[name] > RANK[own])
    assert upward == [], f"{path.relative_to(PACKAGE)} ({own}) imports a higher layer: {upward}"


def test_only_the_entry_points_use_the_composition_root() -> None:
    users = sorted(str(p.relative_to(PACKAGE)) for p in modules() if "wiring" in imported(p))
    assert all(top(PACKAGE / u) in ENTRY_POINTS for u in users), users


def test_sdk_clients_are_constructed_in_the_composition_root_or_their_adapter_only() -> None:
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in modules()
        if str(p.relative_to(PACKAGE)) not in CLIENT_BUILDERS and CLIENT_CONSTRUCTORS.search(p.read_text())
    ]
    assert offenders == []


def test_cli_and_action_do_not_import_each_other() -> None:
    assert "action" not in {n for p in (PACKAGE / "cli").rglob("*.py") for n in imported(p)}
    assert "cli" not in {n for p in (PACKAGE / "action").rglob("*.py") for n in imported(p)}


def test_modules_stay_small() -> None:
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in modules()}
    assert {m: n for m, n in sizes.items() if n > 450} == {}
    assert {m: n for m, n in sizes.items() if m.startswith("cli/") and n > 300} == {}


def test_a_triage_rule_is_one_module_and_one_registry_line() -> None:
    from refinery.triage.rules import RULES

    rule_modules = {p.stem for p in (PACKAGE / "triage" / "rules").glob("*.py")} - {"__init__", "base"}
    assert {rule.__module__.rsplit(".", 1)[1] for rule in RULES} == rule_modules


def test_functions_stay_under_80_lines() -> None:
    """A function longer than a screen does more than one thing: split it (the style guide's rule)."""
    long = {}
    for path in modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno is not None:
                lines = node.end_lineno - node.lineno + 1
                if lines > 80:
                    long[f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}"] = lines
    assert long == {}


def test_nothing_below_the_entry_points_builds_a_service() -> None:
    """The entry points ask the composition root once (``build_services``); nothing below them builds."""
    builders = re.compile(r"\bbuild_(?:services|analysis_provider|langsmith_source|github_client)\(")
    callers = {
        str(p.relative_to(PACKAGE)): len(builders.findall(p.read_text()))
        for p in modules()
        if top(p) != "wiring" and builders.search(p.read_text())
    }
    assert callers == {"action/__init__.py": 1, "cli/common.py": 1}


def test_a_provider_is_one_module_and_one_registry_line() -> None:
    """Each registered provider's module holds its class, its settings section and its builder."""
    from refinery.analysis.providers.registry import PROVIDERS

    for name, plugin in PROVIDERS.items():
        module = plugin.build.__module__
        assert plugin.section.__module__ == module, name
        assert name == plugin.section.NAME
        assert module.startswith("refinery.analysis.providers."), module
