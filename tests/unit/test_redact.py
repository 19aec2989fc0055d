"""Redaction on the path the action takes: the default Redactor, its fast pre-check on.

Every rule has a sample here (a test fails when a rule has none), every sample must be
redacted with the rule's own type, and the fast path must agree with the full scan, so a
trigger missing from a rule (``ghp_``, the lower-case ``bearer``) fails a test.
"""

from __future__ import annotations

import base64
import json
from typing import Any

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
    "aws_access_key": [("id AKIAQ3J7RZ5WLT2BXK4M", "AKIAQ3J7RZ5WLT2BXK4M")],
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


PEM_BODY = "MIIEowIBAAKCAQEA7xQ2pLr9\nVb3kZ8Yw1c4Tn6Qe0Jd2Hs5Gf7Ka9Lm3Np1Rq8St4Uv6Wx2Yz0Ab5Cd7Ef9Gh"


@pytest.mark.parametrize(
    "text,secret",
    [
        (f"private_key: -----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\n-----END RSA PRIVATE KEY-----", PEM_BODY),
        (
            f'{{"private_key": "-----BEGIN PRIVATE KEY-----\\n{PEM_BODY[:24]}\\n-----END PRIVATE KEY-----"}}',
            PEM_BODY[:24],
        ),
        (f"key: -----BEGIN OPENSSH PRIVATE KEY-----\n{PEM_BODY}", PEM_BODY),  # cut short: no END
        ("aws_secret_key: aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEK2", "wJalrXUtnFEMI"),
        ("basic_auth: Authorization: Basic dXNlcjpzM2NyM3QtcGFzcy0yMDI2", "dXNlcjpzM2NyM3QtcGFzcy0yMDI2"),
        ("api_token: Bearer abc123DEF456ghi789", "abc123DEF456ghi789"),
    ],
)
def test_a_label_before_a_value_never_shields_a_recognisable_secret(text: str, secret: str) -> None:
    out = Redactor().text(text)
    for line in secret.splitlines():
        assert line not in out, out
    assert out.split(":", 1)[0] == text.split(":", 1)[0]  # the label itself stays readable


@pytest.mark.parametrize(
    "text",
    [
        "secrets: flight numbers are listed below",
        "Authorization: see the docs for the header",
        "self.password = password",
        "password_validators=[validate_length, validate_digits]",
        "api_key = os.environ['OPENAI_API_KEY']",
        "password = getpass.getpass()",
        "secret_key = settings.SECRET_KEY",
        "token = request.headers.get('Authorization')",
        "Password: ******",
        "api_key: ${{ secrets.OPENAI_API_KEY }}",
        'db_password: "${DB_PASSWORD}"',
        "The bearer instrument was signed.",
        "key: value",
        '{"max_tokens": 512, "token_type": "bearer", "token_count": 1200}',
        "No github-token: results are in the job summary and artifacts only.",
        "if user.check_password(raw_password):",
        "Use `docker login --password-stdin` to read it from a pipe.",
        "curl -H 'Authorization: Bearer $TOKEN' https://api.example.com",
    ],
)
def test_code_and_prose_that_hold_no_secret_come_out_word_for_word(text: str) -> None:
    redactor = Redactor()
    assert redactor.text(text) == text and redactor.stats.total == 0


def test_a_secret_cut_by_a_limit_is_kept_whole_or_left_out_whole() -> None:
    """Cutting happens before redaction when a huge field is read: a key the cut falls inside is kept
    whole, so that redaction still recognises it; never its first 27 characters."""
    from refinery.lines import clip, elide_middle

    key = "sk-proj-" + "Q7rT2mX9vB4kL1w3F9a8C7d6E5b4A392"
    text = "x " * 50 + key + " y" * 50
    for limit in range(100, 140):
        for cut in (clip(text, limit), elide_middle(text, limit)):
            redacted = Redactor().text(cut)
            assert key[:12] not in redacted, (limit, cut)


def test_the_selection_reason_never_keeps_part_of_a_key() -> None:
    from refinery.trace.source import error_reason

    key = "ghp_" + "Ab1Cd2Ef3Gh4Ij5Kl6Mn7Op8Qr9St0Uv1Wx2Y"
    reason = error_reason("x" * 180 + " pushed with " + key + " and failed")[0]
    assert key[:10] not in Redactor().text(reason)


def test_escaped_text_is_read_as_what_it_stands_for() -> None:
    """A repr or JSON-in-JSON carries \\n and \\" as two characters: a name after \\n is still a name, and
    the value stops at the escaped line end."""
    text = 'FareError("upstream\\nAuthorization: Basic dXNlcjpQYXNzdzByZDEy\\nretry=3")'
    out = Redactor().text(text)
    assert "dXNlcjpQYXNzdzByZDEy" not in out and "\\nretry=3" in out
    assert (
        Redactor().text('{\\"password\\": \\"Hunter2-escaped\\"}')
        == '{\\"password\\": \\"[REDACTED:sensitive_field]\\"}'
    )


