"""action.yml, the settings and the README agree; the action, the image and the workflows pass their linters."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from refinery.settings import SOURCES, Settings
from refinery.wiring import SECTIONS, all_sources

REPO = Path(__file__).resolve().parents[2]
ACTION = yaml.safe_load((REPO / "action.yml").read_text())
BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: `pip install -e '.[dev]'`")
    return path


def test_action_inputs_are_exactly_the_settings_inputs() -> None:
    """Every input is a core setting or one adapter's (a provider's, a publisher's): nothing else."""
    declared = set(ACTION["inputs"])
    from_settings = {s.action_input for s in all_sources().values() if s.action_input}
    assert declared == from_settings


def _owner(field: str) -> type[Any]:
    """The settings model that holds ``field``: the core Settings, or the adapter section that declares it."""
    return next((kind for kind in SECTIONS if field in kind.model_fields), Settings)


@pytest.mark.parametrize("field,source", [(f, s) for f, s in all_sources().items() if s.action_input])
def test_action_defaults_match_the_settings_defaults(field: str, source: Any) -> None:
    default = ACTION["inputs"][source.action_input].get("default", "")
    if default in ("", "${{ github.token }}"):
        return  # unset, or filled in by the runner
    kind = _owner(field)
    expected = kind.model_fields[field].default
    parsed = kind(**{field: default}).model_dump()[field]
    assert parsed == expected, f"{source.action_input}: action.yml says {default!r}, settings say {expected!r}"


def test_core_settings_and_adapter_sections_never_share_a_field() -> None:
    """A CLI override goes to the one model that has a field of its name."""
    fields = [set(Settings.model_fields)] + [set(kind.model_fields) for kind in SECTIONS]
    seen: set[str] = set()
    for names in fields:
        assert not (names & seen), names & seen
        seen |= names
    assert SOURCES.keys() <= set(Settings.model_fields)


def test_every_input_and_output_is_documented() -> None:
    readme = (REPO / "README.md").read_text()
    for name, spec in ACTION["inputs"].items():
        assert spec.get("description"), name
        assert f"`{name}`" in readme, f"README does not document input {name}"
    for name, spec in ACTION["outputs"].items():
        assert spec.get("description"), name
        assert f"`{name}`" in readme, f"README does not document output {name}"
    assert ACTION["runs"] == {"using": "docker", "image": "Dockerfile"}
    assert set(ACTION["branding"]) == {"icon", "color"}


def test_action_yml_passes_the_vendored_github_actions_schema() -> None:
    done = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(REPO / "action.yml")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_dockerfile_follows_the_runner_rules_and_hadolint() -> None:
    text = (REPO / "Dockerfile").read_text()
    instructions = [line.split()[0] for line in text.splitlines() if line and not line.startswith(("#", " "))]
    assert "USER" not in instructions and "WORKDIR" not in instructions
    assert re.search(r"^ARG BASE_IMAGE=python:3\.\d+-slim@sha256:[0-9a-f]{64}$", text, re.MULTILINE)
    assert re.search(r'^ENTRYPOINT \["/[^"]+", "/[^"]+"\]$', text, re.MULTILINE)  # exec form, absolute
    assert "PYTHONDONTWRITEBYTECODE=1" in text and "PYTHONUNBUFFERED=1" in text
    assert text.index("requirements.lock") < text.index("COPY refinery")  # dependencies cache apart from code
    done = subprocess.run([tool("hadolint"), str(REPO / "Dockerfile")], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml")) + sorted(
    (REPO / "examples" / "workflows").glob("*.yml")
)


def test_workflows_pin_every_action_by_sha() -> None:
    for path in WORKFLOWS:
        for match in re.finditer(r"^\s*(?:-\s*)?uses:\s*([^\s#]+)", path.read_text(), re.MULTILINE):
            ref = match.group(1)
            if ref.startswith("./"):
                continue
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{path.name}: {ref} is not pinned by SHA"


