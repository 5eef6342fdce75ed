"""Property-based API test: schemathesis generates requests from the committed openapi.json (valid
and invalid ones, other methods, missing or bad credentials), sends them to a local server and fails
on any 5xx and on any answer the document does not describe: an undocumented status, a wrong content
type, a body that does not match its schema, a documented header missing or malformed. Two checks
add what the document states only in prose: the security headers on every answer, and RateLimit-*
on every answer of a rate-limited route.

Bounded: at most MAX_EXAMPLES generated cases per operation (plus schemathesis' example and
coverage cases), with a fixed seed so `make test` sends the same requests each run. It runs on its
own server (own moto, so the fuzzer's accounts stay out of the other end-to-end tests) whose login
lockout is far above what the run sends: a 429 is documented and would pass, but would hide what is
behind it. Schema-valid requests may be refused (an unknown token is 400, a weak password 422), so
schemathesis' "valid data must be accepted" check is off.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from tests.e2e.conftest import REPO_ROOT, Mailbox
from tests.expected import RATE_LIMIT_HEADERS, SECURITY_HEADERS

pytestmark = pytest.mark.e2e

OPENAPI = REPO_ROOT / "openapi.json"
MAX_EXAMPLES = 50
PASSWORD = "Quiet-Lantern-Orbit-73"

schema = schemathesis.openapi.from_path(OPENAPI)
# Operations whose answers document RateLimit-* (inline on the success answer, by $ref on errors).
RATE_LIMITED = {
    (method.upper(), path)
    for path, operations in json.loads(OPENAPI.read_text())["paths"].items()
    for method, operation in operations.items()
    if any("RateLimit-Limit" in answer.get("headers", {}) for answer in operation["responses"].values())
}


@pytest.fixture(scope="module")
def fuzz_server(start_local_server: Callable[..., str]) -> str:
    return start_local_server({"LOGIN_LOCKOUT": "100000/900"})


@pytest.fixture(scope="module")
def access_token(fuzz_server: str) -> str:
    """A verified user's access token, so GET /v1/auth/me is exercised past the authorizer (schemathesis
    still tries it without and with broken credentials)."""
    email = f"fuzz-{uuid.uuid4().hex[:12]}@example.com"
    register = requests.post(f"{fuzz_server}/v1/auth/register", json={"email": email, "password": PASSWORD},
                             timeout=30)
    assert register.status_code == 202, register.text
    token = Mailbox(fuzz_server).token(email, "/verify-email", timeout=15)
    verify = requests.post(f"{fuzz_server}/v1/auth/verify-email", json={"token": token}, timeout=30)
    assert verify.status_code == 200, verify.text
    # An admin (make admin's local route), so the admin routes are exercised past the scope check too.
    grant = requests.post(f"{fuzz_server}/_local/admin", json={"email": email}, timeout=30)
    assert grant.status_code == 200, grant.text
    login = requests.post(f"{fuzz_server}/v1/auth/login", json={"email": email, "password": PASSWORD}, timeout=30)
    assert login.status_code == 200, login.text
    return login.json()["access_token"]


def security_headers_on_every_answer(ctx, response, case) -> None:
    """Spec section 2: these headers are on every response (the document states it once, in its
    description, rather than on each response)."""
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name.lower()) == [value], f"{name}: {response.headers.get(name.lower())!r}"


def rate_limit_headers_on_rate_limited_routes(ctx, response, case) -> None:
    """Spec section 2 (v2): a rate-limited route's every answer carries RateLimit-*. The document
    calls them optional (an operator can turn a limit off); this server has every limit on. A 405
    comes from the router, not from the route."""
    if (case.method.upper(), case.operation.path) not in RATE_LIMITED or response.status_code == 405:
        return
    missing = [name for name in RATE_LIMIT_HEADERS if name.lower() not in response.headers]
    assert not missing, f"{response.status_code} without {', '.join(missing)}"


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    # Both measure data generation, which the negative cases make slow and filter-heavy on a busy
    # machine; neither says anything about the API.
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_conforms_to_openapi(case, fuzz_server, access_token):
    protected = case.operation.path == "/v1/auth/me" or case.operation.path.startswith("/v1/admin/")
    headers = {"Authorization": f"Bearer {access_token}"} if protected else None
    case.call_and_validate(
        base_url=fuzz_server,
        headers=headers,
        additional_checks=[security_headers_on_every_answer, rate_limit_headers_on_rate_limited_routes],
        excluded_checks=[positive_data_acceptance],
        timeout=30,
    )