def _everything(text: str) -> Any:
    """A trace with ``text`` in every field a trace has: runs, feedback, warnings, trace-level values."""
    builder = TraceBuilder(root_name="agent", inputs={"q": text}, outputs={"a": text}, metadata={"m": text})
    builder.add(
        "step",
        builder.root,
        "llm",
        agent=f"planner {text}",
        model=f"gpt {text}",
        error=f"failed: {text}",
        inputs={"messages": [{"role": "user", "content": text}]},
        outputs={"content": text},
        events=[{"name": "retry", "detail": text}],
        tags=[f"tag {text}"],
    )
    return builder.build(
        feedback=[Feedback(key="correctness", score=0, value=text, comment=text, source=f"grader {text}")],
        project=f"proj {text}",
        experiment=f"exp {text}",
        metadata={"note": text},
        reference_outputs={"answer": text},
        warnings=[TraceWarning(code="orphan", message=f"run {text}", run_ids=["r1", "r2"], count=2)],
    )


def test_a_trace_without_a_secret_comes_back_exactly_as_it_was() -> None:
    trace = _everything("Refund 120 € for booking ABC123 — confirmed by Ana.")
    assert Redactor().trace(trace).model_dump() == trace.model_dump()


def test_a_secret_in_any_field_of_a_trace_is_gone_and_counted() -> None:
    key = "sk-proj-" + "Zq9" * 12
    redactor = Redactor()
    out = redactor.trace(_everything(key)).model_dump_json()
    assert key not in out and out.count("[REDACTED:") >= 17
    # A field named for a secret: its value goes, once counted per field, whatever the value says.
    redactor = Redactor()
    value = redactor.value({"password": "hunter22", "nested": {"api_key": "abc123", "name": "Ana"}})
    assert value == {
        "password": "[REDACTED:sensitive_field]",
        "nested": {"api_key": "[REDACTED:sensitive_field]", "name": "Ana"},
    }
    assert redactor.stats.counts["sensitive_field"] == 2 and redactor.stats.total == 2


def test_json_held_in_a_string_is_redacted_by_field_and_keeps_its_other_text_as_written() -> None:
    redactor = Redactor()
    held = json.dumps({"password": "hunter22", "note": "café ÉTÉ"}, ensure_ascii=False)
    assert json.loads(redactor.value(held)) == {"password": "[REDACTED:sensitive_field]", "note": "café ÉTÉ"}
    assert "café ÉTÉ" in redactor.value(held)  # not re-escaped as \\u00e9
    clean = '{"note": "café"}'
    assert redactor.value(clean) is clean or redactor.value(clean) == clean  # nothing to redact: as it came
    # Seven characters are never JSON worth walking; a secret in them is still found as text.
    assert Redactor().value('{"a":1}') == '{"a":1}'


def test_a_long_trace_checks_for_cancellation_every_two_hundred_runs() -> None:
    builder = TraceBuilder("agent")
    for n in range(400):
        builder.add(f"step{n}", builder.root, "tool", outputs={"output": "ok"})
    calls: list[int] = []
    Redactor(checkpoint=lambda: calls.append(1)).trace(builder.build())
    assert len(calls) == 3  # runs 0, 200 and 400 of 401 (every 201st would be two)


def test_a_secret_used_as_a_key_is_redacted_every_time_it_appears() -> None:
    key = "ghp_" + "b" * 36
    redactor = Redactor()
    runs = redactor.value([{key: 1, "name": "a"}, {key: 2, "name": "b"}])
    assert key not in json.dumps(runs) and all("name" in r for r in runs)
    assert redactor.stats.total == 2


def test_one_token_longer_than_the_limit_is_kept_whole_without_a_marker_of_nothing_elided() -> None:
    from refinery.lines import elide_middle

    token = "Zq9" * 40
    assert elide_middle(token, 60) == token
    words = "alpha " * 30
    cut = elide_middle(words, 60)
    assert "chars elided" in cut and len(cut) < len(words) and "[… 0 chars" not in cut


def test_a_configured_secret_of_six_characters_is_redacted_and_a_shorter_one_is_too_common_to() -> None:
    redactor = Redactor(known_secrets=["k9Zq2x", "ab1de"])
    out = redactor.text("the token k9Zq2x was sent, and so was ab1de")
    assert "k9Zq2x" not in out and "[REDACTED" in out
    assert "ab1de" in out  # five characters would be found inside ordinary words and ids
