"""POST /v1/auth/password-reset and POST /v1/auth/password-reset/confirm."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from accounts import snapstart
from accounts.emails import parse_address
from accounts.flows.password_reset import confirm_reset as confirm
from accounts.flows.password_reset import request_reset as request
from accounts.http import handle, json_response, new_app, source_ip, user_agent
from accounts.observability import instrumented
from accounts.schemas import EmailRequest, Message, PasswordChanged, ResetConfirmRequest, responses
from accounts.services import get_services

# With SnapStart on, prime this function's imports, clients and hasher before the snapshot.
snapstart.enable(passwords=True)

REQUESTED = "If the address has an account, a link to reset the password is on its way."

app = new_app()


@app.post(
    "/v1/auth/password-reset",
    summary="Request a password reset link",
    description="Same answer for known and unknown addresses.",
    responses=responses(202, "Accepted", Message, 400, 413, 415, 422, 429, 500, 503, rate_limited=True),
    tags=["accounts"],
)
def request_reset(body: EmailRequest) -> Response[Message]:
    state = request(get_services(), email=parse_address(body.email), ip=source_ip(app))
    return json_response(202, Message(message=REQUESTED).model_dump(), state)


@app.post(
    "/v1/auth/password-reset/confirm",
    summary="Set a new password with a reset token",
    description="Consumes the reset token, sets the password, marks the email verified and revokes every "
    "session of the user. A password refused by the policy leaves the token usable.",
    responses=responses(
        200, "Password changed", PasswordChanged, 400, 410, 413, 415, 422, 429, 500, 503, rate_limited=True
    ),
    tags=["accounts"],
)
def confirm_reset(body: ResetConfirmRequest) -> Response[PasswordChanged]:
    state = confirm(get_services(), token=body.token, password=body.password, ip=source_ip(app),
                    user_agent=user_agent(app))
    return json_response(200, PasswordChanged().model_dump(), state)


@instrumented()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(app, event, context)
