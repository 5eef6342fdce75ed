"""Read `template.yaml` for local mode.

The local server learns everything it needs from the SAM template itself, so that local mode and
the deployed stack cannot drift apart: the routes (with their authorizers), the CORS
configuration of the HTTP API, the table definition, the queues, the secret, the SES
configuration set, the mailer (SQS event) and cleanup (schedule) functions, and the functions'
environment with every `!Ref` resolved to a parameter's value or to the local value of a resource.

`Template` is assembled from its concerns: the YAML and value helpers (local.cfn), the evaluator of
intrinsic functions (local.intrinsics), the data and messaging resources (local.template_data), the
functions' environment (local.template_env) and the values it returns (local.template_model).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from local.cfn import NO_VALUE, as_int, as_parameter_value, load_yaml, referenced_resource, split_list
from local.intrinsics import Intrinsics
from local.template_data import DataResources
from local.template_env import Environment
from local.template_model import (
    DEFAULT_ROUTE,
    FUNCTION_TYPES,
    Cors,
    Function,
    QueueSubscription,
    Route,
    Schedule,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_STACK_NAME = "accounts-local"

# Values used locally where the template's parameters have no usable local value.
LOCAL_APP_PATH = "/app"  # where local mode serves web/ (APP_BASE_URL defaults to <server>/app)
LOCAL_EMAIL_FROM = "no-reply@example.com"
LOCAL_JWT_AUDIENCE = "accounts-api"


class Template(Environment, DataResources, Intrinsics):
    """A parsed SAM template with local values for its parameters and resources."""

    def __init__(
        self,
        path: str | os.PathLike[str] = DEFAULT_TEMPLATE,
        *,
        region: str | None = None,
        account_id: str = DEFAULT_ACCOUNT_ID,
        stack_name: str = DEFAULT_STACK_NAME,
    ) -> None:
        self.path = Path(path).resolve()
        self.root = self.path.parent
        self.data = load_yaml(self.path)
        self.region = (
            region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION
        )
        self.account_id = account_id
        self.stack_name = stack_name
        self.resources: dict[str, dict[str, Any]] = {
            logical_id: resource
            for logical_id, resource in (self.data.get("Resources") or {}).items()
            if isinstance(resource, dict)
        }
        self.globals: dict[str, Any] = self.data.get("Globals") or {}
        self.parameter_definitions: dict[str, dict[str, Any]] = self.data.get("Parameters") or {}
        self.parameters: dict[str, str | None] = {
            name: as_parameter_value(definition.get("Default")) if isinstance(definition, dict) else None
            for name, definition in self.parameter_definitions.items()
        }
        Intrinsics.__init__(self)
        self._default_resource_values()

    # ------------------------------------------------------------------ resources by type

    def resources_of_type(self, *types: str) -> dict[str, dict[str, Any]]:
        return {logical_id: r for logical_id, r in self.resources.items() if r.get("Type") in types}

    def _single(self, *types: str) -> tuple[str, dict[str, Any]] | None:
        found = self.resources_of_type(*types)
        return next(iter(found.items())) if found else None

    @property
    def parameter_defaults(self) -> dict[str, str | None]:
        """Parameters as declared: name -> Default (None when the parameter has none)."""
        return {
            name: as_parameter_value(definition.get("Default")) if isinstance(definition, dict) else None
            for name, definition in self.parameter_definitions.items()
        }

    # ------------------------------------------------------------------ functions and routes

    @property
    def functions(self) -> dict[str, Function]:
        global_function = self.globals.get("Function") or {}
        functions: dict[str, Function] = {}
        for logical_id, resource in self.resources_of_type(*FUNCTION_TYPES).items():
            properties = resource.get("Properties") or {}
            code_uri = properties.get("CodeUri", global_function.get("CodeUri"))
            handler = properties.get("Handler", global_function.get("Handler"))
            if not isinstance(code_uri, str) or not isinstance(handler, str) or "." not in handler:
                continue  # inline code, images, or something local mode cannot import
            functions[logical_id] = Function(
                logical_id=logical_id,
                code_uri=code_uri,
                handler=handler,
                events=properties.get("Events") or {},
                memory_size=as_int(
                    self.resolve(properties.get("MemorySize", global_function.get("MemorySize"))), 128
                ),
                timeout=as_int(self.resolve(properties.get("Timeout", global_function.get("Timeout"))), 3),
                properties=properties,
            )
        return functions

    def function_name(self, logical_id: str) -> str:
        properties = (self.resources.get(logical_id) or {}).get("Properties") or {}
        name = self._resolved_str(properties.get("FunctionName"))
        return name or f"{self.stack_name}-{logical_id}"

    def code_dir(self, function: Function) -> Path:
        return (self.root / function.code_uri).resolve()

    @property
    def layer_dirs(self) -> list[Path]:
        dirs = []
        for resource in self.resources_of_type(
            "AWS::Serverless::LayerVersion", "AWS::Lambda::LayerVersion"
        ).values():
            properties = resource.get("Properties") or {}
            content = properties.get("ContentUri") or (properties.get("Content") or {}).get("S3Key")
            if isinstance(content, str):
                dirs.append((self.root / content).resolve())
        return dirs

    @property
    def http_api(self) -> tuple[str, dict[str, Any]] | None:
        """(logical id, Properties merged over Globals.HttpApi) of the AWS::Serverless::HttpApi, if any."""
        found = self._single("AWS::Serverless::HttpApi")
        if found is None:
            return None
        logical_id, resource = found
        merged = dict(self.globals.get("HttpApi") or {})
        merged.update(resource.get("Properties") or {})
        return logical_id, merged

    @property
    def authorizers(self) -> dict[str, dict[str, Any]]:
        api = self.http_api
        if api is None:
            return {}
        auth = api[1].get("Auth") or {}
        return dict(auth.get("Authorizers") or {})

    @property
    def routes(self) -> list[Route]:
        """Every HttpApi event of every function, in template order."""
        api = self.http_api
        default_authorizer = None
        if api is not None:
            default_authorizer = (api[1].get("Auth") or {}).get("DefaultAuthorizer")
        routes = []
        for function in self.functions.values():
            for event in function.events.values():
                if not isinstance(event, dict) or event.get("Type") != "HttpApi":
                    continue
                properties = event.get("Properties") or {}
                path = properties.get("Path") or DEFAULT_ROUTE
                method = str(properties.get("Method") or "ANY").upper()
                if method == "X-AMAZON-APIGATEWAY-ANY-METHOD":
                    method = "ANY"
                auth = properties.get("Auth") or {}
                authorizer = auth.get("Authorizer", default_authorizer)
                if authorizer in (None, "", "NONE"):
                    authorizer = None
                scopes = tuple(str(scope) for scope in self.resolve(auth.get("AuthorizationScopes")) or ())
                routes.append(
                    Route(
                        method=method,
                        path=str(path),
                        function_logical_id=function.logical_id,
                        code_uri=function.code_uri,
                        handler=function.handler,
                        authorizer=authorizer,
                        scopes=scopes if authorizer else (),
                    )
                )
        return routes

    @property
    def queue_subscriptions(self) -> list[QueueSubscription]:
        subscriptions = []
        for function in self.functions.values():
            for event in function.events.values():
                if not isinstance(event, dict) or event.get("Type") != "SQS":
                    continue
                properties = event.get("Properties") or {}
                subscriptions.append(
                    QueueSubscription(
                        function_logical_id=function.logical_id,
                        queue_logical_id=referenced_resource(properties.get("Queue")),
                        batch_size=as_int(self.resolve(properties.get("BatchSize")), 10),
                        report_batch_item_failures="ReportBatchItemFailures"
                        in (self.resolve(properties.get("FunctionResponseTypes")) or []),
                    )
                )
        return subscriptions

    @property
    def mailer_function(self) -> Function | None:
        """The function with an SQS event (the email worker)."""
        subscriptions = self.queue_subscriptions
        return self.functions[subscriptions[0].function_logical_id] if subscriptions else None

    @property
    def schedules(self) -> list[Schedule]:
        schedules = []
        for function in self.functions.values():
            for event in function.events.values():
                if not isinstance(event, dict) or event.get("Type") not in ("Schedule", "ScheduleV2"):
                    continue
                properties = event.get("Properties") or {}
                expression = properties.get("Schedule") or properties.get("ScheduleExpression")
                schedules.append(
                    Schedule(
                        function_logical_id=function.logical_id,
                        expression=self._resolved_str(expression),
                        input=self.resolve(properties.get("Input")),
                        event_type=event["Type"],
                    )
                )
        return schedules

    @property
    def cleanup_function(self) -> Function | None:
        """The function with a Schedule/ScheduleV2 event."""
        schedules = self.schedules
        return self.functions[schedules[0].function_logical_id] if schedules else None

    # ------------------------------------------------------------------ CORS

    @property
    def cors(self) -> Cors | None:
        """The HTTP API's CORS configuration, resolved with the current parameter values.

        None when there is none (or when it resolves to AWS::NoValue, e.g. no origins configured).
        """
        api = self.http_api
        if api is None:
            return None
        raw = api[1].get("CorsConfiguration")
        if raw is None:
            return None
        config = self.resolve(raw)
        if config is NO_VALUE or config is None or config is False:
            return None
        if config is True:  # SAM shorthand: allow everything
            return Cors(allow_origins=("*",), allow_methods=("*",), allow_headers=("*",))
        if isinstance(config, str):  # SAM shorthand: one origin
            config = {"AllowOrigins": [config]}
        if not isinstance(config, dict):
            return None
        max_age = config.get("MaxAge")
        return Cors(
            allow_origins=split_list(config.get("AllowOrigins")),
            allow_methods=tuple(m.upper() for m in split_list(config.get("AllowMethods"))),
            allow_headers=split_list(config.get("AllowHeaders")),
            expose_headers=split_list(config.get("ExposeHeaders")),
            max_age=as_int(max_age, None) if max_age is not None else None,
            allow_credentials=str(config.get("AllowCredentials", "false")).lower() == "true",
        )


def load(path: str | os.PathLike[str] | None = None, **kwargs: Any) -> Template:
    """The template at `path` (default: $LOCAL_TEMPLATE or the repository's template.yaml)."""
    return Template(path or os.environ.get("LOCAL_TEMPLATE") or DEFAULT_TEMPLATE, **kwargs)
