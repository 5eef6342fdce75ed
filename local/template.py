"""Read `template.yaml` for local mode.

The local server learns everything it needs from the SAM template itself, so that local mode and
the deployed stack cannot drift apart: the routes (with their authorizers), the CORS
configuration of the HTTP API, the table definition, the queues, the secret, the SES
configuration set, the mailer (SQS event) and cleanup (schedule) functions, and the functions'
environment with every `!Ref` resolved to a parameter's value or to the local value of a resource.

CloudFormation short tags (`!Ref`, `!Sub`, `!If`, ...) are read as their long forms
(`{"Ref": ...}`, `{"Fn::Sub": ...}`, ...) and resolved by a small evaluator that knows the
intrinsic functions the template can use.
"""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"

DEFAULT_REGION = "us-east-1"
DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_STACK_NAME = "accounts-local"
DEFAULT_ROUTE = "$default"

# Values used locally where the template's parameters have no usable local value.
LOCAL_APP_BASE_URL = "http://localhost:5173"
LOCAL_EMAIL_FROM = "no-reply@example.com"
LOCAL_JWT_AUDIENCE = "accounts-api"

FUNCTION_TYPES = ("AWS::Serverless::Function", "AWS::Lambda::Function")


# --------------------------------------------------------------------------------------- YAML


class _CfnLoader(yaml.SafeLoader):
    """A SafeLoader that reads CloudFormation short tags as their long (JSON) forms."""


