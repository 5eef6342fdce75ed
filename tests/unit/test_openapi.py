"""openapi.json is generated from the resolvers; it must be committed up to date, be valid OpenAPI 3.1,
match the spec, and not mislead a generated client (issue 7, item 11)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from accounts.jwt_keys import SigningKeys, generate_private_key_pem, jwks, openid_configuration
from scripts.generate_openapi import OUTPUT, render

SPEC_ROUTES = {
    ("post", "/v1/auth/register"),
    ("post", "/v1/auth/verify-email"),
    ("post", "/v1/auth/verify-email/resend"),
    ("post", "/v1/auth/password-reset"),
    ("post", "/v1/auth/password-reset/confirm"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/refresh"),
    ("post", "/v1/auth/logout"),
    ("get", "/v1/auth/me"),
    # v2 self-service
    ("patch", "/v1/auth/me"),
    ("delete", "/v1/auth/me"),
    ("post", "/v1/auth/password"),
    ("post", "/v1/auth/email"),
    ("post", "/v1/auth/email/confirm"),
    ("get", "/v1/auth/sessions"),
    ("delete", "/v1/auth/sessions/{session_id}"),
    ("get", "/v1/auth/me/events"),
    ("get", "/.well-known/jwks.json"),
    ("get", "/.well-known/openid-configuration"),
    ("get", "/v1/admin/users/{user_ref}"),
    ("post", "/v1/admin/users/{user_id}/disable"),
    ("post", "/v1/admin/users/{user_id}/enable"),
    ("post", "/v1/admin/users/{user_id}/sessions/revoke"),
    ("post", "/v1/admin/verification-reminders"),
    ("post", "/v1/auth/login/mfa"),
    ("post", "/v1/auth/mfa/totp"),
    ("post", "/v1/auth/mfa/totp/confirm"),
    ("delete", "/v1/auth/mfa/totp"),
}
ADMIN_ROUTES = {(method, path) for method, path in SPEC_ROUTES if path.startswith("/v1/admin/")}
MFA_ROUTES = {(method, path) for method, path in SPEC_ROUTES if path.startswith("/v1/auth/mfa/")}
# The self-service routes that need an access token (email/confirm's emailed token is the proof).
ACCOUNT_ROUTES = {
    ("patch", "/v1/auth/me"), ("delete", "/v1/auth/me"), ("post", "/v1/auth/password"), ("post", "/v1/auth/email"),
    ("get", "/v1/auth/sessions"), ("delete", "/v1/auth/sessions/{session_id}"), ("get", "/v1/auth/me/events"),
}
RATE_LIMITED = {
    "/v1/auth/register",
    "/v1/auth/verify-email",
    "/v1/auth/verify-email/resend",
    "/v1/auth/password-reset",
    "/v1/auth/password-reset/confirm",
    "/v1/auth/email/confirm",
    "/v1/auth/login",
    "/v1/auth/login/mfa",
}
RATE_LIMIT_HEADERS = {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"}


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return json.loads(OUTPUT.read_text())


def deref(document: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    """`node` with its $ref (to any depth) followed within the document."""
    while isinstance(node, dict) and "$ref" in node:
        target: Any = document
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in document["paths"].items() for method, op in ops.items()]


def responses_of(document: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(method, path, status, response with its $ref followed) of every operation."""
    return [
        (method, path, status, deref(document, response))
        for method, path, op in operations(document)
        for status, response in op["responses"].items()
    ]


def headers_of(document: dict[str, Any], response: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: deref(document, header) for name, header in response.get("headers", {}).items()}


def schema_validator(document: dict[str, Any], name: str) -> Draft202012Validator:
    return Draft202012Validator({"$ref": f"#/components/schemas/{name}", "components": document["components"]})


def test_committed_openapi_matches_the_generated_one():
    assert OUTPUT.read_text() == render(), "openapi.json is out of date: run `make openapi`"


def test_openapi_is_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document, cls=OpenAPIV31SpecValidator)


def test_openapi_documents_exactly_the_spec_routes_with_problem_errors(document):
    routes = {(method, path) for method, path, _ in operations(document)}
    assert routes == SPEC_ROUTES
    assert "202" in document["paths"]["/v1/auth/register"]["post"]["responses"]
    assert document["paths"]["/v1/auth/me"]["get"]["security"] == [{"accessToken": []}]
    for method, path in ADMIN_ROUTES:  # the route's AuthorizationScopes, as role names of the scheme
        assert document["paths"][path][method]["security"] == [{"accessToken": ["accounts:admin"]}]
        assert "insufficient_scope" in deref(document, document["paths"][path][method]["responses"]["403"])[
            "description"]
    request = document["components"]["schemas"]["RegisterRequest"]
    assert request.get("additionalProperties") is False  # unknown fields are refused


def test_success_bodies_are_json_and_errors_are_problem_documents(document):
    for method, path, status, response in responses_of(document):
        content = response.get("content", {})
        if status.startswith("2") and status != "204":
            assert list(content) == ["application/json"], (method, path, status)
        elif not status.startswith("2"):
            assert list(content) == ["application/problem+json"], (method, path, status)
            assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}


