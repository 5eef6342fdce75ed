"""Where the handlers run for the bench: paths, environment, and AWS on moto.

Two ways to run moto, both with the table made from template.yaml's own definition (through
local/template.py), the email queue, the signing-key secret and the SES identity of the sender:

* `in_process()`: moto's `mock_aws` in this interpreter (the walk through the API, section 2-5);
* `moto_server()`: moto's ThreadedMotoServer on a free port, for the cold-start children, which
  reach it through the ordinary AWS_ENDPOINT_URL setting (as local mode does).

The functions' environment is the handler tests' (tests/handlers/conftest.py ENVIRONMENT) without
its small ARGON2_* values: the bench measures the default (OWASP) parameters unless told otherwise.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import io
import logging
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "common"
TEMPLATE = ROOT / "template.yaml"
EVENTS = ROOT / "events"

# function -> handler module (the template's Handler of each function)
FUNCTIONS = {
    "register": "handle_register",
    "verify_email": "handle_verify_email",
    "password_reset": "handle_password_reset",
    "login": "handle_login",
    "session": "handle_session",
    "cleanup": "handle_cleanup",
    "mailer": "handle_email_jobs",
    "account": "handle_account",
    "mfa": "handle_mfa",
}
# function -> its folder under functions/ (where it is not the function's own name) and logical id
FOLDERS = {"session": "login", "mfa": "account"}
LOGICAL_IDS = {"register": "RegisterFunction", "verify_email": "VerifyEmailFunction",
               "password_reset": "PasswordResetFunction", "login": "LoginFunction", "session": "SessionFunction",
               "cleanup": "CleanupFunction", "mailer": "MailerFunction", "account": "AccountFunction",
               "mfa": "MfaFunction"}


def folder_of(function: str) -> Path:
    return ROOT / "functions" / FOLDERS.get(function, function)
SMALL_ARGON2 = {"ARGON2_MEMORY_KIB": "1024", "ARGON2_TIME_COST": "1", "ARGON2_PARALLELISM": "1"}
REGION = "us-east-1"
ACCOUNT = "123456789012"


def add_paths() -> None:
    for path in (ROOT, LAYER, *(folder_of(name) for name in FUNCTIONS)):
        if str(path) not in sys.path:
            sys.path.insert(0, str(path))


def conftest() -> ModuleType:
    """tests/handlers/conftest.py: sample events, Context, the email drain, the test environment."""
    add_paths()
    return importlib.import_module("tests.handlers.conftest")


def template() -> Any:
    add_paths()
    from local.template import Template

    return Template(TEMPLATE, region=REGION)


def template_log_level() -> str:
    """The functions' POWERTOOLS_LOG_LEVEL as deployed with the template's defaults."""
    try:
        tpl = template()
        raw = (((tpl.globals.get("Function") or {}).get("Environment") or {}).get("Variables") or {})
        value = tpl.resolve(raw.get("POWERTOOLS_LOG_LEVEL", "INFO"))
        return str(value or "INFO")
    except Exception:  # noqa: BLE001 - the template is being edited; INFO is the spec's default
        return "INFO"


def function_environment(*, small_argon2: bool = False) -> dict[str, str]:
    env = {k: v for k, v in conftest().ENVIRONMENT.items() if not k.startswith("ARGON2_")}
    env["POWERTOOLS_LOG_LEVEL"] = template_log_level()
    env["POWERTOOLS_DEV"] = "false"
    env.setdefault("AWS_REGION", env.get("AWS_DEFAULT_REGION", REGION))
    if small_argon2:
        env.update(SMALL_ARGON2)
    return env


def reset_caches() -> None:
    """Forget every per-container cache of the layer (settings, services, clients, keys), as a
    new container would: conftest's reset, accounts.aws.reset(), and any functools cache."""
    with contextlib.suppress(Exception):
        conftest()._reset_caches()
    for name, module in list(sys.modules.items()):
        if module is None or not (name == "accounts" or name.startswith("accounts.")):
            continue
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear) and getattr(value, "__module__", None) == name:
                with contextlib.suppress(Exception):
                    clear()
    aws = sys.modules.get("accounts.aws")
    if aws is not None and hasattr(aws, "reset"):
        aws.reset()
    # pynamodb models keep their connection (and its client's endpoint): unbind them all.
    models = sys.modules.get("pynamodb.models")
    if models is not None:
        for name, module in list(sys.modules.items()):
            if module is None or not name.startswith("accounts"):
                continue
            for value in list(vars(module).values()):
                if isinstance(value, type) and issubclass(value, models.Model) and "_connection" in vars(value):
                    value._connection = None


@contextlib.contextmanager
def environment(extra: dict[str, str] | None = None, *, small_argon2: bool = False) -> Iterator[None]:
    saved = dict(os.environ)
    for name in list(os.environ):
        if name.startswith("ARGON2_") or name == "AWS_ENDPOINT_URL":
            del os.environ[name]
    os.environ.update(function_environment(small_argon2=small_argon2))
    os.environ.update(extra or {})
    reset_caches()
    try:
        yield
    finally:
        reset_caches()
        os.environ.clear()
        os.environ.update(saved)


# --- resources ------------------------------------------------------------------------------------


def signing_secret_value() -> str:
    """A fresh signing-key secret value in whatever format the layer writes (v2 ring, else a PEM)."""
    add_paths()
    candidates = (("accounts.key_ring", "new_ring_secret_value"), ("accounts.key_ring", "generate_private_key_pem"),
                  ("accounts.jwt_keys", "generate_private_key_pem"))
    for module_name, attribute in candidates:
        try:
            function = getattr(importlib.import_module(module_name), attribute)
        except (ImportError, AttributeError):
            continue
        return function(int(time.time())) if attribute == "new_ring_secret_value" else function()
    raise RuntimeError("the layer has no signing-key generator (accounts.key_ring / accounts.jwt_keys)")


