"""Refinery's own secret rules, beside gitleaks': the shapes trace text carries most, and context.

Shape rules follow Yelp's detect-secrets plugins (provider prefixes, private key blocks, URL
credentials, ``Authorization`` values). Context rules name the value of a field, variable or
header whose name says it is secret (``db_password``, ``AUTH_TOKEN=…``, ``<add key="DbPassword"
value="…"/>``, a ``.netrc`` line), in any language's word for password. Every pattern is RE2
syntax, with the secret in the group named ``secret`` (the label before it stays readable).
"""

from __future__ import annotations

from refinery.documents.secrets.model import Allow, SecretRule

# The words that make a name sensitive, as the key pattern of a context rule finds them; the
# name is then judged whole by ``sensitive_name`` (``max_tokens`` is not one).
CONTEXT_STEMS = (
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "auth",
    "credential",
    "cookie",
    "contrase",
    "kennwort",
    "senha",
    "wachtwoord",
    "mot de passe",
)
_KEY = (
    r"(?P<key>(?i:mot de passe)|[A-Za-z0-9_.\-]{0,100}"
    r"(?i:pass|pwd|secret|token|key|auth|credential|cookie|contrase(?:ñ|n)a|kennwort|senha|wachtwoord)"
    r"[A-Za-z0-9_.\-]{0,100})"
)
_SEP = r"(?P<sep>[ \t]?[\"'\]]{0,2}[ \t]*(?:==?|:=|:|=>)[ \t]*)"
# Bounded, so that no text makes a scan quadratic: a value past these lengths is still cut there.
_VALUE = (
    r"(?:\"(?P<dq>(?:[^\"\\\n]|\\.){1,1000})\"|'(?P<sq>[^'\n]{1,1000})'|`(?P<bq>[^`\n]{1,1000})`"
    r"|(?P<bare>[^\s\"'`,;&}\])<>][^\n\"'`,;&}\]<>]{0,500}))"
)

