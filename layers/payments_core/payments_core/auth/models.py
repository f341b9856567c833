"""Input, output and storage models of accounts (separate even where they look alike)."""

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.config import JsonDict


def _normalise_email(value: str) -> str:
    value = value.strip().lower()
    local, _, domain = value.partition("@")
    if not local or "." not in domain or domain.startswith(".") or domain.endswith(".") or " " in value:
        raise ValueError("Must be a valid email address.")
    return value


# An address SES can deliver codes and receipts to: an RFC 5322 dot-atom local part of at most 64
# characters and a domain of letter-digit-hyphen labels (punycode for an internationalised one), all
# ASCII because SES does not send to SMTPUTF8 addresses. email-validator would say more, but its
# import costs ~75 ms of every sign-up and sign-in cold start (measured), for what one pattern covers.
_ATOM = r"[a-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_DELIVERABLE = re.compile(
    rf"(?=[^@]{{1,64}}@){_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+(?:[a-z]{{2,63}}|xn--[a-z0-9-]{{1,59}})"
)


def _deliverable_email(value: str) -> str:
    value = _normalise_email(value)
    if not _DELIVERABLE.fullmatch(value):
        raise ValueError("Must be a valid email address (ASCII, as name@example.com).")
    return value


# "format: email" in the OpenAPI document: clients (and the fuzzer) know an address is expected.
# Sign-up takes only an address we can email; sign-in only normalises, so an account made before a
# stricter rule can still sign in, and a malformed address is just one with no account (401).
Email = Annotated[
    str,
    StringConstraints(max_length=254),
    AfterValidator(_normalise_email),
    Field(json_schema_extra={"format": "email"}),
]
NewEmail = Annotated[
    str,
    StringConstraints(max_length=254),
    AfterValidator(_deliverable_email),
    Field(json_schema_extra={"format": "email"}),
]


CREDENTIALS_EXAMPLE: JsonDict = {"email": "ada@example.com", "password": "correct horse battery staple"}


class SignupRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [CREDENTIALS_EXAMPLE]},
    )

    email: NewEmail
    password: str = Field(min_length=12, max_length=128)


class SigninRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [CREDENTIALS_EXAMPLE]},
    )

    email: Email
    # Any length is accepted here so a bad password is a 401, never a 422 that leaks the policy per user.
    password: str = Field(min_length=1, max_length=1024)


class UserOut(BaseModel):
    user_id: str
    email: str
    created_at: str


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "Bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: int
