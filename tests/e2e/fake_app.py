"""A small application for testing the local server itself: a template with echo functions, so the
event the server builds and the way it converts results can be checked field by field."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import requests

ALLOWED = "https://allowed.example"

FAKE_TEMPLATE = """\
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Parameters:
  CorsAllowedOrigins:
    Type: String
    Default: "https://allowed.example,https://other.example"
  JwtIssuer:
    Type: String
  JwtAudience:
    Type: String
    Default: fake-audience
  EmailFrom:
    Type: String
  Greeting:
    Type: String
    Default: hello
Conditions:
  HasCors: !Not [!Equals [!Ref CorsAllowedOrigins, ""]]
Globals:
  Function:
    Runtime: python3.13
    Timeout: 5
    MemorySize: 256
    Environment:
      Variables:
        TABLE_NAME: !Ref Table
        EMAIL_QUEUE_URL: !Ref Queue
        DLQ_URL: !Ref DeadLetters
        SIGNING_KEY_SECRET_ID: !Ref Key
        SES_CONFIGURATION_SET: !Ref MailEvents
        JWT_ISSUER: !Ref JwtIssuer
        JWT_AUDIENCE: !Ref JwtAudience
        EMAIL_FROM: !Ref EmailFrom
        CORS_ALLOWED_ORIGINS: !Ref CorsAllowedOrigins
        TABLE_ARN: !GetAtt Table.Arn
        GREETING: !Sub "${Greeting} from ${AWS::Region}"
Resources:
  Api:
    Type: AWS::Serverless::HttpApi
    Properties:
      CorsConfiguration: !If
        - HasCors
        - AllowOrigins: !Split [",", !Ref CorsAllowedOrigins]
          AllowMethods: [GET, POST]
          AllowHeaders: [authorization, content-type]
          ExposeHeaders: [X-Echo]
          MaxAge: 300
        - !Ref AWS::NoValue
      Auth:
        Authorizers:
          Jwt:
            IdentitySource: $request.header.Authorization
            JwtConfiguration:
              issuer: !Ref JwtIssuer
              audience: [!Ref JwtAudience]
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fake/echo
      Handler: fake_echo.lambda_handler
      Events:
        Echo: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /echo, Method: POST}}
        Thing: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: "/things/{id}", Method: GET}}
        Files: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: "/files/{path+}", Method: ANY}}
        Private:
          Type: HttpApi
          Properties: {ApiId: !Ref Api, Path: /private, Method: GET, Auth: {Authorizer: Jwt}}
        Token: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /token, Method: POST}}
        Enqueue: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /enqueue, Method: POST}}
        Boom: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /boom, Method: GET}}
        Binary: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /binary, Method: GET}}
        Queues: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: /queues, Method: GET}}
  DefaultFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fake/default
      Handler: fake_default.lambda_handler
      Events:
        CatchAll: {Type: HttpApi, Properties: {ApiId: !Ref Api, Path: $default, Method: ANY}}
  WorkerFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fake/worker
      Handler: fake_worker.lambda_handler
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            BatchSize: 5
            FunctionResponseTypes: [ReportBatchItemFailures]
  JanitorFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: fake/janitor
      Handler: fake_janitor.lambda_handler
      Events:
        Hourly: {Type: Schedule, Properties: {Schedule: rate(1 hour)}}
  Table:
    Type: AWS::DynamoDB::Table
    Properties:
      BillingMode: PAY_PER_REQUEST
      AttributeDefinitions:
        - {AttributeName: pk, AttributeType: S}
        - {AttributeName: bucket, AttributeType: S}
        - {AttributeName: at, AttributeType: N}
      KeySchema: [{AttributeName: pk, KeyType: HASH}]
      GlobalSecondaryIndexes:
        - IndexName: sparse
          KeySchema: [{AttributeName: bucket, KeyType: HASH}, {AttributeName: at, KeyType: RANGE}]
          Projection: {ProjectionType: ALL}
      TimeToLiveSpecification: {AttributeName: ttl, Enabled: true}
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 180
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DeadLetters.Arn
        maxReceiveCount: 2
  DeadLetters:
    Type: AWS::SQS::Queue
  Key:
    Type: AWS::SecretsManager::Secret
    Properties:
      GenerateSecretString: {PasswordLength: 32}
  MailEvents:
    Type: AWS::SES::ConfigurationSet
"""

FAKE_ECHO = """\
import base64
import json
import os

import boto3

ENV_NAMES = ["TABLE_NAME", "EMAIL_QUEUE_URL", "SIGNING_KEY_SECRET_ID", "SES_CONFIGURATION_SET", "JWT_ISSUER",
             "JWT_AUDIENCE", "EMAIL_FROM", "CORS_ALLOWED_ORIGINS", "TABLE_ARN", "GREETING", "APP_BASE_URL",
             "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION"]


def _json(status, payload, **extra):
    result = {"statusCode": status, "headers": {"Content-Type": "application/json"}, "body": json.dumps(payload)}
    result.update(extra)
    return result


