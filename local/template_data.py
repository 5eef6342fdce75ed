"""The template's data and messaging resources (table, queues, secrets, SES configuration sets),
the names they get locally, and the local values of every resource before the server creates them."""

from __future__ import annotations

from typing import Any

from local.template_model import FUNCTION_TYPES

# The property that names a resource of each type (else the resource is named stack-logicalid).
_NAME_PROPERTIES = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SQS::Queue": "QueueName",
    "AWS::SecretsManager::Secret": "Name",
    "AWS::SES::ConfigurationSet": "Name",
    "AWS::SNS::Topic": "TopicName",
}


class DataResources:
    """Part of local.template.Template: the resources the server creates on moto."""

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
        property_name = _NAME_PROPERTIES.get(str(resource.get("Type")))
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
