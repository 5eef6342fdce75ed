"""POST /v1/auth/verify-email and POST /v1/auth/verify-email/resend."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from accounts import snapstart
from accounts.emails import parse_address
from accounts.flows.verification import resend as resend_link
from accounts.flows.verification import verify_email as consume
from accounts.http import handle, json_response, new_app, source_ip
from accounts.observability import instrumented
from accounts.schemas import EmailRequest, EmailVerified, Message, TokenRequest, responses
from accounts.services import get_services

# With SnapStart on, prime this function's imports, clients and hasher before the snapshot.
snapstart.enable()

RESENT = "If the address has an account waiting for verification, a new link is on its way."

app = new_app()


@app.post(
    "/v1/auth/verify-email",
    summary="Verify an email address",
    description="Consumes the token of a verification link. Presenting an already used token again, once "
    "the account is verified, answers 200 with no side effect.",
    responses=responses(
        200, "Verified", EmailVerified, 400, 410, 413, 415, 422, 429, 500, 503, rate_limited=True
    ),
    tags=["accounts"],
)
def verify_email(body: TokenRequest) -> Response[EmailVerified]:
    state = consume(get_services(), token=body.token, ip=source_ip(app))
    return json_response(200, EmailVerified().model_dump(), state)


@app.post(
    "/v1/auth/verify-email/resend",
    summary="Send a fresh verification link",
    description="Same answer for known, unknown and already verified addresses.",
    responses=responses(202, "Accepted", Message, 400, 413, 415, 422, 429, 500, 503, rate_limited=True),
    tags=["accounts"],
)
def resend(body: EmailRequest) -> Response[Message]:
    state = resend_link(get_services(), email=parse_address(body.email), ip=source_ip(app))
    return json_response(202, Message(message=RESENT).model_dump(), state)


@instrumented()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(app, event, context)