def lambda_handler(event, context):
    route = event["routeKey"]
    if route == "GET /boom":
        raise RuntimeError("secret internals: db password hunter2")
    if route == "GET /binary":
        return {"statusCode": 200, "headers": {"Content-Type": "application/octet-stream"},
                "body": base64.b64encode(bytes(range(256))).decode(), "isBase64Encoded": True}
    if route == "POST /token":
        from accounts import clock, jwt_keys
        options = json.loads(event.get("body") or "{}")
        keys = jwt_keys.load_signing_keys(os.environ["SIGNING_KEY_SECRET_ID"])
        token = jwt_keys.issue_access_token(
            keys, user_id="user-1", email="someone@example.com", email_verified=True,
            issuer=options.get("issuer", os.environ["JWT_ISSUER"]),
            audience=options.get("audience", os.environ["JWT_AUDIENCE"]),
            ttl_seconds=900, now=clock.now() + options.get("shift", 0),
            session_id="0" * 32, client_id="example-client", amr=["pwd"], scope=jwt_keys.SCOPE)
        return _json(200, {"token": token})
    if route == "POST /enqueue":
        boto3.client("sqs").send_message(QueueUrl=os.environ["EMAIL_QUEUE_URL"], MessageBody=event["body"],
                                         MessageAttributes={"kind": {"DataType": "String", "StringValue": "test"}})
        return {"statusCode": 202}
    if route == "GET /queues":
        import fake_worker
        sqs = boto3.client("sqs")
        dlq = sqs.get_queue_attributes(QueueUrl=os.environ["DLQ_URL"], AttributeNames=["ApproximateNumberOfMessages"])
        return _json(200, {"dead_letters": int(dlq["Attributes"]["ApproximateNumberOfMessages"]),
                           "attempts": fake_worker.ATTEMPTS, "records": fake_worker.RECORDS[-3:]})
    return _json(
        200,
        {"event": event, "env": {name: os.environ.get(name) for name in ENV_NAMES},
         "context": {"function_name": context.function_name, "memory": context.memory_limit_in_mb,
                     "arn": context.invoked_function_arn, "request_id": context.aws_request_id,
                     "remaining": context.get_remaining_time_in_millis()}},
        headers={"Content-Type": "application/json", "X-Echo": "yes", "Access-Control-Allow-Origin": "*"},
        cookies=["first=1; Path=/", "second=2; HttpOnly"],
    )
"""

FAKE_DEFAULT = """\
import json


def lambda_handler(event, context):
    return {"statusCode": 404, "headers": {"Content-Type": "application/problem+json"},
            "body": json.dumps({"type": "about:blank", "title": "Not found", "status": 404,
                                "detail": "No such route.", "code": "not_found", "routeKey": event["routeKey"],
                                "method": event["requestContext"]["http"]["method"], "path": event["rawPath"]})}
"""

FAKE_WORKER = """\
import json
import os
from email.message import EmailMessage

import boto3

ATTEMPTS = {}
RECORDS = []


def lambda_handler(event, context):
    failures = []
    client = boto3.client("sesv2")
    for record in event["Records"]:
        RECORDS.append(record)
        job = json.loads(record["body"])
        ATTEMPTS[job["id"]] = ATTEMPTS.get(job["id"], 0) + 1
        if job.get("fail"):
            failures.append({"itemIdentifier": record["messageId"]})
            continue
        message = EmailMessage()
        message["From"] = os.environ["EMAIL_FROM"]
        message["To"] = job["to"]
        message["Subject"] = job["subject"]
        message.set_content("Open https://app.example/verify-email?token=" + job["id"] + " now.")
        message.add_alternative("<p>html " + job["id"] + "</p>", subtype="html")
        client.send_email(
            FromEmailAddress=os.environ["EMAIL_FROM"], Destination={"ToAddresses": [job["to"]]},
            Content={"Raw": {"Data": message.as_bytes()}},
            ConfigurationSetName=os.environ["SES_CONFIGURATION_SET"],
        )
    return {"batchItemFailures": failures}
"""

FAKE_JANITOR = """\
def lambda_handler(event, context):
    return {"ran": True, "source": event["source"], "detail_type": event["detail-type"],
            "function": context.function_name}
"""

FAKE_ENV = {
    "EMAIL_FROM": "Fake Sender <sender@fake.example>",
    "JWT_AUDIENCE": "audience-from-shell",
    "LOCAL_QUEUE_VISIBILITY_TIMEOUT": "1",
    "CORS_ALLOWED_ORIGINS": f"{ALLOWED},https://other.example",
    "TABLE_NAME": "table-named-in-the-shell",
}


def write_fake_app(root: Path) -> Path:
    (root / "template.yaml").write_text(FAKE_TEMPLATE)
    for folder, module, source in [
        ("echo", "fake_echo", FAKE_ECHO),
        ("default", "fake_default", FAKE_DEFAULT),
        ("worker", "fake_worker", FAKE_WORKER),
        ("janitor", "fake_janitor", FAKE_JANITOR),
    ]:
        directory = root / "fake" / folder
        directory.mkdir(parents=True, exist_ok=True)
        (directory / f"{module}.py").write_text(textwrap.dedent(source))
    return root / "template.yaml"


def echo(base_url: str, **kwargs: Any) -> dict[str, Any]:
    response = requests.post(f"{base_url}/echo", timeout=10, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()
