"""What the listing routes (``GET /payments``, ``GET /transactions``) share: the ``?limit=&cursor=``
query and its parsing. Apart from ``api`` so that the functions that list nothing do not create its
model in their init (docs/decisions.md, "A function loads only the parts of ours it uses").
"""

from pydantic import BaseModel, Field, ValidationError

from payments_core.api import validation_details
from payments_core.errors import RequestValidationError
from payments_core.event_handler import APIGatewayHttpResolver


class PageQuery(BaseModel):
    """``?limit=&cursor=`` of every listing route."""

    limit: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=2048)


def parse_query[ModelT: BaseModel](app: APIGatewayHttpResolver, model: type[ModelT]) -> ModelT:
    try:
        return model.model_validate(app.current_event.query_string_parameters or {})
    except ValidationError as error:
        raise RequestValidationError(validation_details(error)) from None
