"""Validate JSON against components of OpenAI's official OpenAPI description (3.1, so JSON Schema 2020-12).

``oneOf`` is applied as JSON Schema says (exactly one branch), as Prism applies it: a body
that two branches accept is rejected here just as the contract proxy rejects it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.conftest import SHARED

OPENAI_SPEC = SHARED / "contracts" / "openai.openapi.yaml"


@cache
def _spec(path: Path) -> dict[str, Any]:
    with path.open() as handle:
        return dict(yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))


def openai_spec() -> dict[str, Any]:
    if not OPENAI_SPEC.is_file():
        pytest.skip(f"../shared is absent: no OpenAI OpenAPI description at {OPENAI_SPEC}")
    return _spec(OPENAI_SPEC)


@cache
def _validator(component: str) -> Draft202012Validator:
    spec = openai_spec()
    resource = Resource.from_contents(spec, default_specification=DRAFT202012)
    registry = Registry().with_resource("urn:openai", resource)
    return Draft202012Validator({"$ref": f"urn:openai#/components/schemas/{component}"}, registry=registry)


def contract_errors(component: str, instance: Any) -> list[str]:
    """Every way ``instance`` violates the spec's ``component`` schema (empty when valid)."""
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:300]}"
        for e in _validator(component).iter_errors(instance)
    ]
