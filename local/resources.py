"""Local mode's AWS resources on moto: the table, queues, secrets and SES identity of the
template, the functions' environment, and the workers."""

from __future__ import annotations

import json
import logging
import os
import secrets
import sys
from email.utils import parseaddr

from local import template as tpl
from local.cfn import as_env_value, origin_of
from local.common import (
    log,
    signing_key_secret_value,
)
from local.lambdas import LocalFunction, QueueDrainer
from local.routing import Router


class ResourcesMixin:
    """Creates and starts what the template declares (part of LocalApp)."""

    def start_moto(self) -> None:
        import logging

        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.moto.start()
        host, port = self.moto.get_host_and_port()
        self.aws_endpoint = f"http://{host}:{port}"
        # Before any handler module is imported: every boto3 client (and pynamodb's) reads it.
        os.environ["AWS_ENDPOINT_URL"] = self.aws_endpoint

    def local_defaults(self) -> dict[str, str]:
        """Values for variables whose template value is unusable locally (the shell still wins)."""
        template = self.template
        defaults = {
            # The reference web app this server serves at /app/ (spec 5, v2): emailed links open it.
            "APP_BASE_URL": f"{self.base_url}{tpl.LOCAL_APP_PATH}",
            "JWT_ISSUER": self.base_url,
            "EMAIL_FROM": tpl.LOCAL_EMAIL_FROM,
        }
        parameters = template.parameter_variables()
        audience_parameter = parameters.get("JWT_AUDIENCE")
        audience = template.parameters.get(audience_parameter) if audience_parameter else None
        defaults["JWT_AUDIENCE"] = audience or tpl.LOCAL_JWT_AUDIENCE
        cors_parameter = parameters.get("CORS_ALLOWED_ORIGINS")
        cors_default = template.parameter_defaults.get(cors_parameter) if cors_parameter else None
        if not cors_default:
            # No origins in the template: allow the local frontend (APP_BASE_URL's origin).
            app_url = os.environ.get("APP_BASE_URL", defaults["APP_BASE_URL"])
            cors_default = origin_of(app_url) or ""
        defaults["CORS_ALLOWED_ORIGINS"] = cors_default
        return defaults

    def _name_override(self, logical_id: str) -> str | None:
        """A resource name given in the shell through the variable that names it (e.g. TABLE_NAME)."""
        for variable, target in self.template.resource_variables().items():
            if target == logical_id and os.environ.get(variable):
                value = os.environ[variable]
                if value.startswith(("http://", "https://")):  # a queue URL: its last segment is the name
                    return value.rstrip("/").rsplit("/", 1)[-1]
                if value.startswith("arn:"):
                    return None
                return value
        return None

    def create_resources(self) -> None:
        template = self.template

        # DynamoDB: exactly the template's table definition.
        table = template.table
        if table is not None:
            logical_id, properties = table
            name = self._name_override(logical_id) or template.physical_name(logical_id)
            definition = template.table_definition or {}
            dynamodb = self.client("dynamodb")
            arguments = {k: v for k, v in definition.items() if k != "TimeToLiveSpecification"}
            dynamodb.create_table(TableName=name, **arguments)
            ttl = definition.get("TimeToLiveSpecification")
            if ttl and str(ttl.get("Enabled")).lower() == "true":
                dynamodb.update_time_to_live(
                    TableName=name,
                    TimeToLiveSpecification={"AttributeName": ttl["AttributeName"], "Enabled": True},
                )
            described = dynamodb.describe_table(TableName=name)["Table"]
            template.set_resource(logical_id, ref=name, Arn=described["TableArn"])

        # SQS: every queue, then the redrive policies (they point at other queues' ARNs).
        sqs = self.client("sqs")
        visibility = os.environ.get("LOCAL_QUEUE_VISIBILITY_TIMEOUT", "2")
        for logical_id, properties in template.queues.items():
            name = self._name_override(logical_id) or template.physical_name(logical_id)
            attributes = {"VisibilityTimeout": visibility}
            for key in (
                "DelaySeconds",
                "MaximumMessageSize",
                "MessageRetentionPeriod",
                "FifoQueue",
                "ContentBasedDeduplication",
            ):
                if key in properties:
                    attributes[key] = as_env_value(template.resolve(properties[key]))
            url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            self.queue_urls[logical_id], self.queue_arns[logical_id] = url, arn
            template.set_resource(logical_id, ref=url, Arn=arn, QueueName=name, QueueUrl=url)
        for logical_id, properties in template.queues.items():
            if "RedrivePolicy" in properties:
                policy = template.resolve(properties["RedrivePolicy"])
                sqs.set_queue_attributes(
                    QueueUrl=self.queue_urls[logical_id],
                    Attributes={"RedrivePolicy": policy if isinstance(policy, str) else json.dumps(policy)},
                )

        # Secrets Manager: the signing key secret holds a key ring whose one key signs at once.
        secretsmanager = self.client("secretsmanager")
        signing_secrets = {
            target
            for variable, target in template.resource_variables().items()
            if variable == "SIGNING_KEY_SECRET_ID"
        }
        for logical_id, properties in template.secrets.items():
            name = self._name_override(logical_id) or template.physical_name(logical_id)
            if logical_id in signing_secrets:
                value = signing_key_secret_value()
            else:
                literal = template.resolve(properties.get("SecretString"))
                value = literal if isinstance(literal, str) else secrets.token_urlsafe(24)
            arn = secretsmanager.create_secret(Name=name, SecretString=value)["ARN"]
            template.set_resource(logical_id, ref=arn, Id=arn)

        # SES configuration sets (their Ref is the name).
        for logical_id, properties in template.configuration_sets.items():
            name = self._name_override(logical_id) or template.physical_name(logical_id)
            template.set_resource(logical_id, ref=name, Name=name)

        for logical_id in template.resources_of_type("AWS::Serverless::HttpApi", "AWS::ApiGatewayV2::Api"):
            template.set_resource(logical_id, ApiEndpoint=self.base_url)

    def configure_environment(self) -> None:
        template = self.template
        template.apply_environment(os.environ)
        defaults = self.local_defaults()
        environment = template.environment(os.environ, local_defaults=defaults)
        for name, value in defaults.items():  # also when the template does not use the variable
            environment.setdefault(name, os.environ.get(name, value))
        environment.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
        # Metrics stay on: the EMF lines the handlers print are collected for GET /_local/metrics
        # (local.metrics) instead of reaching the console.
        environment.setdefault("POWERTOOLS_METRICS_DISABLED", "false")
        for name in ("POWERTOOLS_TRACE_DISABLED", "POWERTOOLS_METRICS_DISABLED"):
            if name in os.environ:
                environment[name] = os.environ[name]
        self.environment = environment
        os.environ.update(environment)
        # The parameters follow the final values, so the CORS configuration (and any condition
        # on them) is what the deployed API would have with these settings.
        template.apply_environment(os.environ)
        self.cors = template.cors

    def configuration_error(self) -> str | None:
        """The line a function's cold start would log for this configuration, or None when it is valid.

        Every function of the local server runs in this process and reads os.environ (the template's
        variables merged with the shell's), so one check of the settings model covers all of them.
        It is the layer's own get_settings(): the same rules and the same line as in Lambda."""
        from accounts import settings

        logger = logging.getLogger(settings.__name__)
        disabled, logger.disabled = logger.disabled, True  # the caller prints the line, once
        settings.get_settings.cache_clear()
        try:
            settings.get_settings()
        except settings.ConfigurationError as error:
            return str(error)
        finally:
            settings.get_settings.cache_clear()
            logger.disabled = disabled
        return None

    def create_email_resources(self) -> None:
        sesv2 = self.client("sesv2")
        sender = parseaddr(os.environ.get("EMAIL_FROM", ""))[1]
        if sender:
            sesv2.create_email_identity(EmailIdentity=sender)
        configuration_set = os.environ.get("SES_CONFIGURATION_SET")
        if configuration_set:
            sesv2.create_configuration_set(ConfigurationSetName=configuration_set)

        # The signing secret named in the shell may not be one of the template's: create it.
        secret_id = os.environ.get("SIGNING_KEY_SECRET_ID")
        if secret_id:
            secretsmanager = self.client("secretsmanager")
            try:
                secretsmanager.describe_secret(SecretId=secret_id)
            except secretsmanager.exceptions.ResourceNotFoundException:
                secretsmanager.create_secret(Name=secret_id, SecretString=signing_key_secret_value())

    def add_layer_paths(self) -> None:
        """The layers' folders on sys.path, as Lambda puts them on the import path (plus the
        repository's own layer, whose helpers the server uses: key generation, token checks,
        MIME parsing, problem bodies)."""
        candidates = [*self.template.layer_dirs, tpl.REPO_ROOT / "layers" / "common"]
        for layer in reversed(candidates):
            if layer.is_dir() and str(layer) not in sys.path:
                sys.path.insert(0, str(layer))

    def load_functions(self) -> None:
        self.add_layer_paths()
        routed = {route.function_logical_id for route in self.template.routes}
        workers = {s.function_logical_id for s in self.template.queue_subscriptions}
        scheduled = {s.function_logical_id for s in self.template.schedules}
        for logical_id, definition in self.template.functions.items():
            function = LocalFunction(self, definition)
            self.functions[logical_id] = function
            if logical_id in routed | workers | scheduled:
                function.load()
        self.router = Router(self.template.routes)

    def start_workers(self) -> None:
        for subscription in self.template.queue_subscriptions:
            if subscription.queue_logical_id not in self.queue_urls:
                log(f"!! {subscription.function_logical_id}: unknown queue {subscription.queue_logical_id}")
                continue
            drainer = QueueDrainer(self, self.functions[subscription.function_logical_id], subscription)
            drainer.start()
            self.drainers.append(drainer)

    def stop(self) -> None:
        for drainer in self.drainers:
            drainer.stopping.set()
        for drainer in self.drainers:
            drainer.join(timeout=3)
        if self.moto is not None:
            try:
                self.moto.stop()
            except Exception as error:  # noqa: BLE001 - stopping anyway
                log(f"!! stopping moto: {error}")
