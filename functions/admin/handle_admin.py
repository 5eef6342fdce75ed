"""AdminFunction: the admin routes (spec section 2, v2). API Gateway's JWT authorizer lets only
tokens with the `accounts:admin` scope through (the route's AuthorizationScopes; local mode checks
the same); the handler checks the scope again, and that the admin's session is live and the admin
still holds the role (accounts.flows.admin.require_admin)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from accounts import snapstart
from accounts.flows import admin
from accounts.http import handle, json_response, new_app, source_ip
from accounts.observability import instrumented
from accounts.schemas import AdminUser, Empty, ReminderRequest, RemindersQueued, UserStatus, responses
from accounts.services import get_services

# With SnapStart on, prime this function's imports and clients before the snapshot.
snapstart.enable(clients=("sqs",))

app = new_app()

_ADMIN = (
    "Needs an access token with the `accounts:admin` scope (API Gateway's JWT authorizer checks it) of a "
    "live session of a user who holds the admin role."
)


def _caller() -> admin.Caller:
    authorizer = app.current_event.request_context.authorizer
    claims = (authorizer.jwt_claim if authorizer else None) or {}
    user = admin.require_admin(get_services(), claims)
    return admin.Caller(user_id=user.user_id, ip=source_ip(app))


def _path_parameter(name: str, matched: str) -> str:
    """The path parameter as API Gateway decoded it (`%40` is `@`), else the resolver's match."""
    return (app.current_event.path_parameters or {}).get(name) or matched


@app.get(
    "/v1/admin/users/<user_ref>",
    summary="One user by id or email",
    description=f"`user_ref` is a user id, or an email address (it contains `@`; an address also finds "
    f"accounts not verified yet). {_ADMIN}",
    responses=responses(200, "The user", AdminUser, 401, 403, 404, 500, 503, bearer=True),
    tags=["admin"],
)
def get_user(user_ref: str) -> AdminUser:
    _caller()
    return AdminUser(**admin.look_up(get_services(), _path_parameter("user_ref", user_ref)))


@app.post(
    "/v1/admin/users/<user_id>/disable",
    summary="Disable a user",
    description="The user's sessions stop working at once (refresh refused, service routes 401) and login "
    f"answers 403 account_disabled; records a `disabled` security event. Body: `{{}}`. {_ADMIN}",
    responses=responses(200, "The user's new status", UserStatus, 400, 401, 403, 404, 413, 415, 422, 500, 503,
                        bearer=True),
    tags=["admin"],
)
def disable(user_id: str, body: Empty) -> UserStatus:
    caller = _caller()
    return UserStatus(**admin.set_disabled(get_services(), caller, _path_parameter("user_id", user_id),
                                           disabled=True))


@app.post(
    "/v1/admin/users/<user_id>/enable",
    summary="Enable a user",
    description="Undoes disable: the user's sessions that have not expired work again. Records an `enabled` "
    f"security event. Body: `{{}}`. {_ADMIN}",
    responses=responses(200, "The user's new status", UserStatus, 400, 401, 403, 404, 413, 415, 422, 500, 503,
                        bearer=True),
    tags=["admin"],
)
def enable(user_id: str, body: Empty) -> UserStatus:
    caller = _caller()
    return UserStatus(**admin.set_disabled(get_services(), caller, _path_parameter("user_id", user_id),
                                           disabled=False))


@app.post(
    "/v1/admin/users/<user_id>/sessions/revoke",
    summary="Revoke every session of a user",
    description="Every refresh token and access token of the user stops working at once; records a "
    f"`session_revoked` security event. Body: `{{}}`. {_ADMIN}",
    responses=responses(204, "Revoked", None, 400, 401, 403, 404, 413, 415, 422, 500, 503, bearer=True),
    tags=["admin"],
)
def revoke_sessions(user_id: str, body: Empty) -> Response[None]:
    caller = _caller()
    admin.revoke_sessions(get_services(), caller, _path_parameter("user_id", user_id))
    return Response(status_code=204, body=None)


@app.post(
    "/v1/admin/verification-reminders",
    summary="Email verification reminders",
    description="Emails a fresh verification link (earlier links stop working) to each account that is still "
    "unverified: those of `emails` (at most 100; more is a 422), or those registered before "
    "`registered_before`. At most one reminder per account in 24 h, whoever asks; at most 100 are queued "
    f"per request (`more` says when to send it again). {_ADMIN}",
    responses=responses(202, "Queued", RemindersQueued, 400, 401, 403, 413, 415, 422, 500, 503, bearer=True),
    tags=["admin"],
)
def verification_reminders(body: ReminderRequest) -> Response[RemindersQueued]:
    caller = _caller()
    context = app.lambda_context
    report = admin.send_reminders(
        get_services(), caller, emails=body.emails, registered_before=body.registered_before_epoch,
        remaining_ms=context.get_remaining_time_in_millis,
    )
    return json_response(202, report.as_dict())


@instrumented()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(app, event, context)