RULES: list[SecretRule] = [
    SecretRule(
        "private_key",
        # A block is redacted whole, BEGIN to END; a block cut short, to where its base64 ends.
        r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----",
        ("-----begin",),
        block_end="-----END",
    ),
    SecretRule("anthropic_key", r"\b(?P<secret>sk-ant-[a-z]{3,6}\d{2}-[A-Za-z0-9_\-]{20,})", ("sk-ant-",)),
    SecretRule("openai_key", r"\b(?P<secret>sk-(?:proj-|svcacct-|admin-|None-)?[A-Za-z0-9_\-]{20,})", ("sk-",)),
    SecretRule("stripe_key", r"\b(?P<secret>(?:sk|rk|pk)_(?:live|test)_[0-9a-zA-Z]{16,})", ("k_live_", "k_test_")),
    SecretRule("langsmith_key", r"\b(?P<secret>lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10})\b", ("lsv2_",)),
    SecretRule(
        "github_token",
        r"\b(?P<secret>gh[pousr]_[A-Za-z0-9_]{36,255}|github_pat_[A-Za-z0-9_]{22,255})\b",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    SecretRule(
        "gitlab_token",
        r"\b(?P<secret>(?:glpat|gldt|glft|glsoat|glrt|glcbt|glimt|glptt|glagent|gloas)-[A-Za-z0-9_\-]{20,})",
        ("glpat-", "gldt-", "glft-", "glsoat-", "glrt-", "glcbt-", "glimt-", "glptt-", "glagent-", "gloas-"),
    ),
    SecretRule(
        "aws_access_key",
        r"\b(?P<secret>(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16})\b",
        ("a3t", "akia", "asia", "abia", "acca"),
        entropy=3.0,  # AKIAXXXXXXXXXXXXXXXX is a placeholder
        allows=(Allow(regexes=(r".+EXAMPLE$",)),),  # AWS's documented example key
    ),
    SecretRule(
        "aws_secret_key",
        r"(?i:aws[\w.\-]{0,30}?(?:secret|key|token|pass)[\w.\-\"' \t]{0,20}?[=:>\s\"']{1,4})"
        r"(?P<secret>[A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+]|$)",
        ("aws",),
    ),
    SecretRule("slack_token", r"\b(?P<secret>xox[abposre]-[A-Za-z0-9-]{10,})", ("xox",)),
    SecretRule(
        "slack_webhook",
        r"(?P<secret>https://hooks\.slack\.com/services/T[A-Za-z0-9_]+/B[A-Za-z0-9_]+/[A-Za-z0-9_]+)",
        ("hooks.slack.com",),
    ),
    SecretRule("google_api_key", r"\b(?P<secret>AIza[0-9A-Za-z_\-]{35})\b", ("aiza",)),
    SecretRule("huggingface_token", r"\b(?P<secret>hf_[A-Za-z0-9]{30,})\b", ("hf_",)),
    SecretRule("npm_token", r"\b(?P<secret>npm_[A-Za-z0-9]{36})\b", ("npm_",)),
    SecretRule("pypi_token", r"\b(?P<secret>pypi-AgE[A-Za-z0-9\-_]{50,})", ("pypi-age",)),
    SecretRule("sendgrid_key", r"\b(?P<secret>SG\.[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})\b", ("sg.",)),
    SecretRule("twilio_key", r"\b(?P<secret>SK[0-9a-fA-F]{32})\b", ("sk",)),
    SecretRule("mailchimp_key", r"\b(?P<secret>[0-9a-f]{32}-us\d{1,2})\b", ("-us",)),
    SecretRule("square_token", r"\b(?P<secret>sq0(?:atp|csp|idp)-[0-9A-Za-z\-_]{22,43})\b", ("sq0",)),
    SecretRule("telegram_token", r"\b(?P<secret>\d{8,10}:AA[0-9A-Za-z_\-]{33})\b", (":aa",)),
    SecretRule("azure_storage_key", r"AccountKey=(?P<secret>[A-Za-z0-9+/=]{40,})", ("accountkey=",)),
    SecretRule("databricks_token", r"\b(?P<secret>dapi[0-9a-f]{32}(?:-\d)?)\b", ("dapi",)),
    SecretRule(
        "shopify_token", r"\b(?P<secret>shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32})\b", ("shpat_", "shpca_", "shppa_", "shpss_")
    ),
    SecretRule("groq_key", r"\b(?P<secret>gsk_[A-Za-z0-9]{40,})\b", ("gsk_",)),
    SecretRule("jwt", r"\b(?P<secret>eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})", ("eyj",)),
    SecretRule(
        "url_credentials",
        # redis://:password@host has no user: the password alone is the secret.
        r"\b[a-zA-Z][a-zA-Z0-9+.\-]{1,20}://[^\s/:@\"'<>]{0,256}:(?P<secret>[^\s/@\"'<>]{1,256})@",
        ("://",),
    ),
    SecretRule(
        "authorization",
        r"(?i:\b(?:proxy-)?authorization[\"']?\s*[:=]\s*[\"']?(?P<scheme>(?:bearer|basic|token|digest)\s+)?)"
        r"(?P<secret>[^\s\"',;]{8,})",
        ("authoriz",),
        check="scheme_or_literal",
    ),
    SecretRule("bearer_token", r"(?i:\bbearer\s+)(?P<secret>[A-Za-z0-9._~+/\-]{8,}=*)", ("bearer",), check="literal"),
    SecretRule(
        "netrc_password",
        r"(?i:\bmachine\s+\S+\s+(?:login\s+\S+\s+)?(?:password|passwd)\s+)(?P<secret>\S+)",
        ("machine",),
        kind="sensitive_field",
    ),
    SecretRule(
        "config_value",
        # .NET and Java property files: <add key="DbPassword" value="…"/>, the value named by its key.
        r"(?i:\b(?:key|name)\s*=\s*\"(?P<key>[^\"]{1,100})\"\s+value\s*=\s*)\"(?P<secret>[^\"]*)\"",
        ("value",),
        check="literal",
        kind="sensitive_field",
    ),
    SecretRule(
        "xml_element",
        r"<(?P<key>[A-Za-z0-9_.\-:]*(?i:pass|pwd|secret|token|key|credential)[A-Za-z0-9_.\-:]*)>\s*"
        r"(?P<secret>[^<\s][^<]*?)\s*</",
        ("pass", "pwd", "secret", "token", "key", "credential"),
        check="literal",
        kind="sensitive_field",
    ),
    SecretRule("assignment", _KEY + _SEP, CONTEXT_STEMS, check="literal", kind="sensitive_field", value_pattern=_VALUE),
]
PII_RULES: list[SecretRule] = [
    SecretRule("email", r"\b(?P<secret>[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,})\b", ("@",), source="pii"),
    SecretRule(
        "phone",
        r"(?:^|[^\w+])(?P<secret>(?:\+\d{1,3}[\s.\-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.\-])\d{3}[\s.\-]\d{4})(?:[^\w]|$)",
        source="pii",
    ),
    SecretRule("phone", r"(?:^|[^\w+])(?P<secret>\+\d{1,3}(?:[\s.\-]\d{2,5}){2,5})(?:[^\w]|$)", ("+",), source="pii"),
]
