"""What a client sends to check a payment's one-time code (``POST /payments/{id}/otp/verify``). Apart
from ``payments.otp`` so that the functions sending codes, which never read a guess, do not create it."""

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints


class VerifyCodeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"code": "123456"}]})

    code: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}$")]