@pytest.mark.parametrize(
    ("path", "schema", "fields"),
    [
        ("/.well-known/jwks.json", "JWKSet", {"keys"}),
        (
            "/.well-known/openid-configuration",
            "DiscoveryDocument",
            set(openid_configuration("https://accounts.example.com")),
        ),
    ],
)
def test_key_set_and_discovery_are_typed_not_empty_objects(document, path, schema, fields):
    body = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert body == {"$ref": f"#/components/schemas/{schema}"}
    model = document["components"]["schemas"][schema]
    assert set(model["properties"]) == fields
    assert set(model["required"]) == fields


def test_the_real_key_set_and_discovery_document_match_their_schemas(document):
    keys = SigningKeys.from_pems(generate_private_key_pem(), generate_private_key_pem())
    key_set = jwks(keys)
    schema_validator(document, "JWKSet").validate(key_set)
    jwk = document["components"]["schemas"]["PublicJWK"]
    assert set(jwk["required"]) == {"kty", "use", "alg", "kid", "n", "e"} == set(key_set["keys"][0])
    assert {name: jwk["properties"][name].get("const") for name in ("kty", "use", "alg")} == {
        "kty": "RSA",
        "use": "sig",
        "alg": "RS256",
    }
    schema_validator(document, "DiscoveryDocument").validate(openid_configuration("https://accounts.example.com"))


def test_fields_with_defaults_are_required_in_response_bodies(document):
    """`token_type` is always in the answer: a generated client must not see it as optional."""
    schemas = document["components"]["schemas"]
    assert "token_type" in schemas["TokenResponse"]["required"]
    assert schemas["EmailVerified"]["required"] == ["email_verified"]
    assert schemas["PasswordChanged"]["required"] == ["password_changed"]
    # Only 422 lists field errors; elsewhere the member is absent, never null.
    assert "errors" not in schemas["Problem"]["required"]
    assert schemas["Problem"]["properties"]["errors"]["type"] == "array"


def test_422_only_where_there_is_something_to_validate_and_as_a_problem(document):
    for method, path, op in operations(document):
        validates = "requestBody" in op or bool(op.get("parameters"))
        assert ("422" in op["responses"]) == validates, (method, path)
    assert "HTTPValidationError" not in json.dumps(document)
    assert "ValidationError" not in document["components"]["schemas"]
    assert "422" not in document["paths"]["/v1/auth/me"]["get"]["responses"]


def test_204_has_no_content(document):
    logout = document["paths"]["/v1/auth/logout"]["post"]["responses"]
    assert "204" in logout and "content" not in logout["204"]
    assert all("content" not in response for *_, status, response in responses_of(document) if status == "204")


def test_rate_limited_routes_document_ratelimit_headers_on_every_answer(document):
    for method, path, status, response in responses_of(document):
        names = set(headers_of(document, response))
        if path in RATE_LIMITED and status != "405":
            assert RATE_LIMIT_HEADERS <= names, (method, path, status)
            for name in RATE_LIMIT_HEADERS:
                header = response["headers"][name]
                # Written out, not a $ref: generators type a $ref'd header as always present.
                assert header["required"] is False and header["schema"] == {"type": "integer"}
        else:
            assert not RATE_LIMIT_HEADERS & names, (method, path, status)


def test_retry_after_on_429_and_503_and_www_authenticate_on_bearer_401(document):
    for method, path, status, response in responses_of(document):
        headers = headers_of(document, response)
        assert ("Retry-After" in headers) == (status in ("429", "503")), (method, path, status)
        if "Retry-After" in headers:
            assert headers["Retry-After"]["required"] is True
        bearer = "security" in document["paths"][path][method]
        assert ("WWW-Authenticate" in headers) == (bearer and status == "401"), (method, path, status)
    me_401 = headers_of(document, document["paths"]["/v1/auth/me"]["get"]["responses"]["401"])
    assert me_401["WWW-Authenticate"]["required"] is True


def test_every_operation_documents_405_with_allow_and_404_is_a_component(document):
    for method, path, op in operations(document):
        assert op["responses"]["405"] == {"$ref": "#/components/responses/MethodNotAllowed"}, (method, path)
    shared = document["components"]["responses"]
    allow = deref(document, shared["MethodNotAllowed"]["headers"]["Allow"])
    assert allow["required"] is True
    assert shared["NotFound"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }
    description = document["info"]["description"]
    assert "404" in description and "405" in description and "Allow" in description


def test_problem_responses_are_shared_components_not_copies(document):
    """Every error answer is a $ref into components.responses, but the 401 of the bearer routes."""
    inline = [
        (method, path, status)
        for method, path, op in operations(document)
        for status, response in op["responses"].items()
        if not status.startswith("2") and "$ref" not in response
    ]
    bearer = {(method, path, "401") for method, path in ADMIN_ROUTES | ACCOUNT_ROUTES | MFA_ROUTES | {("get", "/v1/auth/me")}}
    assert sorted(inline) == sorted(bearer)
    referenced = json.dumps(document["paths"])
    unused = [name for name in document["components"]["responses"] if f'/responses/{name}"' not in referenced]
    assert unused == []  # NotFound too: the admin routes answer 404 for an unknown user
