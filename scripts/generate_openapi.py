"""Generate openapi.json from the API functions' own resolvers, so the document cannot drift.

Each API function's Powertools resolver knows its routes and pydantic models; this merges their
schemas into one document. `--write` updates the committed file; `--check` fails when it differs.

    python scripts/generate_openapi.py --write
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "openapi.json"
TITLE = "Serverless Accounts API"
VERSION = "1.0.0"
DESCRIPTION = (
    "Registration with email verification, login with short-lived RS256 access tokens and rotating "
    "refresh tokens, and password reset by email. Errors are application/problem+json (RFC 9457) with a "
    "stable `code`.\n\n"
    "A path that is not listed here answers 404 (`components.responses.NotFound`); a listed path called "
    "with a method it does not declare answers 405 with an `Allow` header "
    "(`components.responses.MethodNotAllowed`, listed on every operation).\n\n"
    "Rate-limited routes (register, verify-email, verify-email/resend, password-reset, "
    "password-reset/confirm, login) carry RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset on their "
    "answers while the limit is enabled; 429 and 503 carry Retry-After.\n\n"
    "Admin routes (`/v1/admin/`) need an access token with the `accounts:admin` scope, which only users "
    "with the admin role receive; API Gateway's JWT authorizer refuses other tokens with its own 403 body "
    "before the function runs (local mode answers the `insufficient_scope` problem).\n\n"
    "Every response also carries Cache-Control: no-store, Strict-Transport-Security, "
    "X-Content-Type-Options: nosniff, Referrer-Policy: no-referrer and a Content-Security-Policy; they are "
    "not repeated on each response, as no client acts on them."
)
# Problem statuses with reusable responses in components.responses (NameWithRateLimit: the same with
# the RateLimit-* headers of a rate-limited route); an operation's response identical to one becomes
# a $ref to it. Those no operation uses are left out, but NotFound, which no listed path answers.
SHARED_PROBLEMS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    405: "MethodNotAllowed",
    409: "Conflict",
    410: "Gone",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    422: "ValidationFailed",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}
NO_CONTENT = {"204", "304"}


def _api_modules() -> list[Any]:
    """The handler modules of the functions that serve routes, as template.yaml declares them."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from local.template import Template

    template = Template(ROOT / "template.yaml")
    for layer in template.layer_dirs:
        if str(layer) not in sys.path:
            sys.path.insert(0, str(layer))
    modules, seen = [], set()
    for route in template.routes:
        function = template.functions[route.function_logical_id]
        if function.logical_id in seen:
            continue
        seen.add(function.logical_id)
        code_dir = str(template.code_dir(function))
        if code_dir not in sys.path:
            sys.path.insert(0, code_dir)
        modules.append(importlib.import_module(function.module))
    return modules


def _protected_routes() -> list[tuple[str, str, tuple[str, ...]]]:
    """(path, method, scopes) of every route behind the JWT authorizer in template.yaml."""
    from local.template import Template

    return [(route.path, route.method.lower(), route.scopes)
            for route in Template(ROOT / "template.yaml").routes if route.authorizer]


