"""SessionFunction: refresh, logout, me, the key set and the discovery document (login, which needs
argon2's memory, is LoginFunction: handle_login in this folder).

Also the $default route, so an unknown route gets the service's problem response."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response

from accounts import snapstart
from accounts.flows import sessions
from accounts.http import handle, json_response, new_app, source_ip, user_agent
from accounts.jwt_keys import get_signing_keys
from accounts.jwt_keys import jwks as key_set
from accounts.jwt_keys import openid_configuration as discovery
from accounts.observability import instrumented
from accounts.schemas import DiscoveryDocument, JWKSet, Profile, RefreshRequest, TokenResponse, responses
from accounts.services import get_services
from accounts.settings import get_settings

# With SnapStart on, prime this function's imports and clients before the snapshot.
snapstart.enable(clients=("secretsmanager",))

app = new_app()


def _client() -> sessions.Client:
    return sessions.Client(ip=source_ip(app), user_agent=user_agent(app))


@app.post(
    "/v1/auth/refresh",
    summary="Rotate a refresh token",
    description="Returns new tokens in the same session; the presented refresh token is retired. Presenting "
    "it again within the reuse grace answers the same new pair; after the grace it revokes the session.",
    responses=responses(200, "Tokens", TokenResponse, 400, 401, 413, 415, 422, 500, 503),
    tags=["sessions"],
)
def refresh(body: RefreshRequest) -> Response[TokenResponse]:
    issued = sessions.refresh(get_services(), get_signing_keys(), refresh_token=body.refresh_token, client=_client())
    return json_response(200, issued.as_response())


@app.post(
    "/v1/auth/logout",
    summary="Log out",
    description="Revokes the refresh token's session. Answers 204 for unknown or already revoked tokens too.",
    responses=responses(204, "Logged out", None, 400, 413, 415, 422, 500, 503),
    tags=["sessions"],
)
def logout(body: RefreshRequest) -> Response[None]:
    sessions.logout(get_services(), get_signing_keys(), refresh_token=body.refresh_token, client=_client())
    return Response(status_code=204, body=None)


@app.get(
    "/v1/auth/me",
    summary="The caller's profile",
    description="Needs `Authorization: Bearer <access token>`, checked by the API's JWT authorizer; a token "
    "whose session was revoked, or whose user is disabled, is refused although it has not expired.",
    responses=responses(200, "Profile", Profile, 401, 500, 503, bearer=True),
    tags=["sessions"],
)
def me() -> Profile:
    authorizer = app.current_event.request_context.authorizer
    claims = (authorizer.jwt_claim if authorizer else None) or {}
    user, _ = sessions.authenticate(get_services(), claims)
    return Profile(**sessions.profile(user))


@app.get(
    "/.well-known/jwks.json",
    summary="Public signing keys (JWK Set)",
    responses=responses(200, "JWK Set", JWKSet, 500, 503),
    tags=["keys"],
)
def jwks() -> JWKSet:
    return JWKSet.model_validate(key_set(get_signing_keys()))


@app.get(
    "/.well-known/openid-configuration",
    summary="Discovery document",
    responses=responses(200, "Issuer, jwks_uri, algorithms", DiscoveryDocument, 500),
    tags=["keys"],
)
def openid_configuration() -> DiscoveryDocument:
    return DiscoveryDocument.model_validate(discovery(get_settings().jwt_issuer))


@instrumented()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(app, event, context)
