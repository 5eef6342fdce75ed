"""MfaFunction: TOTP two-factor enrolment and removal (spec sections 2 and 3, v2). The second step of
a login (POST /v1/auth/login/mfa) is LoginFunction's (functions/login/handle_login.py).

Every route is behind the API's JWT authorizer; the flows check again that the token's session is
live and its user enabled (accounts.flows.sessions.authenticate). Removal verifies the password
(argon2), so this function has the memory of Globals."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from accounts import snapstart
from accounts.flows import mfa
from accounts.flows.sessions import Client
from accounts.http import handle, new_app, source_ip, user_agent
from accounts.mfa_schemas import RecoveryCodes, TotpConfirmRequest, TotpDisableRequest, TotpEnrolment
from accounts.observability import instrumented
from accounts.schemas import Empty, responses
from accounts.services import get_services

# With SnapStart on, prime this function's imports, clients and hasher before the snapshot.
snapstart.enable(clients=("sqs",), passwords=True)

app = new_app()

_BEARER = "Needs `Authorization: Bearer <access token>` of a live session (checked by the API's JWT authorizer)."


def _claims() -> dict[str, Any]:
    authorizer = app.current_event.request_context.authorizer
    return (authorizer.jwt_claim if authorizer else None) or {}


def _client() -> Client:
    return Client(ip=source_ip(app), user_agent=user_agent(app))


@app.post(
    "/v1/auth/mfa/totp",
    summary="Start TOTP enrolment",
    description="Creates a pending TOTP secret (160 bits; an earlier pending one is replaced) and answers it "
    "with its `otpauth://` URI (issuer MFA_ISSUER, the account's address) for an authenticator app. The "
    "secret is never answered again. 409 mfa_already_enabled while TOTP is active. Body: `{}`. "
    f"{_BEARER}",
    responses=responses(200, "The pending secret", TotpEnrolment, 400, 401, 409, 413, 415, 422, 500, 503,
                        bearer=True),
    tags=["two-factor"],
)
def enrol(body: Empty) -> TotpEnrolment:
    return TotpEnrolment(**mfa.enrol(get_services(), _claims()))


@app.post(
    "/v1/auth/mfa/totp/confirm",
    summary="Finish TOTP enrolment",
    description="Activates the pending secret with a current code and answers 10 single-use recovery codes, "
    "this once; sends the two-factor-enabled notice. From now on a login needs a code after the password. "
    f"401 invalid_mfa_code for a wrong code or when no enrolment is pending (an hour at most). {_BEARER}",
    responses=responses(200, "Recovery codes", RecoveryCodes, 400, 401, 409, 413, 415, 422, 500, 503,
                        bearer=True),
    tags=["two-factor"],
)
def confirm(body: TotpConfirmRequest) -> RecoveryCodes:
    codes = mfa.confirm(get_services(), _claims(), code=body.code, client=_client())
    return RecoveryCodes(recovery_codes=codes)


@app.delete(
    "/v1/auth/mfa/totp",
    summary="Remove TOTP",
    description="Needs the password and a current code (or, with the authenticator lost, an unused recovery "
    "code); removes TOTP and every recovery code and sends the two-factor-disabled notice. The password "
    "and the code are checked behind the address's login lockout (failures count, 429 once locked): a "
    "wrong password answers 401 invalid_credentials, a wrong or used code 401 invalid_mfa_code. "
    f"204 also when TOTP is not enabled. {_BEARER}",
    responses=responses(204, "Removed", None, 400, 401, 413, 415, 422, 429, 500, 503, bearer=True),
    tags=["two-factor"],
)
def disable(body: TotpDisableRequest) -> Response[None]:
    mfa.disable(get_services(), _claims(), password=body.password, code=body.code,
                recovery_code=body.recovery_code, client=_client())
    return Response(status_code=204, body=None)


@instrumented()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(app, event, context)
