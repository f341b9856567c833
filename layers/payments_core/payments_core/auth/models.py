"""Input, output and storage models of accounts (separate even where they look alike)."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.config import JsonDict


def _normalise_email(value: str) -> str:
    value = value.strip().lower()
    local, _, domain = value.partition("@")
    if not local or "." not in domain or domain.startswith(".") or domain.endswith(".") or " " in value:
        raise ValueError("Must be a valid email address.")
    return value


# "format: email" in the OpenAPI document: clients (and the fuzzer) know an address is expected.
Email = Annotated[
    str,
    StringConstraints(max_length=254),
    AfterValidator(_normalise_email),
    Field(json_schema_extra={"format": "email"}),
]


CREDENTIALS_EXAMPLE: JsonDict = {"email": "ada@example.com", "password": "correct horse battery staple"}


class SignupRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [CREDENTIALS_EXAMPLE]},
    )

    email: Email
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
