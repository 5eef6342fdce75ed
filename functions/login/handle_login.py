"""POST /v1/auth/login and its second step POST /v1/auth/login/mfa: LoginFunction, which has the
memory argon2id needs.

The rest of the session flow (refresh, logout, me, the key set) is SessionFunction, from
handle_session in this folder: it never hashes, so it runs with a quarter of the memory."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from accounts import snapstart
from accounts.emails import parse_address
from accounts.flows import login as login_flow
from accounts.flows.sessions import Client
from accounts.http import handle, json_response, new_app, source_ip, user_agent
from accounts.jwt_keys import get_signing_keys
from accounts.mfa_schemas import MfaLoginRequest
from accounts.observability import instrumented
from accounts.schemas import LoginRequest, TokenResponse, responses
from accounts.services import get_services

# With SnapStart on, prime this function's imports, clients and hasher before the snapshot.
snapstart.enable(passwords=True, clients=("secretsmanager",))

app = new_app()

_PROBLEMS = (400, 401, 403, 413, 415, 422, 429, 500, 503)


@app.post(
    "/v1/auth/login",
    summary="Log in",
    description="Exchanges email and password for an access token and a refresh token, and starts a "
    "session. Unknown email and wrong password answer the same 401. For a user with two-factor "
    "authentication, the right password answers 401 mfa_required with an `mfa_token` (single use, "
    "5 minutes) for POST /v1/auth/login/mfa, and no tokens.",
    responses=responses(200, "Tokens", TokenResponse, *_PROBLEMS, rate_limited=True),
    tags=["sessions"],
)
def login(body: LoginRequest) -> Response[TokenResponse]:
    issued, state = login_flow.login(
        get_services(),
        get_signing_keys(),
        email=parse_address(body.email),
        password=body.password,
        client=Client(ip=source_ip(app), user_agent=user_agent(app)),
    )
    return json_response(200, issued.as_response(), state)


@app.post(
    "/v1/auth/login/mfa",
    summary="Log in: the second factor",
    description="Completes a login that answered 401 mfa_required: the `mfa_token` and a current TOTP "
    "`code` (each code works once) or an unused `recovery_code` start the session; its access tokens "
    "carry `amr: [\"pwd\", \"otp\"]`. The mfa_token works once (until it succeeds) for 5 minutes. A wrong, "
    "used or expired code, or a bad mfa_token, answers 401 invalid_mfa_code; failed codes count toward "
    "the address's login lockout (429 once locked). Rate limited per IP (RATE_LIMIT_TOKEN_PER_IP).",
    responses=responses(200, "Tokens", TokenResponse, *_PROBLEMS, rate_limited=True),
    tags=["sessions"],
)
def login_mfa(body: MfaLoginRequest) -> Response[TokenResponse]:
    issued, state = login_flow.complete_mfa(
        get_services(),
        get_signing_keys(),
        mfa_token=body.mfa_token,
        code=body.code,
        recovery_code=body.recovery_code,
        client=Client(ip=source_ip(app), user_agent=user_agent(app)),
    )
    return json_response(200, issued.as_response(), state)


@instrumented()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(app, event, context)