def generate() -> dict[str, Any]:
    modules = _api_modules()
    # Imported once the layer is on sys.path (done by _api_modules).
    from accounts.schemas import RESPONSE_HEADERS, problem_responses

    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION},
        "servers": [{"url": "http://127.0.0.1:3000", "description": "local mode (make dev)"}],
        "paths": {},
        "components": {
            "schemas": {},
            "responses": {},
            "headers": dict(sorted(RESPONSE_HEADERS.items())),
            "securitySchemes": {
                "accessToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (RS256, typ at+jwt)"}
            },
        },
    }
    for module in modules:
        schema = json.loads(module.app.get_openapi_json_schema(title=TITLE, version=VERSION))
        for path, operations in schema.get("paths", {}).items():
            document["paths"].setdefault(path, {}).update(operations)
        document["components"]["schemas"].update(schema.get("components", {}).get("schemas", {}))
    shared = _shared_responses(problem_responses(*SHARED_PROBLEMS), "")
    shared |= _shared_responses(problem_responses(*SHARED_PROBLEMS, rate_limited=True), "WithRateLimit")
    for path, method, scopes in _protected_routes():
        operation = document["paths"].get(path, {}).get(method)
        if operation is not None:
            operation["security"] = [{"accessToken": list(scopes)}]
    for operation in (op for operations in document["paths"].values() for op in operations.values()):
        operation["responses"] = _responses(operation, shared)
    document["paths"] = dict(sorted(document["paths"].items()))
    text = json.dumps(document["paths"])
    document["components"]["responses"] = {
        name: body
        for name, body in shared.items()
        if name == "NotFound" or f'"#/components/responses/{name}"' in text
    }
    schemas = document["components"]["schemas"]
    used = _referenced(document["paths"], schemas)
    _referenced(document["components"]["responses"], schemas, used)
    document["components"]["schemas"] = {name: schemas[name] for name in sorted(used)}
    return document


def _shared_responses(entries: dict[int, dict], suffix: str) -> dict[str, Any]:
    """Problem responses for components.responses, the `model` placeholder made a schema $ref."""
    shared = {}
    for status, entry in entries.items():
        content = {
            media_type: {"schema": {"$ref": f"#/components/schemas/{payload['model'].__name__}"}}
            for media_type, payload in entry["content"].items()
        }
        shared[SHARED_PROBLEMS[status] + suffix] = {**entry, "content": content}
    return shared


def _responses(operation: dict[str, Any], shared: dict[str, Any]) -> dict[str, Any]:
    """One operation's responses as a client should see them.

    - Powertools adds "422 Validation Error" (its own HTTPValidationError body) to every route of a
      resolver with validation on; it can only happen where there is something to validate, and
      then the answer is the service's problem document.
    - A 204 has no content (Powertools gives every response without content the return type's).
    - Every path answers other methods with 405 + Allow.
    - A response identical to a shared one is a $ref to it.
    """
    responses = dict(operation["responses"])
    validates = "requestBody" in operation or bool(operation.get("parameters"))
    if not validates:
        responses.pop("422", None)
    elif _is_powertools_validation_error(responses.get("422")):
        responses["422"] = {"$ref": "#/components/responses/ValidationFailed"}
    for status in NO_CONTENT & responses.keys():
        responses[status] = {k: v for k, v in responses[status].items() if k != "content"}
    responses["405"] = {"$ref": "#/components/responses/MethodNotAllowed"}
    by_value = {json.dumps(body, sort_keys=True): name for name, body in shared.items()}
    for status, body in responses.items():
        name = by_value.get(json.dumps(body, sort_keys=True))
        if name is not None:
            responses[status] = {"$ref": f"#/components/responses/{name}"}
    return dict(sorted(responses.items()))


def _is_powertools_validation_error(response: dict[str, Any] | None) -> bool:
    return response is not None and "HTTPValidationError" in json.dumps(response)


def _referenced(node: Any, schemas: dict[str, Any], found: set[str] | None = None) -> set[str]:
    """Names of the component schemas reachable from `node` (the resolver adds a few unused ones)."""
    found = set() if found is None else found
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            name = ref.rsplit("/", 1)[1]
            if name not in found and name in schemas:
                found.add(name)
                _referenced(schemas[name], schemas, found)
        for value in node.values():
            _referenced(value, schemas, found)
    elif isinstance(node, list):
        for value in node:
            _referenced(value, schemas, found)
    return found


def render() -> str:
    return json.dumps(generate(), indent=2, sort_keys=False) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="update openapi.json")
    parser.add_argument("--check", action="store_true", help="exit 1 when openapi.json is out of date")
    args = parser.parse_args()
    text = render()
    if args.write:
        OUTPUT.write_text(text)
        print(f"wrote {OUTPUT.relative_to(ROOT)}")
    elif args.check:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print("openapi.json is out of date: run `make openapi`", file=sys.stderr)
            return 1
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
