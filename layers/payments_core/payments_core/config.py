"""Configuration parsed from the environment into pydantic models, once per container."""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SSMProvider


class Settings(BaseModel):
    """Every setting a function may read; each function's template entry sets what it needs."""

    model_config = ConfigDict(frozen=True)

    table_name: str = Field(default="", alias="TABLE_NAME")
    idempotency_table_name: str = Field(default="", alias="IDEMPOTENCY_TABLE_NAME")
    jwt_issuer: str = Field(default="payments-api", alias="JWT_ISSUER")
    jwt_audience: str = Field(default="payments-clients", alias="JWT_AUDIENCE")
    jwt_ttl_seconds: int = Field(default=900, alias="JWT_TTL_SECONDS", ge=60, le=3600)
    otp_threshold_amount: int = Field(default=50_000, alias="OTP_THRESHOLD_AMOUNT", ge=1)
    stripe_api_base: str | None = Field(default=None, alias="STRIPE_API_BASE")
    event_bus_name: str = Field(default="payments", alias="EVENT_BUS_NAME")
    email_sender: str = Field(default="no-reply@payments.example.com", alias="EMAIL_SENDER")
    app_version: str = Field(default="dev", alias="APP_VERSION")
    aws_read_timeout_seconds: float = Field(default=5.0, alias="AWS_READ_TIMEOUT_SECONDS", gt=0, le=60)


@functools.cache
def get_settings() -> Settings:
    return Settings.model_validate(dict(os.environ))


@functools.cache
def get_secret(name: str) -> str:
    """A secret by its logical name (e.g. ``JWT_SECRET``), read once per container.

    Locally the value comes from the environment variable of that name; in AWS the
    variable ``<name>_PARAM`` names an SSM SecureString, read with Powertools Parameters.
    """
    value = os.environ.get(name)
    if value:
        return value
    parameter_name = os.environ[f"{name}_PARAM"]
    secret = secrets_provider().get(parameter_name, decrypt=True, max_age=3600)
    if not isinstance(secret, str) or not secret:
        raise RuntimeError(f"secret parameter for {name} is empty")
    return secret


@functools.cache
def secrets_provider() -> SSMProvider:
    """Powertools' SSM provider on our SSM client (its retries and timeouts), once per container."""
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    from payments_core.aws import client

    return SSMProvider(boto3_client=client("ssm"))