def _construct_tag(loader: yaml.SafeLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{tag_suffix}": value}


_CfnLoader.add_multi_constructor("!", _construct_tag)


def load_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a CloudFormation/SAM template (short tags become long-form intrinsic functions)."""
    with open(path, encoding="utf-8") as handle:
        data = yaml.load(handle, Loader=_CfnLoader)
    if not isinstance(data, dict):
        raise TypeError(f"{path} is not a CloudFormation template (top level is not a mapping)")
    return data


# ---------------------------------------------------------------------------------- the model


class _NoValue:
    """`AWS::NoValue`: removes the property or list item that holds it."""

    def __repr__(self) -> str:
        return "AWS::NoValue"


NO_VALUE = _NoValue()


class Unresolvable(Exception):
    """An intrinsic function that has no local value (e.g. Fn::ImportValue)."""


@dataclass(frozen=True)
class Route:
    """One route of the HTTP API: `path` is "$default" for the catch-all."""

    method: str
    path: str
    function_logical_id: str
    code_uri: str
    handler: str
    authorizer: str | None = None

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


# ------------------------------------------------------------------------------- the template


class Template:
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
            name: _as_parameter_value(definition.get("Default")) if isinstance(definition, dict) else None
            for name, definition in self.parameter_definitions.items()
        }
        # Local values of resources: what `!Ref X` and `!GetAtt X.Attr` return. The server fills in
        # what is only known once moto has created them (queue URLs, the secret's ARN).
        self.resource_refs: dict[str, Any] = {}
        self.resource_attributes: dict[tuple[str, str], Any] = {}
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
            name: _as_parameter_value(definition.get("Default")) if isinstance(definition, dict) else None
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
                memory_size=_as_int(
                    self.resolve(properties.get("MemorySize", global_function.get("MemorySize"))), 128
                ),
                timeout=_as_int(self.resolve(properties.get("Timeout", global_function.get("Timeout"))), 3),
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
                authorizer = (properties.get("Auth") or {}).get("Authorizer", default_authorizer)
                if authorizer in (None, "", "NONE"):
                    authorizer = None
                routes.append(
                    Route(
                        method=method,
                        path=str(path),
                        function_logical_id=function.logical_id,
                        code_uri=function.code_uri,
                        handler=function.handler,
                        authorizer=authorizer,
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
                        queue_logical_id=_referenced_resource(properties.get("Queue")),
                        batch_size=_as_int(self.resolve(properties.get("BatchSize")), 10),
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
            allow_origins=_split_list(config.get("AllowOrigins")),
            allow_methods=tuple(m.upper() for m in _split_list(config.get("AllowMethods"))),
            allow_headers=_split_list(config.get("AllowHeaders")),
            expose_headers=_split_list(config.get("ExposeHeaders")),
            max_age=_as_int(max_age, None) if max_age is not None else None,
            allow_credentials=str(config.get("AllowCredentials", "false")).lower() == "true",
        )

    # ------------------------------------------------------------------ data and messaging

    @property
    def table(self) -> tuple[str, dict[str, Any]] | None:
        """(logical id, resolved Properties) of the AWS::DynamoDB::Table."""
        found = self._single("AWS::DynamoDB::Table")
        if found is None:
            return None
        logical_id, resource = found
        return logical_id, self.resolve(resource.get("Properties") or {})

    @property
    def table_definition(self) -> dict[str, Any] | None:
        """The table's KeySchema, AttributeDefinitions, GlobalSecondaryIndexes, BillingMode, ... as written."""
        found = self.table
        if found is None:
            return None
        wanted = (
            "KeySchema",
            "AttributeDefinitions",
            "GlobalSecondaryIndexes",
            "LocalSecondaryIndexes",
            "BillingMode",
            "ProvisionedThroughput",
            "TimeToLiveSpecification",
        )
        return {key: value for key, value in found[1].items() if key in wanted}

    @property
    def queues(self) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource.get("Properties") or {}
            for logical_id, resource in self.resources_of_type("AWS::SQS::Queue").items()
        }

    @property
    def secrets(self) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource.get("Properties") or {}
            for logical_id, resource in self.resources_of_type("AWS::SecretsManager::Secret").items()
        }

    @property
    def configuration_sets(self) -> dict[str, dict[str, Any]]:
        return {
            logical_id: resource.get("Properties") or {}
            for logical_id, resource in self.resources_of_type("AWS::SES::ConfigurationSet").items()
        }

    def physical_name(self, logical_id: str) -> str:
        """The name a resource gets locally: its name property if it resolves, else stack-logicalid."""
        resource = self.resources.get(logical_id) or {}
        properties = resource.get("Properties") or {}
        property_name = {
            "AWS::DynamoDB::Table": "TableName",
            "AWS::SQS::Queue": "QueueName",
            "AWS::SecretsManager::Secret": "Name",
            "AWS::SES::ConfigurationSet": "Name",
            "AWS::SNS::Topic": "TopicName",
        }.get(str(resource.get("Type")))
        if property_name:
            name = self._resolved_str(properties.get(property_name), use_resources=False)
            if name:
                return name
        name = f"{self.stack_name}-{logical_id}"
        if resource.get("Type") == "AWS::SQS::Queue" and str(properties.get("FifoQueue")).lower() == "true":
            name += ".fifo"
        return name

    def _default_resource_values(self) -> None:
        arn = f"arn:aws:{{service}}:{self.region}:{self.account_id}:{{rest}}"
        for logical_id, resource in self.resources.items():
            kind = resource.get("Type")
            name = self.physical_name(logical_id)
            if kind == "AWS::DynamoDB::Table":
                self.set_resource(
                    logical_id,
                    ref=name,
                    Arn=arn.format(service="dynamodb", rest=f"table/{name}"),
                    StreamArn=arn.format(service="dynamodb", rest=f"table/{name}/stream/local"),
                )
            elif kind == "AWS::SQS::Queue":
                url = f"https://sqs.{self.region}.amazonaws.com/{self.account_id}/{name}"
                self.set_resource(
                    logical_id,
                    ref=url,
                    Arn=arn.format(service="sqs", rest=name),
                    QueueName=name,
                    QueueUrl=url,
                )
            elif kind == "AWS::SecretsManager::Secret":
                secret_arn = arn.format(service="secretsmanager", rest=f"secret:{name}")
                self.set_resource(logical_id, ref=secret_arn, Id=secret_arn)
            elif kind in FUNCTION_TYPES:
                function_name = self.function_name(logical_id)
                self.set_resource(
                    logical_id,
                    ref=function_name,
                    Arn=arn.format(service="lambda", rest=f"function:{function_name}"),
                )
            elif kind in ("AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api"):
                self.set_resource(logical_id, ref="local", ApiEndpoint="http://127.0.0.1:3000", ApiId="local")
            else:
                self.set_resource(logical_id, ref=name, Arn=arn.format(service="local", rest=name), Name=name)

    def set_resource(self, logical_id: str, *, ref: Any = None, **attributes: Any) -> None:
        """Record the local value of `!Ref logical_id` and of `!GetAtt logical_id.<attribute>`."""
        if ref is not None:
            self.resource_refs[logical_id] = ref
        for attribute, value in attributes.items():
            self.resource_attributes[(logical_id, attribute)] = value

    # ------------------------------------------------------------------ environment

    def environment_template(self) -> dict[str, Any]:
        """The functions' environment variables as written (Globals first, then each function's own)."""
        variables: dict[str, Any] = {}
        global_variables = ((self.globals.get("Function") or {}).get("Environment") or {}).get(
            "Variables"
        ) or {}
        variables.update(global_variables)
        for function in self.functions.values():
            own = ((function.properties.get("Environment") or {}).get("Variables")) or {}
            for name, value in own.items():
                variables.setdefault(name, value)
        return variables

    def parameter_variables(self) -> dict[str, str]:
        """Environment variable -> the parameter it is fed from (`VAR: !Ref Param`)."""
        mapping = {}
        for name, value in self.environment_template().items():
            target = _referenced_resource(value)
            if target in self.parameter_definitions:
                mapping[name] = target
        return mapping

    def resource_variables(self) -> dict[str, str]:
        """Environment variable -> the resource it names (`VAR: !Ref Resource`)."""
        mapping = {}
        for name, value in self.environment_template().items():
            target = _referenced_resource(value)
            if target in self.resources:
                mapping[name] = target
        return mapping

    def apply_environment(self, environ: Mapping[str, str]) -> None:
        """Let the shell's variables set the parameters they are fed into (so CORS and conditions follow)."""
        for variable, parameter in self.parameter_variables().items():
            if variable in environ:
                self.parameters[parameter] = environ[variable]

    def environment(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        local_defaults: Mapping[str, str] | None = None,
    ) -> dict[str, str]:
        """The functions' environment for local mode.

        Template values (parameters' values, local resource values), then `local_defaults` for
        variables whose template value is unusable locally, then `environ` (the shell) wins.
        """
        environ = os.environ if environ is None else environ
        result: dict[str, str] = {}
        declared = self.environment_template()
        for name, raw in declared.items():
            try:
                value = self.resolve(raw)
            except Unresolvable:
                continue
            if value is None or value is NO_VALUE:
                continue
            result[name] = _as_env_value(value)
        for name, value in (local_defaults or {}).items():
            result[name] = value
        for name in [*declared, *result]:
            if name in environ:
                result[name] = environ[name]
        return result

    # ------------------------------------------------------------------ intrinsic functions

    def _resolved_str(self, value: Any, *, use_resources: bool = True) -> str | None:
        if value is None:
            return None
        try:
            resolved = self.resolve(value, use_resources=use_resources)
        except Unresolvable:
            return None
        return resolved if isinstance(resolved, str) and resolved else None

    def pseudo_parameter(self, name: str) -> Any:
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/local",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
            "AWS::NoValue": NO_VALUE,
        }.get(name)

    def condition(self, name: str) -> bool:
        conditions = self.data.get("Conditions") or {}
        if name not in conditions:
            raise Unresolvable(f"unknown condition {name}")
        return bool(self._evaluate_condition(conditions[name]))

    def _evaluate_condition(self, value: Any) -> bool:
        if isinstance(value, dict) and len(value) == 1:
            key, argument = next(iter(value.items()))
            if key == "Condition":
                return self.condition(argument)
            if key == "Fn::Equals":
                left, right = (self.resolve(item) for item in argument)
                return _as_env_value(left) == _as_env_value(right)
            if key == "Fn::Not":
                return not self._evaluate_condition(argument[0])
            if key == "Fn::And":
                return all(self._evaluate_condition(item) for item in argument)
            if key == "Fn::Or":
                return any(self._evaluate_condition(item) for item in argument)
        resolved = self.resolve(value)
        return str(resolved).lower() == "true" if not isinstance(resolved, bool) else resolved

    def _ref(self, name: str, *, use_resources: bool = True) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo_parameter(name)
        if name in self.parameter_definitions:
            value = self.parameters.get(name)
            if value is None:
                raise Unresolvable(f"parameter {name} has no value")
            kind = str((self.parameter_definitions[name] or {}).get("Type", ""))
            if kind.startswith("List<") or kind == "CommaDelimitedList":
                return [part.strip() for part in value.split(",")] if value else []
            return value
        if use_resources and name in self.resource_refs:
            return self.resource_refs[name]
        raise Unresolvable(f"no local value for Ref {name}")

    def _get_att(self, resource: str, attribute: str) -> Any:
        key = (resource, attribute)
        if key in self.resource_attributes:
            return self.resource_attributes[key]
        raise Unresolvable(f"no local value for {resource}.{attribute}")

    def _sub(self, argument: Any, *, use_resources: bool = True) -> str:
        if isinstance(argument, list):
            text, variables = (
                argument[0],
                {k: self.resolve(v, use_resources=use_resources) for k, v in argument[1].items()},
            )
        else:
            text, variables = argument, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            name = name.strip()
            if name in variables:
                return _as_env_value(variables[name])
            if "." in name and not name.startswith("AWS::"):
                if not use_resources:
                    raise Unresolvable(name)
                resource, _, attribute = name.partition(".")
                return _as_env_value(self._get_att(resource, attribute))
            return _as_env_value(self._ref(name, use_resources=use_resources))

        return re.sub(r"\$\{([^}]*)\}", replace, str(text))

    def resolve(self, value: Any, *, use_resources: bool = True) -> Any:
        """Evaluate the intrinsic functions in `value` (AWS::NoValue entries are dropped)."""
        if isinstance(value, list):
            items = [self.resolve(item, use_resources=use_resources) for item in value]
            return [item for item in items if item is not NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            key, argument = next(iter(value.items()))
            if key == "Ref":
                return self._ref(str(argument), use_resources=use_resources)
            if key == "Condition":
                return self.condition(str(argument))
            if key.startswith("Fn::"):
                return self._intrinsic(key[4:], argument, use_resources=use_resources)
        resolved = {}
        for key, item in value.items():
            item = self.resolve(item, use_resources=use_resources)
            if item is not NO_VALUE:
                resolved[key] = item
        return resolved

    def _intrinsic(self, name: str, argument: Any, *, use_resources: bool) -> Any:
        resolve = self.resolve
        if name == "If":
            condition, if_true, if_false = argument
            chosen = if_true if self.condition(condition) else if_false
            return resolve(chosen, use_resources=use_resources)
        if name in ("Equals", "Not", "And", "Or"):
            return self._evaluate_condition({f"Fn::{name}": argument})
        if name == "Sub":
            return self._sub(argument, use_resources=use_resources)
        if name == "GetAtt":
            if not use_resources:
                raise Unresolvable("GetAtt")
            if isinstance(argument, str):
                argument = argument.split(".", 1)
            return self._get_att(str(argument[0]), str(resolve(argument[1])))
        if name == "Join":
            delimiter, items = argument
            items = resolve(items, use_resources=use_resources)
            return str(delimiter).join(_as_env_value(item) for item in items)
        if name == "Split":
            delimiter, text = argument
            return str(resolve(text, use_resources=use_resources)).split(str(delimiter))
        if name == "Select":
            index, items = argument
            items = resolve(items, use_resources=use_resources)
            return items[int(resolve(index, use_resources=use_resources))]
        if name == "FindInMap":
            mapping, top, second = (resolve(item, use_resources=use_resources) for item in argument[:3])
            return (self.data.get("Mappings") or {})[mapping][top][second]
        if name == "GetAZs":
            return [f"{self.region}{suffix}" for suffix in "abc"]
        if name == "Base64":
            return base64.b64encode(str(resolve(argument, use_resources=use_resources)).encode()).decode()
        if name == "Length":
            return len(resolve(argument, use_resources=use_resources))
        if name == "ToJsonString":
            return json.dumps(resolve(argument, use_resources=use_resources), separators=(",", ":"))
        raise Unresolvable(f"Fn::{name} has no local value")


# ------------------------------------------------------------------------------------ helpers


def _referenced_resource(value: Any) -> str | None:
    """The logical id that a `!Ref X` / `!GetAtt X.Attr` / `!Sub ${X...}` value points to, if simple."""
    if isinstance(value, dict) and len(value) == 1:
        key, argument = next(iter(value.items()))
        if key == "Ref" and isinstance(argument, str):
            return argument
        if key == "Fn::GetAtt":
            if isinstance(argument, str):
                return argument.split(".", 1)[0]
            if isinstance(argument, list) and argument:
                return str(argument[0])
    return None


def _as_parameter_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def _as_env_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(_as_env_value(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return str(value)


def _as_int(value: Any, default: int | None) -> Any:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _split_list(value: Any) -> tuple[str, ...]:
    """A list of strings from a list or a comma-separated string (empty entries dropped)."""
    if value is None or value is NO_VALUE:
        return ()
    items = value if isinstance(value, list) else [value]
    result: list[str] = []
    for item in items:
        for part in str(item).split(","):
            if part.strip():
                result.append(part.strip())
    return tuple(result)


def origin_of(url: str) -> str | None:
    """The origin (scheme://host[:port]) of a URL, or None."""
    parts = urlsplit(url)
    if not parts.scheme or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def load(path: str | os.PathLike[str] | None = None, **kwargs: Any) -> Template:
    """The template at `path` (default: $LOCAL_TEMPLATE or the repository's template.yaml)."""
    return Template(path or os.environ.get("LOCAL_TEMPLATE") or DEFAULT_TEMPLATE, **kwargs)
