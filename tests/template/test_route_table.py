"""The layer's route table (what the $default route answers 405 from, and which routes report
RateLimit-*) is exactly what template.yaml declares."""

from __future__ import annotations

from accounts.routes import RATE_LIMITED, ROUTES
from tests.template.test_template import http_routes, load_template


def test_route_table_is_the_templates_routes() -> None:
    declared = {key for key in http_routes(load_template()) if key != "$default"}
    table = {f"{method} {path}" for path, methods in ROUTES.items() for method in methods}
    assert table == declared


def test_rate_limited_routes_are_declared_routes() -> None:
    declared = set(http_routes(load_template()))
    assert set(RATE_LIMITED) <= declared
