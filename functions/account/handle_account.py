"""AccountFunction: account self-service (spec sections 2 and 3, v2): the profile, password and email
change, the caller's sessions and security events, and deleting the account.

Every route but email/confirm is behind the API's JWT authorizer; the flows check again that the
token's session is live and its user enabled (accounts.flows.sessions.authenticate)."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.openapi.params import Query

from accounts import snapstart
from accounts.account_schemas import (
    ChangeEmailRequest,
    ChangePasswordRequest,
    NameRequest,
    PasswordRequest,
    SecurityEventPage,
    SessionList,
)
from accounts.emails import parse_address
from accounts.flows import account, email_change
from accounts.flows.sessions import Client
from accounts.http import handle, json_response, new_app, source_ip, user_agent
from accounts.observability import instrumented
from accounts.schemas import Message, PasswordChanged, Profile, TokenRequest, responses
from accounts.services import get_services

# With SnapStart on, prime this function's imports, clients and hasher before the snapshot.
snapstart.enable(clients=("sqs",), passwords=True)

app = new_app()

EMAIL_CHANGE_REQUESTED = "If the address can be used, a link to confirm it is on its way to it."
_BEARER = "Needs `Authorization: Bearer <access token>` of a live session (checked by the API's JWT authorizer)."
_PASSWORD = ("The password is checked behind the address's login lockout: a wrong one answers 401 "
             "invalid_credentials and counts as a failed login.")


def _claims() -> dict[str, Any]:
    authorizer = app.current_event.request_context.authorizer
    return (authorizer.jwt_claim if authorizer else None) or {}


def _client() -> Client:
    return Client(ip=source_ip(app), user_agent=user_agent(app))


@app.patch(
    "/v1/auth/me",
    summary="Change the profile",
    description=f"Sets the display name. {_BEARER}",
    responses=responses(200, "Profile", Profile, 400, 401, 413, 415, 422, 500, 503, bearer=True),
    tags=["account"],
)
def update_me(body: NameRequest) -> Profile:
    return Profile(**account.update_name(get_services(), _claims(), name=body.name))


@app.delete(
    "/v1/auth/me",
    summary="Delete the account",
    description="Deletes the account with its sessions, second factors, security events and links; the "
    f"address can register again at once, and receives an account-deleted notice. {_PASSWORD} {_BEARER}",
    responses=responses(204, "Deleted", None, 400, 401, 413, 415, 422, 429, 500, 503, bearer=True),
    tags=["account"],
)
def delete_me(body: PasswordRequest) -> Response[None]:
    account.delete_account(get_services(), _claims(), password=body.password, client=_client())
    return Response(status_code=204, body=None)


@app.post(
    "/v1/auth/password",
    summary="Change the password",
    description="Checks the current password, applies the password policy, and revokes every other session "
    f"of the user (the caller's stays); the address receives a password-changed notice. {_PASSWORD} {_BEARER}",
    responses=responses(200, "Password changed", PasswordChanged, 400, 401, 413, 415, 422, 429, 500, 503,
                        bearer=True),
    tags=["account"],
)
def change_password(body: ChangePasswordRequest) -> PasswordChanged:
    account.change_password(get_services(), _claims(), current_password=body.current_password,
                            new_password=body.new_password, client=_client())
    return PasswordChanged()


@app.post(
    "/v1/auth/email",
    summary="Start an email change",
    description="Emails a confirmation link (1 h, single use) to the new address, or, when that address "
    "already has an account, the already-registered notice instead; the answer is the same. "
    f"{_PASSWORD} {_BEARER}",
    responses=responses(202, "Accepted", Message, 400, 401, 413, 415, 422, 429, 500, 503, bearer=True),
    tags=["account"],
)
def change_email(body: ChangeEmailRequest) -> Response[Message]:
    email_change.request_change(get_services(), _claims(), new_email=parse_address(body.new_email),
                                password=body.password, client=_client())
    return json_response(202, Message(message=EMAIL_CHANGE_REQUESTED).model_dump())


@app.post(
    "/v1/auth/email/confirm",
    summary="Confirm an email change",
    description="Consumes the emailed token (no access token needed: the token is the proof) and moves the "
    "account to the new address, keeping its user id and sessions; the old address receives a notice. "
    "400 invalid_token when the token is unknown or used, or the address was taken meanwhile.",
    responses=responses(200, "Profile with the new email", Profile, 400, 410, 413, 415, 422, 429, 500, 503,
                        rate_limited=True),
    tags=["account"],
)
def confirm_email(body: TokenRequest) -> Response[Profile]:
    found, state = email_change.confirm_change(get_services(), token=body.token, ip=source_ip(app),
                                               user_agent=user_agent(app))
    return json_response(200, Profile(**found).model_dump(), state)


@app.get(
    "/v1/auth/sessions",
    summary="The caller's active sessions",
    description=f"Newest use first; `current` marks the session of this access token. {_BEARER}",
    responses=responses(200, "Sessions", SessionList, 401, 500, 503, bearer=True),
    tags=["account"],
)
def sessions() -> SessionList:
    return SessionList.model_validate(account.list_sessions(get_services(), _claims()))


@app.delete(
    "/v1/auth/sessions/<session_id>",
    summary="Revoke one session",
    description="Its refresh token and access tokens stop working. 204 also for unknown ids (and another "
    f"user's, which are left alone). Revoking the current session is a logout. {_BEARER}",
    responses=responses(204, "Revoked", None, 400, 401, 413, 415, 500, 503, bearer=True),
    tags=["account"],
)
def revoke_session(session_id: str) -> Response[None]:
    matched = (app.current_event.path_parameters or {}).get("session_id") or session_id
    account.revoke_session(get_services(), _claims(), matched, client=_client())
    return Response(status_code=204, body=None)


@app.get(
    "/v1/auth/me/events",
    summary="The caller's security events",
    description="Newest first, kept 90 days; pass `next` of one page as `cursor` for the next. "
    f"{_BEARER}",
    responses=responses(200, "Events", SecurityEventPage, 401, 422, 500, 503, bearer=True),
    tags=["account"],
)
def events(
    cursor: Annotated[str | None, Query(max_length=200, description="`next` of the previous page.")] = None,
    limit: Annotated[int, Query(ge=1, le=account.EVENTS_PAGE_MAX, description="Events per page.")] = (
        account.EVENTS_PAGE_DEFAULT
    ),
) -> SecurityEventPage:
    return SecurityEventPage.model_validate(account.list_events(get_services(), _claims(), cursor=cursor,
                                                                limit=limit))


@instrumented()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(app, event, context)
