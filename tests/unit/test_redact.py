"""Redaction on the path the action takes: the default Redactor, its fast pre-check on.

Every rule has a sample here (a test fails when a rule has none), every sample must be
redacted with the rule's own type, and the fast path must agree with the full scan, so a
trigger missing from a rule (``ghp_``, the lower-case ``bearer``) fails a test.
"""

from __future__ import annotations

import base64
import json

import pytest

from refinery.documents.redact import RULES, Redactor, sensitive_name
from refinery.trace.model import Feedback, TraceWarning
from tests.builders import TraceBuilder

BASIC = base64.b64encode(b"user:s3cret-pass").decode()
# rule -> (text holding a secret, the secret itself)
SAMPLES: dict[str, list[tuple[str, str]]] = {
    "private_key": [
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7x\n-----END RSA PRIVATE KEY-----", "MIIEowIBAAKCAQEA7x")
    ],
    "anthropic_key": [("key sk-ant-api03-" + "a" * 40, "sk-ant-api03-" + "a" * 40)],
    "openai_key": [("OPENAI sk-proj-" + "b" * 40, "sk-proj-" + "b" * 40)],
    "stripe_key": [
        ("charge with sk_live_4eC39HqLyjWDarjtT1zdp7dc", "4eC39HqLyjWDarjtT1zdp7dc"),
        ("rk_live_51H8x0000abcdefghijkl", "51H8x0000abcdefghijkl"),
    ],
    "langsmith_key": [("lsv2_pt_" + "0" * 32 + "_" + "1" * 10, "lsv2_pt_" + "0" * 32)],
    "github_token": [
        ("push with ghp_" + "c" * 36, "ghp_" + "c" * 36),
        ("github_pat_" + "d" * 30, "github_pat_" + "d" * 30),
    ],
    "gitlab_token": [("glpat-" + "e" * 20, "glpat-" + "e" * 20)],
    "aws_access_key": [("id AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE")],
    "aws_secret_key": [
        (
            "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        ),
        ('export AWS_SECRET_ACCESS_KEY="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"', "wJalrXUtnFEMI/K7MDENG"),
    ],
    "slack_token": [("xoxb-123456789012-abcdefghij", "xoxb-123456789012")],
    "slack_webhook": [("https://hooks.slack.com/services/T000/B000/XXXXXXXX", "T000/B000/XXXXXXXX")],
    "google_api_key": [("AIza" + "f" * 35, "AIza" + "f" * 35)],
    "huggingface_token": [("hf_" + "g" * 34, "hf_" + "g" * 34)],
    "npm_token": [("npm_" + "h" * 36, "npm_" + "h" * 36)],
    "pypi_token": [("pypi-AgEIcHlwaS5vcmc" + "i" * 60, "pypi-AgEIcHlwaS5vcmc")],
    "sendgrid_key": [("SG." + "j" * 22 + "." + "k" * 43, "SG." + "j" * 22)],
    "twilio_key": [("SK" + "0123456789abcdef" * 2, "SK0123456789abcdef")],
    "mailchimp_key": [("0123456789abcdef0123456789abcdef-us12", "0123456789abcdef0123456789abcdef")],
    "square_token": [("sq0csp-" + "l" * 43, "sq0csp-" + "l" * 43)],
    "telegram_token": [("bot 123456789:AA" + "m" * 33, "123456789:AA" + "m" * 33)],
    "azure_storage_key": [("AccountName=x;AccountKey=" + "n" * 88, "n" * 88)],
    "databricks_token": [("dapi" + "0123456789abcdef" * 2, "dapi0123456789abcdef")],
    "shopify_token": [("shpat_" + "0123456789abcdef" * 2, "shpat_0123456789abcdef")],
    "groq_key": [("gsk_" + "o" * 48, "gsk_" + "o" * 48)],
    "jwt": [("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N", "dozjgNryP4J3jVmNHl0w5N")],
    "url_credentials": [("postgres://app:S3cretPass@db.internal:5432/app", "S3cretPass")],
    "authorization": [
        (f"Authorization: Basic {BASIC}", BASIC),
        ("authorization: bearer abcdefghijklmnop", "abcdefghijklmnop"),
        ("proxy-authorization=Token ab12cd34ef56", "ab12cd34ef56"),
    ],
    "bearer_token": [
        ("X-Upstream: Bearer zyxwvutsrq98765", "zyxwvutsrq98765"),
        ("sent bearer abcdefgh1234", "abcdefgh1234"),
    ],
    "assignment": [
        ("login failed: password=hunter2 rejected", "hunter2"),
        ("DATABASE_PASSWORD=s3cr3t\nSECRET_KEY=django-insecure", "s3cr3t"),
        ("DATABASE_PASSWORD=s3cr3t\nSECRET_KEY=django-insecure", "django-insecure"),
        ('{"passphrase": "correct horse battery"}', "correct horse battery"),
        ("lookup(api_key='k-123456')", "k-123456"),
        ("https://x.example/cb?auth_token=tok987&x=1", "tok987"),
        ("db_pass: 'p4ss w0rd'", "p4ss w0rd"),
        ("Passwort: Gehe1m!2026", "Gehe1m!2026"),
        ("contraseña: Secreto-99", "Secreto-99"),
        ("mot de passe : Azerty#77", "Azerty#77"),
    ],
    "netrc_password": [("machine api.example.com login bob password s3cr3tNetrc", "s3cr3tNetrc")],
    "config_value": [('<add key="DbPassword" value="Xml-Value-77" />', "Xml-Value-77")],
    "xml_element": [("<apiToken>tok-3f9a8c7d</apiToken>", "tok-3f9a8c7d")],
}
TYPE_OF = {
    "assignment": "sensitive_field",
    "netrc_password": "sensitive_field",
    "config_value": "sensitive_field",
    "xml_element": "sensitive_field",
}


def cases() -> list[tuple[str, str, str]]:
    return [(rule, text, secret) for rule, items in SAMPLES.items() for text, secret in items]


def test_every_rule_has_a_sample() -> None:
    assert {r.name for r in RULES} == set(SAMPLES)


@pytest.mark.parametrize("rule,text,secret", cases(), ids=[f"{c[0]}-{i}" for i, c in enumerate(cases())])
def test_each_rule_redacts_on_the_fast_path(rule: str, text: str, secret: str) -> None:
    redactor = Redactor()
    redacted = redactor.text(text)
    assert secret not in redacted
    assert f"[REDACTED:{TYPE_OF.get(rule, rule)}]" in redacted
    assert redactor.stats.counts[TYPE_OF.get(rule, rule)] >= 1
    # The pre-check is only an optimisation: the full scan gives the same text.
    assert redacted == Redactor().text(text, fast=False)


@pytest.mark.parametrize(
    "text",
    [
        "max_tokens: 4096, prompt_tokens=12, token_type=bearer",
        "the key: correctness was scored 0",
        "This search result is harmless: flight fare booking policy, a monkey and a keyboard.",
        "status_code: 429 Too Many Requests",
        "https://github.com/octo/repo/pull/2",
    ],
)
def test_harmless_text_is_left_alone(text: str) -> None:
    redactor = Redactor()
    assert redactor.text(text) == text and redactor.stats.total == 0


@pytest.mark.parametrize(
    "name,secret",
    [
        ("db_password", True),
        ("aws_secret_access_key", True),
        ("auth_token", True),
        ("secret_key", True),
        ("passphrase", True),
        ("authToken", True),
        ("X-Api-Key", True),
        ("DATABASE_PASSWORD", True),
        ("Set-Cookie", True),
        ("client_secret", True),
        ("max_tokens", False),
        ("prompt_tokens", False),
        ("token_type", False),
        ("password_hint", False),
        ("key", False),
        ("pass", False),
        ("api_key_id", False),
    ],
)
def test_sensitive_names_by_their_parts(name: str, secret: bool) -> None:
    assert sensitive_name(name) is secret


def test_fields_named_secret_lose_their_values_at_any_depth_and_inside_json_strings() -> None:
    redactor = Redactor()
    arguments = json.dumps({"query": "fares", "api_key": "k1", "nested": json.dumps({"db_password": "k2"})})
    value = {
        "outer": {"inner": [{"db_password": "k3", "max_tokens": 50}]},
        "tool_calls": [{"function": {"name": "search", "arguments": arguments}}],
        "headers": {"X-Api-Key": "k4"},
        "ghp_" + "a" * 36: "a secret used as a key",
    }
    out = json.dumps(redactor.value(value))
    assert not any(k in out for k in ("k1", "k2", "k3", "k4", "ghp_" + "a" * 36))
    assert '"max_tokens": 50' in out and "fares" in out
    args = json.loads(redactor.value(value)["tool_calls"][0]["function"]["arguments"])
    assert args["query"] == "fares" and args["api_key"] == "[REDACTED:sensitive_field]"


def test_names_feedback_warnings_and_metadata_of_a_trace_are_redacted() -> None:
    key = "sk-proj-" + "z" * 30
    builder = TraceBuilder(root_name=f"agent {key}")
    builder.add("step", builder.root, "llm", agent=f"planner-{key}", model="gpt?api_key=m0del", error=key)
    trace = builder.build(
        feedback=[Feedback(key=f"x-{key}", score=0, comment=f"password=pw1 {key}", source=key)],
        project=f"proj-{key}",
        metadata={"connection": "postgres://u:dbpw@h/db", key: 1},
        warnings=[TraceWarning(code="orphan", message=f"run {key} had no parent")],
    )
    out = Redactor().trace(trace).model_dump_json()
    assert key not in out and "pw1" not in out and "dbpw" not in out and "m0del" not in out


def test_configured_secrets_of_any_shape_are_redacted() -> None:
    redactor = Redactor(known_secrets=["plain-looking-value-42"])
    assert redactor.text("the token was plain-looking-value-42.") == "the token was [REDACTED:configured_secret]."
    assert "plain-looking-value-42" in Redactor().text("the token was plain-looking-value-42.")
