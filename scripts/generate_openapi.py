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
    "stable `code`. Every response carries Cache-Control: no-store and the security headers of the spec; "
    "rate-limited routes also return RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset."
)


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


def generate() -> dict[str, Any]:
    document: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": TITLE, "version": VERSION, "description": DESCRIPTION},
        "servers": [{"url": "http://127.0.0.1:3000", "description": "local mode (make dev)"}],
        "paths": {},
        "components": {
            "schemas": {},
            "securitySchemes": {
                "accessToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (RS256, typ at+jwt)"}
            },
        },
    }
    for module in _api_modules():
        schema = json.loads(module.app.get_openapi_json_schema(title=TITLE, version=VERSION))
        for path, operations in schema.get("paths", {}).items():
            document["paths"].setdefault(path, {}).update(operations)
        document["components"]["schemas"].update(schema.get("components", {}).get("schemas", {}))
    me = document["paths"].get("/v1/auth/me", {}).get("get")
    if me is not None:
        me["security"] = [{"accessToken": []}]
    document["paths"] = dict(sorted(document["paths"].items()))
    schemas = document["components"]["schemas"]
    used = _referenced(document["paths"], schemas)
    document["components"]["schemas"] = {name: schemas[name] for name in sorted(used)}
    return document


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
