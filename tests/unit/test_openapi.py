"""openapi.json is generated from the resolvers; it must be committed up to date and match the spec."""

from __future__ import annotations

import json

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
    ("get", "/.well-known/jwks.json"),
    ("get", "/.well-known/openid-configuration"),
}


def test_committed_openapi_matches_the_generated_one():
    assert OUTPUT.read_text() == render(), "openapi.json is out of date: run `make openapi`"


def test_openapi_documents_exactly_the_spec_routes_with_problem_errors():
    document = json.loads(OUTPUT.read_text())
    routes = {(method, path) for path, operations in document["paths"].items() for method in operations}
    assert routes == SPEC_ROUTES
    register = document["paths"]["/v1/auth/register"]["post"]
    assert "202" in register["responses"]
    assert "application/problem+json" in register["responses"]["422"]["content"]
    assert document["paths"]["/v1/auth/me"]["get"]["security"] == [{"accessToken": []}]
    request = document["components"]["schemas"]["RegisterRequest"]
    assert request.get("additionalProperties") is False  # unknown fields are refused
