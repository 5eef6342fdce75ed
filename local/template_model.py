"""What local mode reads from the template, as plain values: routes, functions, the CORS
configuration, queue subscriptions and schedules."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DEFAULT_ROUTE = "$default"
FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")


@dataclass(frozen=True)
class Route:
    """One route of the HTTP API: `path` is "$default" for the catch-all."""

    method: str
    path: str
    function_logical_id: str
    code_uri: str
    handler: str
    authorizer: str | None = None
    # The route's AuthorizationScopes: the token's `scope` claim must hold at least one of them.
    scopes: tuple[str, ...] = ()

    @property
    def route_key(self) -> str:
        return DEFAULT_ROUTE if self.path == DEFAULT_ROUTE else f"{self.method} {self.path}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "path": self.path,
            "route_key": self.route_key,
            "function": self.function_logical_id,
            "code_uri": self.code_uri,
            "handler": self.handler,
            "authorizer": self.authorizer,
            "scopes": list(self.scopes),
        }


@dataclass(frozen=True)
class Function:
    logical_id: str
    code_uri: str  # as written in the template (relative to the template's folder)
    handler: str  # "module.function"
    events: dict[str, Any]
    memory_size: int = 128
    timeout: int = 3
    properties: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def module(self) -> str:
        return self.handler.rsplit(".", 1)[0]

    @property
    def attribute(self) -> str:
        return self.handler.rsplit(".", 1)[1]


@dataclass(frozen=True)
class Cors:
    allow_origins: tuple[str, ...]
    allow_methods: tuple[str, ...] = ()
    allow_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None
    allow_credentials: bool = False

    def origin_allowed(self, origin: str | None) -> bool:
        if not origin:
            return False
        if "*" in self.allow_origins:
            return True
        wanted = origin.rstrip("/").lower()
        return any(allowed.rstrip("/").lower() == wanted for allowed in self.allow_origins)

    def headers_allowed(self, requested: str | None) -> bool:
        """Whether every header of a preflight's Access-Control-Request-Headers is allowed
        (header names compare case-insensitively)."""
        allowed = {header.lower() for header in self.allow_headers}
        if "*" in allowed:
            return True
        asked = {part.strip().lower() for part in (requested or "").split(",") if part.strip()}
        return asked <= allowed


@dataclass(frozen=True)
class QueueSubscription:
    """An SQS event source of a function (what Lambda's event source mapping reads)."""

    function_logical_id: str
    queue_logical_id: str | None
    batch_size: int = 10
    report_batch_item_failures: bool = False


@dataclass(frozen=True)
class Schedule:
    function_logical_id: str
    expression: str | None
    input: Any = None  # the event's Input (JSON text), if any
    event_type: str = "Schedule"
