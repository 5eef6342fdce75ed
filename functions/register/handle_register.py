"""POST /v1/auth/register."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from accounts import snapstart
from accounts.emails import parse_address
from accounts.flows.registration import register as register_account
from accounts.http import handle, json_response, new_app, source_ip
from accounts.observability import instrumented
from accounts.schemas import Message, RegisterRequest, responses
from accounts.services import get_services

# With SnapStart on, prime this function's imports, clients and hasher before the snapshot.
snapstart.enable(passwords=True)

ACCEPTED = "If the address can be registered, a verification link is on its way."

app = new_app()


@app.post(
    "/v1/auth/register",
    summary="Register an account",
    description="Creates an unverified account and emails a verification link. The answer is the same "
    "whether or not the address is already registered.",
    responses=responses(202, "Accepted", Message, 400, 413, 415, 422, 429, 500, 503, rate_limited=True),
    tags=["accounts"],
)
def register(body: RegisterRequest) -> Response[Message]:
    state = register_account(
        get_services(), email=parse_address(body.email), password=body.password, name=body.name, ip=source_ip(app)
    )
    return json_response(202, Message(message=ACCEPTED).model_dump(), state)


@instrumented()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(app, event, context)
