"""Secrets planted in the hostile trace files (``tests/hostile/planted/``), one of every class.

Each value is unique, so a test can search every output channel for it verbatim. The files
are made by ``python -m tests.hostile.make`` from the producers themselves where they are
packages (the langsmith SDK, the OpenTelemetry SDK); chat and history files are written in
their published shapes.
"""

from __future__ import annotations

import base64

AWS_SECRET = "PLANTEDawsSecretKey0001wJalrXUtnFEMIK7MD"
FREE_PASSWORD = "Hunt3rPlanted0002"
STRIPE = "sk_live_PLANTED0003abcdefghijklmn"
URL_PASSWORD = "PlantedDbPass0004"
ENV_PASSWORD = "PlantedEnvPw0005"
ENV_SECRET_KEY = "PlantedSecretKey0006"
JSON_DB_PASSWORD = "PlantedJsonPw0007"
JSON_AWS_SECRET = "PlantedAwsJson0008"
JSON_AUTH_TOKEN = "PlantedAuthTok0009"
JSON_SECRET_KEY = "PlantedSecretJson0010"
JSON_PASSPHRASE = "PlantedPhrase0011"
ARGUMENT_KEY = "PlantedArgKey0012"
DICT_KEY = "ghp_PLANTED0013" + "a" * 30
AGENT_NAME_KEY = "sk-proj-PLANTED0014abcdefghijklmnop"
MODEL_NAME_KEY = "PlantedModelKey0015"
FEEDBACK_KEY = "xoxb-PLANTED0016-abcdefghij"
CONFIGURED_GITHUB_TOKEN = "PlantedConfiguredGitHubToken0017"
CONFIGURED_OPENAI_KEY = "PlantedConfiguredOpenAIKey0018"
BEARER = "PlantedBearer0019abcdef"
BASIC_CREDENTIALS = "planted-user:PlantedBasic0020"
BASIC_BLOB = base64.b64encode(BASIC_CREDENTIALS.encode()).decode()
GITHUB_PAT = "ghp_PLANTED0021" + "b" * 30
PRIVATE_KEY_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQPLANTED0022"

AWS_SECRET_TEXT = f"aws_secret_access_key = {AWS_SECRET}"
FREE_TEXT = f"login failed for user app: password={FREE_PASSWORD} was rejected"
URL_TEXT = f"could not connect to postgres://app:{URL_PASSWORD}@db.internal:5432/app"
ENV_DUMP = f"DEBUG=true\nDATABASE_PASSWORD={ENV_PASSWORD}\nSECRET_KEY={ENV_SECRET_KEY}\nREGION=eu-west-1"
JSON_FIELDS = {
    "db_password": JSON_DB_PASSWORD,
    "aws_secret_access_key": JSON_AWS_SECRET,
    "auth_token": JSON_AUTH_TOKEN,
    "secret_key": JSON_SECRET_KEY,
    "passphrase": JSON_PASSPHRASE,
}
ARGUMENTS = f'{{"query": "fares SFO JFK", "api_key": "{ARGUMENT_KEY}"}}'
HEADERS_TEXT = f"GET /v1/fares\nAuthorization: Basic {BASIC_BLOB}\nX-Upstream: Bearer {BEARER}"
PRIVATE_KEY = f"-----BEGIN PRIVATE KEY-----\n{PRIVATE_KEY_BODY}\n-----END PRIVATE KEY-----"
MODEL_NAME = f"gpt-4.1?api_key={MODEL_NAME_KEY}"
AGENT_NAME = f"agent-{AGENT_NAME_KEY}"
ERROR_TEXT = (
    f"{FREE_TEXT}; {URL_TEXT}; {AWS_SECRET_TEXT}; token {CONFIGURED_GITHUB_TOKEN}; "
    f"key {CONFIGURED_OPENAI_KEY}; {STRIPE}; {GITHUB_PAT}"
)

# Every value above that must never appear in any output.
SECRETS = [
    AWS_SECRET,
    FREE_PASSWORD,
    STRIPE,
    URL_PASSWORD,
    ENV_PASSWORD,
    ENV_SECRET_KEY,
    JSON_DB_PASSWORD,
    JSON_AWS_SECRET,
    JSON_AUTH_TOKEN,
    JSON_SECRET_KEY,
    JSON_PASSPHRASE,
    ARGUMENT_KEY,
    DICT_KEY,
    AGENT_NAME_KEY,
    MODEL_NAME_KEY,
    FEEDBACK_KEY,
    CONFIGURED_GITHUB_TOKEN,
    CONFIGURED_OPENAI_KEY,
    BEARER,
    BASIC_BLOB,
    GITHUB_PAT,
    PRIVATE_KEY_BODY,
]