def create_resources(client: Any) -> dict[str, str]:
    """Table (template.yaml's definition), queue, signing secret and SES identity, like the handler
    tests' `aws` fixture; `client(service)` makes the clients."""
    c = conftest()
    definition = dict(template().table_definition or {})
    ttl = definition.pop("TimeToLiveSpecification", None)
    dynamodb = client("dynamodb")
    dynamodb.create_table(TableName=c.TABLE, **definition)
    if ttl:
        dynamodb.update_time_to_live(TableName=c.TABLE, TimeToLiveSpecification={
            "AttributeName": ttl["AttributeName"], "Enabled": True})
    queue_url = client("sqs").create_queue(QueueName="emails")["QueueUrl"]
    secret_id = function_environment().get("SIGNING_KEY_SECRET_ID", "signing-key")
    client("secretsmanager").create_secret(Name=secret_id, SecretString=signing_secret_value())
    client("sesv2").create_email_identity(EmailIdentity=c.SENDER)
    return {"EMAIL_QUEUE_URL": queue_url, "TABLE_NAME": c.TABLE}


@contextlib.contextmanager
def in_process(*, small_argon2: bool = False) -> Iterator[dict[str, str]]:
    """mock_aws in this interpreter with the resources; yields the extra environment (queue URL)."""
    import boto3
    from moto import mock_aws

    from local.moto_support import serialize_dynamodb

    serialize_dynamodb()
    with environment(small_argon2=small_argon2), mock_aws():
        extra = create_resources(lambda service: boto3.client(service, region_name=REGION))
        os.environ.update(extra)
        reset_caches()
        yield extra


@contextlib.contextmanager
def moto_server() -> Iterator[tuple[str, dict[str, str]]]:
    """ThreadedMotoServer on a free port with the resources; yields (endpoint, extra environment)."""
    import boto3
    from moto.server import ThreadedMotoServer

    from local.moto_support import serialize_dynamodb

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    serialize_dynamodb()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        endpoint = f"http://{host}:{port}"
        env = function_environment()
        session = boto3.session.Session(aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                                        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=REGION)
        extra = create_resources(lambda service: session.client(service, endpoint_url=endpoint))
        yield endpoint, extra
    finally:
        server.stop()


def moto_table() -> Any:
    """moto's in-process model of the table (read directly: no API call, nothing counted)."""
    from moto.dynamodb.models import dynamodb_backends

    return dynamodb_backends[ACCOUNT][REGION].tables[conftest().TABLE]


# --- the handlers' output ----------------------------------------------------------------------


class _CurrentStdout(io.TextIOBase):
    """A stream that writes to whatever sys.stdout is now (Powertools' logger keeps the stream it
    was created with; this lets `capture_stdout` see its lines)."""

    def write(self, text: str) -> int:
        return sys.stdout.write(text)

    def flush(self) -> None:
        sys.stdout.flush()


def follow_stdout() -> None:
    """Point every logging StreamHandler that writes to the process's stdout at the current one."""
    originals = {id(sys.__stdout__), id(sys.stdout)}
    loggers = [logging.getLogger(), *(logger for logger in logging.Logger.manager.loggerDict.values()
                                      if isinstance(logger, logging.Logger))]
    for logger in loggers:
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and id(handler.stream) in originals:
                handler.setStream(_CurrentStdout())  # type: ignore[arg-type]


@contextlib.contextmanager
def capture_stdout() -> Iterator[io.StringIO]:
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield buffer


STACK = "serverless-accounts"


@functools.cache
def function_settings() -> dict[str, dict[str, Any]]:
    """function -> logical id, memory (MB), timeout (s), architecture, from template.yaml (Globals
    when the function says nothing)."""
    tpl = template()
    architectures = (tpl.globals.get("Function") or {}).get("Architectures") or ["x86_64"]
    found: dict[str, dict[str, Any]] = {}
    by_logical_id = {function.logical_id: function for function in tpl.functions.values()}
    for name, logical_id in LOGICAL_IDS.items():
        function = by_logical_id.get(logical_id)
        if function is not None and function.module == FUNCTIONS[name]:
            arch = function.properties.get("Architectures") or architectures
            found[name] = {"logical_id": function.logical_id, "memory": function.memory_size,
                           "timeout": function.timeout, "architecture": str(tpl.resolve(arch)[0])}
    return found


def context_values(folder: str) -> dict[str, Any]:
    """What Lambda's context object carries for this function (names as CloudFormation makes them)."""
    settings = function_settings().get(folder, {"logical_id": folder, "memory": 1024, "timeout": 10})
    name = f"{STACK}-{settings['logical_id']}-{uuid.uuid4().hex[:12].upper()}"
    return {"function_name": name, "memory_limit_in_mb": settings["memory"], "timeout": settings["timeout"],
            "invoked_function_arn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"}


class LambdaContext:
    def __init__(self, values: dict[str, Any]) -> None:
        self.function_name = values["function_name"]
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = values["memory_limit_in_mb"]
        self.invoked_function_arn = values["invoked_function_arn"]
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = f"2025/11/21/[$LATEST]{uuid.uuid4().hex}"
        self._deadline = time.monotonic() + values["timeout"]

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def context(folder: str) -> LambdaContext:
    return LambdaContext(context_values(folder))


def import_handler(folder: str) -> ModuleType:
    add_paths()
    module = importlib.import_module(FUNCTIONS[folder])
    follow_stdout()
    return module