def test_actionlint_and_zizmor_are_clean() -> None:
    files = [str(p) for p in WORKFLOWS]
    done = subprocess.run([tool("actionlint"), *files], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    done = subprocess.run([tool("zizmor"), "--offline", *files], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_readme_names_every_example_workflow() -> None:
    readme = (REPO / "README.md").read_text()
    examples = sorted((REPO / "examples" / "workflows").glob("*.yml"))
    words = {1: "One", 2: "Two", 3: "Three", 4: "Four", 5: "Five", 6: "Six"}
    assert f"{words[len(examples)]} complete workflows are in" in readme
    for path in examples:
        assert f"examples/workflows/{path.name}" in readme, path.name


def test_the_licence_is_an_spdx_expression() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"


def _hint_texts() -> list[str]:
    """Every literal text passed as ``hint=`` anywhere in the package (f-string parts included)."""
    import ast

    texts = []
    for path in (REPO / "refinery").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "hint":
                texts.append(
                    " ".join(
                        c.value
                        for c in ast.walk(node.value)
                        if isinstance(c, ast.Constant) and isinstance(c.value, str)
                    )
                )
    return texts


def test_hints_name_only_real_options_and_inputs() -> None:
    import click

    from refinery.cli import cli

    assert isinstance(cli, click.Group)
    options = {
        opt for command in [cli, *cli.commands.values()] for p in command.params for opt in getattr(p, "opts", [])
    }
    options |= {
        o for command in cli.commands.values() for p in command.params for o in getattr(p, "secondary_opts", [])
    }
    options |= {"--help", "--version"}
    texts = _hint_texts()
    assert len(texts) > 30
    named_options = {m for text in texts for m in re.findall(r"(?<![\w-])--[a-z][a-z-]+", text)}
    assert named_options - options == set()
    inputs = set(ACTION["inputs"])
    named_inputs = {
        m.split(":")[0]
        for text in texts
        for m in re.findall(r"`([a-z]+-[a-z-]+(?:: \w+)?)`", text)
        if not m.endswith((": write", ": read"))  # workflow permissions, not inputs
    }
    assert named_inputs - inputs == set(), "hints name action inputs that do not exist"


def test_the_example_workflows_and_the_readme_call_refinery_with_real_options() -> None:
    import click

    from refinery.cli import cli

    assert isinstance(cli, click.Group)
    texts = [p.read_text() for p in (REPO / "examples" / "workflows").glob("*.yml")] + [
        (REPO / "README.md").read_text()
    ]
    calls = [m for text in texts for m in re.findall(r"refinery ([a-z]+)((?: [^\n`)]*)?)", text)]
    checked = 0
    for name, rest in calls:
        command = cli.commands.get(name)
        if command is None:
            continue
        known = {o for p in command.params for o in [*getattr(p, "opts", []), *getattr(p, "secondary_opts", [])]}
        known |= {o for p in cli.params for o in getattr(p, "opts", [])} | {"--help"}
        for option in re.findall(r"(?<![\w-])--[a-z][a-z-]+", rest):
            assert option in known, f"`refinery {name}` has no option {option}"
            checked += 1
    assert checked > 10


def test_the_released_action_pulls_the_image_the_release_pushed() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("release_action", REPO / ".github" / "scripts" / "release_action.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    source = (REPO / "action.yml").read_text()
    released = module.released(source, "ghcr.io/octo-org/refinery:v1.2.3")
    changed = [(a, b) for a, b in zip(source.splitlines(), released.splitlines(), strict=True) if a != b]
    assert changed == [("  image: Dockerfile", "  image: docker://ghcr.io/octo-org/refinery:v1.2.3")]
    assert yaml.safe_load(released)["runs"]["image"] == "docker://ghcr.io/octo-org/refinery:v1.2.3"
    # The release workflow pushes "$image:$VERSION" and writes that same reference into action.yml,
    # then moves the major tag to the commit holding it.
    steps = yaml.safe_load((REPO / ".github" / "workflows" / "release.yml").read_text())["jobs"]["publish"]["steps"]
    build = next(s for s in steps if s.get("name", "").startswith("Build and push"))["run"]
    pushed = re.search(r'image="([^"]+)"', build)
    assert pushed is not None and 'docker push "$image:$VERSION"' in build
    commit = next(s for s in steps if s.get("id") == "released")["run"]
    assert f'image="{pushed.group(1)}:$VERSION"' in commit and 'release_action.py "$image"' in commit
    move = steps[-1]
    assert move["env"]["RELEASED"] == "${{ steps.released.outputs.commit }}" and '-f sha="$RELEASED"' in move["run"]
