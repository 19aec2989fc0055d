"""gitleaks' default rule set, vendored with its licence (``gitleaks.toml``, ``GITLEAKS-LICENSE``, MIT).

221 content rules (one more matches file names only, which a trace does not have). Each keeps
gitleaks' regex, keywords, entropy threshold, secret group and allowlists; the global allowlist
(placeholders such as ``${VAR}`` and ``true``) applies to all of them. gitleaks writes its
regexes for Go's RE2, which is the engine here too.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources
from typing import Any

from refinery.documents.secrets.model import Allow, SecretRule

SOURCE = "gitleaks/gitleaks commit b58d3f1 (2026-07-22), config/gitleaks.toml, MIT"


@cache
def _config() -> dict[str, Any]:
    text = (resources.files("refinery") / "documents" / "secrets" / "gitleaks.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _allow(spec: dict[str, Any]) -> Allow | None:
    """One allowlist; None when it only names paths or commits, which a trace does not have."""
    regexes = tuple(spec.get("regexes") or ())
    stopwords = tuple(w.lower() for w in spec.get("stopwords") or ())
    if not regexes and not stopwords:
        return None
    all_of = str(spec.get("condition", "OR")).upper() == "AND"
    if all_of and (spec.get("paths") or spec.get("commits")):
        return None  # every check must allow it, and the path or commit check cannot
    target = {"match": "match", "line": "line"}.get(str(spec.get("regexTarget")), "secret")
    return Allow(regexes=regexes, target=target, stopwords=stopwords, all_of=all_of)  # type: ignore[arg-type]


def gitleaks_rules() -> list[SecretRule]:
    """Every gitleaks rule that reads content, in the file's order."""
    rules = []
    for spec in _config()["rules"]:
        if not spec.get("regex"):
            continue
        allows = tuple(a for a in (_allow(s) for s in spec.get("allowlists") or ()) if a is not None)
        rules.append(
            SecretRule(
                name=str(spec["id"]),
                pattern=str(spec["regex"]),
                keywords=tuple(k.lower() for k in spec.get("keywords") or ()),
                secret_group=int(spec.get("secretGroup") or 0),
                entropy=float(spec.get("entropy") or 0.0),
                allows=allows,
                source="gitleaks",
            )
        )
    return rules


def global_allow() -> Allow:
    """gitleaks' global allowlist: placeholders, template variables, ``true``/``null``, example words."""
    spec = _config().get("allowlist") or {}
    return Allow(
        regexes=tuple(spec.get("regexes") or ()), stopwords=tuple(w.lower() for w in spec.get("stopwords") or ())
    )
