"""template.yaml against the product contract: routes, authorizer, configuration, data, events.

The template is parsed with a yaml SafeLoader that reads CloudFormation short tags (`!Ref X`,
`!GetAtt A.B`, `!Sub ...`) as their long JSON forms.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from local.cfn import load_yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
TEMPLATE_PATH = REPO_ROOT / "template.yaml"
EVENTS_DIR = REPO_ROOT / "events"


def load_template(path: Path = TEMPLATE_PATH) -> dict[str, Any]:
    return load_yaml(path)



def http_routes(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Route key ("POST /v1/auth/login", or "$default") -> {function, event, properties}."""
    routes: dict[str, dict[str, Any]] = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        for event_name, event in (resource["Properties"].get("Events") or {}).items():
            if event.get("Type") != "HttpApi":
                continue
            properties = event.get("Properties") or {}
            path = properties.get("Path", "$default")
            method = str(properties.get("Method", "ANY")).upper()
            key = "$default" if path == "$default" else f"{method} {path}"
            assert key not in routes, f"route {key} is declared twice"
            routes[key] = {"function": logical_id, "event": event_name, "properties": properties}
    return routes


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template()


@pytest.fixture(scope="module")
def routes(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return http_routes(template)


@pytest.fixture(scope="module")
def sample_events() -> dict[str, dict[str, Any]]:
    """events/*.json by file name."""
    paths = sorted(EVENTS_DIR.glob("*.json"))
    return {path.name: json.loads(path.read_text(encoding="utf-8")) for path in paths}


# Spec section 2: method and path -> function (logical ids of template.yaml), plus the catch-all.
SPEC_ROUTES = {
    "POST /v1/auth/register": "RegisterFunction",
    "POST /v1/auth/verify-email": "VerifyEmailFunction",
    "POST /v1/auth/verify-email/resend": "VerifyEmailFunction",
    "POST /v1/auth/password-reset": "PasswordResetFunction",
    "POST /v1/auth/password-reset/confirm": "PasswordResetFunction",
    "POST /v1/auth/login": "LoginFunction",
    "POST /v1/auth/login/mfa": "LoginFunction",
    "POST /v1/auth/refresh": "SessionFunction",
    "POST /v1/auth/logout": "SessionFunction",
    "GET /v1/auth/me": "SessionFunction",
    "GET /.well-known/jwks.json": "SessionFunction",
    "GET /.well-known/openid-configuration": "SessionFunction",
    # v2 admin
    "GET /v1/admin/users/{user_ref}": "AdminFunction",
    "POST /v1/admin/users/{user_id}/disable": "AdminFunction",
    "POST /v1/admin/users/{user_id}/enable": "AdminFunction",
    "POST /v1/admin/users/{user_id}/sessions/revoke": "AdminFunction",
    "POST /v1/admin/verification-reminders": "AdminFunction",
    # v2 self-service
    "PATCH /v1/auth/me": "AccountFunction",
    "DELETE /v1/auth/me": "AccountFunction",
    "POST /v1/auth/password": "AccountFunction",
    "POST /v1/auth/email": "AccountFunction",
    "POST /v1/auth/email/confirm": "AccountFunction",
    "GET /v1/auth/sessions": "AccountFunction",
    "DELETE /v1/auth/sessions/{session_id}": "AccountFunction",
    "GET /v1/auth/me/events": "AccountFunction",
    # v2 two-factor
    "POST /v1/auth/mfa/totp": "MfaFunction",
    "POST /v1/auth/mfa/totp/confirm": "MfaFunction",
    "DELETE /v1/auth/mfa/totp": "MfaFunction",
}
CATCH_ALL = "$default"
ADMIN_ROUTES = {key for key, function in SPEC_ROUTES.items() if function == "AdminFunction"}
# Every self-service route but email/confirm (its emailed token is the proof).
ACCOUNT_ROUTES = {key for key, function in SPEC_ROUTES.items() if function == "AccountFunction"} - {
    "POST /v1/auth/email/confirm"
}
MFA_ROUTES = {key for key, function in SPEC_ROUTES.items() if function == "MfaFunction"}
PROTECTED_ROUTES = {"GET /v1/auth/me"} | ADMIN_ROUTES | ACCOUNT_ROUTES | MFA_ROUTES

# Functions: CodeUri and Handler (docs/architecture.md).
FUNCTIONS = {
    "RegisterFunction": ("functions/register", "handle_register.lambda_handler"),
    "VerifyEmailFunction": ("functions/verify_email", "handle_verify_email.lambda_handler"),
    "PasswordResetFunction": ("functions/password_reset", "handle_password_reset.lambda_handler"),
    "LoginFunction": ("functions/login", "handle_login.lambda_handler"),
    "SessionFunction": ("functions/login", "handle_session.lambda_handler"),
    "CleanupFunction": ("functions/cleanup", "handle_cleanup.lambda_handler"),
    "MailerFunction": ("functions/mailer", "handle_email_jobs.lambda_handler"),
    "SigningKeyRotationFunction": ("functions/login", "rotate_signing_key.lambda_handler"),
    "AdminFunction": ("functions/admin", "handle_admin.lambda_handler"),
    "AccountFunction": ("functions/account", "handle_account.lambda_handler"),
    "MfaFunction": ("functions/account", "handle_mfa.lambda_handler"),
}

# Spec section 4: every configuration variable, with its default where the spec gives one.
SPEC_VARIABLES = {
    "TABLE_NAME": None,
    "APP_BASE_URL": None,
    "PRODUCT_NAME": None,
    "EMAIL_FROM": None,
    "SES_CONFIGURATION_SET": None,
    "JWT_ISSUER": None,
    "JWT_AUDIENCE": None,
    "SIGNING_KEY_SECRET_ID": None,
    "EMAIL_QUEUE_URL": None,
    "ACCESS_TOKEN_TTL_SECONDS": "900",
    "REFRESH_TOKEN_TTL_SECONDS": "604800",
    "VERIFY_TOKEN_TTL_SECONDS": "86400",
    "RESET_TOKEN_TTL_SECONDS": "3600",
    "PASSWORD_MIN_LENGTH": "12",
    "PASSWORD_REQUIRE_CHARACTER_CLASSES": "true",
    "ARGON2_MEMORY_KIB": "19456",
    "ARGON2_TIME_COST": "2",
    "ARGON2_PARALLELISM": "1",
    "CORS_ALLOWED_ORIGINS": "",
    "UNVERIFIED_ACCOUNT_TTL_DAYS": "7",
    "RATE_LIMIT_REGISTER_PER_IP": "20/3600",
    "RATE_LIMIT_EMAIL_PER_ADDRESS": "3/3600",
    "RATE_LIMIT_MAIL_PER_IP": "20/3600",
    "RATE_LIMIT_LOGIN_PER_IP": "60/60",
    "LOGIN_LOCKOUT": "5/900",
    "RATE_LIMIT_TOKEN_PER_IP": "30/60",
    # v2
    "JWT_CLIENT_ID": "",
    "REFRESH_REUSE_GRACE_SECONDS": "10",
    "SIGNING_KEY_PUBLISH_AHEAD_SECONDS": "7200",
    "SIGNING_KEY_CACHE_SECONDS": "300",
    "VERIFICATION_REMINDER_AFTER_HOURS": "24",
    "EMAIL_CHANGE_TOKEN_TTL_SECONDS": "3600",
    "MFA_ISSUER": "",  # empty: PRODUCT_NAME
}
RESOURCE_VARIABLES = {
    "TABLE_NAME": "AccountsTable",
    "EMAIL_QUEUE_URL": "EmailQueue",
    "SIGNING_KEY_SECRET_ID": "SigningKeySecret",
    "SES_CONFIGURATION_SET": "EmailConfigurationSet",
}
RATE_LIMIT_VARIABLES = [
    name for name in SPEC_VARIABLES if name.startswith("RATE_LIMIT_") or name == "LOGIN_LOCKOUT"
]


def _environment(template: dict[str, Any]) -> dict[str, Any]:
    return template["Globals"]["Function"]["Environment"]["Variables"]


def _functions(template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        logical_id: resource["Properties"]
        for logical_id, resource in template["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }


def _has_intrinsic(value: Any) -> bool:
    if isinstance(value, dict):
        return any(
            key == "Ref" or key.startswith("Fn::") or _has_intrinsic(item) for key, item in value.items()
        )
    if isinstance(value, list):
        return any(_has_intrinsic(item) for item in value)
    return False


# ------------------------------------------------------------------------------- sam validate


@pytest.mark.slow
def test_sam_validate_lint_passes() -> None:
    sam = Path(sys.executable).parent / "sam"
    if not sam.exists():
        pytest.skip(f"the sam CLI is not installed next to {sys.executable} (pip install aws-sam-cli)")
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    result = subprocess.run(
        [str(sam), "validate", "--lint", "--region", "us-east-1", "--template-file", str(TEMPLATE_PATH)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "is a valid SAM Template" in output, output
    # cfn-lint reports warnings as rule matches too ([W....]); none are allowed.
    assert not re.search(r"\[[EW]\d{4}", output), output


# ------------------------------------------------------------------------------------ routes


def test_routes_are_exactly_the_spec_routes_plus_catch_all(routes: dict[str, dict[str, Any]]) -> None:
    assert set(routes) == set(SPEC_ROUTES) | {CATCH_ALL}


@pytest.mark.parametrize("route_key", sorted(SPEC_ROUTES))
def test_each_route_is_served_by_the_function_the_spec_names(
    routes: dict[str, dict[str, Any]], route_key: str
) -> None:
    assert routes[route_key]["function"] == SPEC_ROUTES[route_key]


def test_catch_all_goes_to_the_session_function_for_problem_json_404(
    routes: dict[str, dict[str, Any]],
) -> None:
    catch_all = routes[CATCH_ALL]
    assert catch_all["function"] == "SessionFunction"
    assert str(catch_all["properties"].get("Method", "ANY")).upper() == "ANY"


def test_every_route_uses_the_http_api_with_payload_2(routes: dict[str, dict[str, Any]]) -> None:
    for key, route in routes.items():
        assert route["properties"].get("ApiId") == {"Ref": "HttpApi"}, key
        assert str(route["properties"].get("PayloadFormatVersion")) == "2.0", key


def test_only_me_and_the_admin_routes_have_the_jwt_authorizer(
    template: dict[str, Any], routes: dict[str, dict[str, Any]]
) -> None:
    auth = template["Resources"]["HttpApi"]["Properties"]["Auth"]
    assert "DefaultAuthorizer" not in auth
    protected = {
        key for key, route in routes.items() if (route["properties"].get("Auth") or {}).get("Authorizer")
    }
    assert protected == PROTECTED_ROUTES
    for key in PROTECTED_ROUTES:
        assert routes[key]["properties"]["Auth"]["Authorizer"] == "AccessTokenAuthorizer", key


def test_admin_routes_need_the_admin_scope_and_no_other_route_names_scopes(
    routes: dict[str, dict[str, Any]],
) -> None:
    """Spec section 2 (v2): API Gateway refuses a token without accounts:admin on /v1/admin/ routes."""
    scoped = {
        key: (route["properties"].get("Auth") or {}).get("AuthorizationScopes")
        for key, route in routes.items()
        if (route["properties"].get("Auth") or {}).get("AuthorizationScopes")
    }
    assert scoped == {key: ["accounts:admin"] for key in ADMIN_ROUTES}
    assert all(key.split(" ", 1)[1].startswith("/v1/admin/") for key in ADMIN_ROUTES)


def test_local_mode_reads_the_admin_scope() -> None:
    from local.template import Template

    scopes = {route.route_key: route.scopes for route in Template(TEMPLATE_PATH).routes}
    assert {key for key, value in scopes.items() if value} == ADMIN_ROUTES
    assert all(scopes[key] == ("accounts:admin",) for key in ADMIN_ROUTES)


def test_jwt_authorizer_trusts_the_configured_issuer_and_audience(template: dict[str, Any]) -> None:
    api = template["Resources"]["HttpApi"]
    assert api["Type"] == "AWS::Serverless::HttpApi"
    authorizer = api["Properties"]["Auth"]["Authorizers"]["AccessTokenAuthorizer"]
    assert authorizer["IdentitySource"] == "$request.header.Authorization"
    assert authorizer["JwtConfiguration"]["issuer"] == {"Ref": "JwtIssuer"}
    assert authorizer["JwtConfiguration"]["audience"] == [{"Ref": "JwtAudience"}]
    issuer = template["Parameters"]["JwtIssuer"]
    assert re.match(issuer["AllowedPattern"], "https://api.example.com")
    assert not re.match(issuer["AllowedPattern"], "http://api.example.com")
    assert not re.match(issuer["AllowedPattern"], "https://api.example.com/")


def test_cors_allowed_headers_are_a_parameter(template: dict[str, Any]) -> None:
    """CorsAllowedHeaders feeds the HTTP API's AllowHeaders (see the CORS test above); by default
    the two headers the API reads, and only header names, comma-separated, are accepted."""
    parameter = template["Parameters"]["CorsAllowedHeaders"]
    assert parameter["Type"] == "String"
    assert parameter["Default"] == "authorization,content-type"
    pattern = parameter["AllowedPattern"]
    for good in (parameter["Default"], "authorization,content-type,x-request-id", "X-Request-Id"):
        assert re.fullmatch(pattern, good), good
    for bad in ("", "authorization, content-type", "authorization,,content-type", "a,b,", "x:y"):
        assert not re.fullmatch(pattern, bad), bad


def test_local_mode_reads_cors_allowed_headers_and_the_shell_overrides_them() -> None:
    from local.template import Template

    local = Template(TEMPLATE_PATH)
    local.apply_environment({"CORS_ALLOWED_ORIGINS": "https://app.example.com"})
    assert local.cors is not None and local.cors.allow_headers == ("authorization", "content-type")
    local.apply_environment({"CORS_ALLOWED_HEADERS": "authorization,content-type,x-request-id"})
    assert local.cors.allow_headers == ("authorization", "content-type", "x-request-id")
    assert local.cors.headers_allowed("Content-Type, X-Request-Id")
    assert not local.cors.headers_allowed("x-other")


def test_cors_is_conditional_on_configured_origins(template: dict[str, Any]) -> None:
    cors = template["Resources"]["HttpApi"]["Properties"]["CorsConfiguration"]
    condition, config, otherwise = cors["Fn::If"]
    assert otherwise == {"Ref": "AWS::NoValue"}
    assert template["Conditions"][condition] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "CorsAllowedOrigins"}, ""]}]
    }
    assert config["AllowOrigins"] == {"Fn::Split": [",", {"Ref": "CorsAllowedOrigins"}]}
    assert config["AllowMethods"] == ["GET", "POST", "OPTIONS"]
    assert config["AllowHeaders"] == {"Fn::Split": [",", {"Ref": "CorsAllowedHeaders"}]}
    assert set(config["ExposeHeaders"]) == {
        "Retry-After",
        "RateLimit-Limit",
        "RateLimit-Remaining",
        "RateLimit-Reset",
    }


# --------------------------------------------------------------------------------- functions


def test_functions_have_the_documented_code_and_handlers(template: dict[str, Any]) -> None:
    functions = _functions(template)
    assert set(functions) == set(FUNCTIONS)
    for logical_id, (code_uri, handler) in FUNCTIONS.items():
        assert functions[logical_id]["CodeUri"] == code_uri, logical_id
        assert functions[logical_id]["Handler"] == handler, logical_id
        assert (REPO_ROOT / code_uri).is_dir(), code_uri


def test_global_function_settings(template: dict[str, Any]) -> None:
    function = template["Globals"]["Function"]
    assert function["Runtime"] == "python3.13"
    assert function["Architectures"] == ["arm64"]
    assert function["Layers"] == [{"Ref": "CommonLayer"}]
    layer = template["Resources"]["CommonLayer"]
    assert layer["Properties"]["ContentUri"] == "layers/common"
    assert layer["Metadata"] == {"BuildMethod": "python3.13", "BuildArchitecture": "arm64"}


def test_mailer_and_cleanup_events(template: dict[str, Any]) -> None:
    functions = _functions(template)
    (mailer_event,) = functions["MailerFunction"]["Events"].values()
    assert mailer_event["Type"] == "SQS"
    assert mailer_event["Properties"]["Queue"] == {"Fn::GetAtt": ["EmailQueue", "Arn"]}
    assert mailer_event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    (cleanup_event,) = functions["CleanupFunction"]["Events"].values()
    assert cleanup_event["Type"] == "Schedule"
    assert cleanup_event["Properties"]["Schedule"] == {"Ref": "CleanupSchedule"}
    assert template["Parameters"]["CleanupSchedule"]["Default"] == "rate(1 hour)"


def test_email_queue_outlasts_the_mailer_and_has_a_dead_letter_queue(template: dict[str, Any]) -> None:
    default_timeout = template["Globals"]["Function"]["Timeout"]
    timeout = _functions(template)["MailerFunction"].get("Timeout", default_timeout)
    queue = template["Resources"]["EmailQueue"]["Properties"]
    assert int(queue["VisibilityTimeout"]) >= 6 * int(timeout)
    assert queue["RedrivePolicy"]["maxReceiveCount"] == 5
    assert queue["RedrivePolicy"]["deadLetterTargetArn"] == {"Fn::GetAtt": ["EmailDeadLetterQueue", "Arn"]}
    assert template["Resources"]["EmailDeadLetterQueue"]["Properties"]["MessageRetentionPeriod"] == 14 * 86400


def _policy_actions(function: dict[str, Any]) -> set[str]:
    actions: set[str] = set()
    for policy in function.get("Policies") or []:
        assert isinstance(policy, dict) and "Statement" in policy, "policies are inline statements"
        for statement in policy["Statement"]:
            assert statement["Effect"] == "Allow"
            assert statement["Resource"] != "*", statement
            listed = statement["Action"]
            actions.update([listed] if isinstance(listed, str) else listed)
    return actions


LEAST_PRIVILEGE = {
    "RegisterFunction": {"dynamodb:UpdateItem", "sqs:SendMessage"},
    "VerifyEmailFunction": {
        "dynamodb:GetItem",
        "dynamodb:PutItem",  # the User item, inside the verification transaction
        "dynamodb:UpdateItem",
        "sqs:SendMessage",
    },
    "PasswordResetFunction": {
        "dynamodb:GetItem",
        "dynamodb:PutItem",  # the password_reset security event
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",  # lifting the address's lockout counter
        "sqs:SendMessage",
    },
    "LoginFunction": {
        "dynamodb:GetItem",
        "dynamodb:PutItem",  # login_failed / locked_out events
        "dynamodb:BatchWriteItem",  # a new session and its login event
        "dynamodb:UpdateItem",
        "dynamodb:BatchGetItem",  # login/mfa: the challenge, the factor and the user in one call
        "dynamodb:DeleteItem",  # login/mfa: the challenge, a recovery code (in its transaction)
        "secretsmanager:GetSecretValue",
    },
    "SessionFunction": {
        "dynamodb:GetItem",
        "dynamodb:BatchGetItem",
        "dynamodb:PutItem",  # refresh_reuse_detected events
        "dynamodb:UpdateItem",
        "dynamodb:DeleteItem",  # logout and reuse detection delete the session
        "secretsmanager:GetSecretValue",
    },
    "AccountFunction": {
        "dynamodb:GetItem",  # the account by address, the email-change token
        "dynamodb:BatchGetItem",  # the caller's user and session
        "dynamodb:Query",  # the caller's sessions and events; the partition of a deleted account
        "dynamodb:PutItem",  # security events; the Account under its new address
        "dynamodb:UpdateItem",  # lockout, counters, password/name/email transactions
        "dynamodb:DeleteItem",  # one session; Account, User and token in transactions
        "dynamodb:BatchWriteItem",  # deleting an account's items
        "sqs:SendMessage",  # notices and the email-change link job
    },
    "MfaFunction": {
        "dynamodb:GetItem",  # the pending factor; the Account (password)
        "dynamodb:BatchGetItem",  # the caller's user and session
        "dynamodb:Query",  # the factor and its recovery codes (removal)
        "dynamodb:PutItem",  # pending factor, recovery codes, events
        "dynamodb:UpdateItem",  # lockout; activation transaction (factor, Account, User)
        "dynamodb:DeleteItem",  # removal transaction (factor, recovery codes)
        "dynamodb:BatchWriteItem",  # mfa_failed / locked_out events
        "sqs:SendMessage",  # the two-factor notices
    },
    "AdminFunction": {
        "dynamodb:GetItem",  # a user by id or address
        "dynamodb:BatchGetItem",  # the admin's own user and session
        "dynamodb:Query",  # a user's live sessions counted; the unverified index for reminders
        "dynamodb:PutItem",  # the target's security events
        "dynamodb:UpdateItem",  # disable/enable/revoke transactions, reminder claims
        "sqs:SendMessage",  # reminder jobs
    },
    "CleanupFunction": {
        "dynamodb:Query",
        "dynamodb:UpdateItem",  # the reminder mark
        "dynamodb:DeleteItem",
        "sqs:SendMessage",  # reminder jobs
    },
    "MailerFunction": {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
        "dynamodb:UpdateItem",
        "ses:SendEmail",
        "ses:SendRawEmail",
    },
    "SigningKeyRotationFunction": {
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    },
}


@pytest.mark.parametrize("logical_id", sorted(LEAST_PRIVILEGE))
def test_functions_get_only_the_actions_they_need(template: dict[str, Any], logical_id: str) -> None:
    assert _policy_actions(_functions(template)[logical_id]) == LEAST_PRIVILEGE[logical_id]


def test_signing_key_rotation_is_wired(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    schedule = resources["SigningKeyRotationSchedule"]["Properties"]
    assert schedule["SecretId"] == {"Ref": "SigningKeySecret"}
    assert schedule["RotationLambdaARN"] == {"Fn::GetAtt": ["SigningKeyRotationFunction", "Arn"]}
    assert schedule["RotateImmediatelyOnUpdate"] is True
    permission = resources["SigningKeyRotationPermission"]["Properties"]
    assert permission["Principal"] == "secretsmanager.amazonaws.com"
    assert permission["FunctionName"] == {"Fn::GetAtt": ["SigningKeyRotationFunction", "Arn"]}


# ----------------------------------------------------------------------------- configuration


def test_every_spec_variable_is_in_the_functions_environment(template: dict[str, Any]) -> None:
    environment = _environment(template)
    missing = sorted(set(SPEC_VARIABLES) - set(environment))
    assert not missing, f"missing configuration variables: {missing}"
    assert environment["POWERTOOLS_SERVICE_NAME"] == "accounts"
    assert environment["POWERTOOLS_METRICS_NAMESPACE"] == "AccountService"
    assert environment["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}


def test_no_function_overrides_the_shared_environment(template: dict[str, Any]) -> None:
    for logical_id, function in _functions(template).items():
        assert "Environment" not in function, f"{logical_id} must use the Globals environment"


@pytest.mark.parametrize("variable", sorted(SPEC_VARIABLES))
def test_each_variable_is_fed_from_a_parameter_or_a_resource(template: dict[str, Any], variable: str) -> None:
    value = _environment(template)[variable]
    assert isinstance(value, dict) and set(value) == {"Ref"}, (
        f"{variable} must be `!Ref <parameter or resource>`"
    )
    target = value["Ref"]
    if variable in RESOURCE_VARIABLES:
        assert target == RESOURCE_VARIABLES[variable]
        assert target in template["Resources"]
        return
    parameter = template["Parameters"][target]
    default = SPEC_VARIABLES[variable]
    if default is not None:
        assert str(parameter.get("Default")) == default, f"{target} must default to {default!r} (spec)"


@pytest.mark.parametrize("variable", RATE_LIMIT_VARIABLES)
def test_rate_limit_parameters_accept_only_count_slash_seconds(
    template: dict[str, Any], variable: str
) -> None:
    parameter = template["Parameters"][_environment(template)[variable]["Ref"]]
    pattern = parameter["AllowedPattern"]
    for good in (parameter["Default"], "0/60", "100/86400"):
        assert re.fullmatch(pattern, good), good
    for bad in ("", "5", "5/0", "five/60", "5/60s", " 5/60"):
        assert not re.fullmatch(pattern, bad), bad


def _parameter_text(value: Any) -> str:
    """A Settings default as a template parameter's Default would spell it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple) and len(value) == 2:  # RateLimit(count, seconds)
        return f"{value[0]}/{value[1]}"
    return str(value)


def test_every_settings_field_is_fed_by_the_template(template: dict[str, Any]) -> None:
    """Each field of the layer's Settings is a variable of the functions' environment, and a
    parameter feeding it defaults to the field's own default."""
    from accounts.settings import Settings

    environment = _environment(template)
    for field_name, info in Settings.model_fields.items():
        variable = field_name.upper()
        assert variable in environment, f"Settings.{field_name} has no {variable} in Globals"
        target = environment[variable].get("Ref") if isinstance(environment[variable], dict) else None
        if target in template["Parameters"] and not info.is_required():
            default = template["Parameters"][target].get("Default")
            assert str(default) == _parameter_text(info.default), (
                f"{target} defaults to {default!r}, Settings.{field_name} to {info.default!r}"
            )


def test_every_parameter_is_in_exactly_one_parameter_group(template: dict[str, Any]) -> None:
    groups = template["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
    grouped = [name for group in groups for name in group["Parameters"]]
    assert sorted(grouped) == sorted(template["Parameters"]), "ungrouped or twice-grouped parameters"


# ------------------------------------------------------------------------- cost and cold start


def _condition_on(template: dict[str, Any], condition: str, parameter: str) -> None:
    assert template["Conditions"][condition] == {"Fn::Equals": [{"Ref": parameter}, "true"]}
    assert template["Parameters"][parameter]["AllowedValues"] == ["true", "false"]


def test_xray_tracing_is_a_parameter_and_off_by_default(template: dict[str, Any]) -> None:
    function = template["Globals"]["Function"]
    assert function["Tracing"] == {"Fn::If": ["TracingOn", "Active", "PassThrough"]}
    _condition_on(template, "TracingOn", "TracingEnabled")
    assert template["Parameters"]["TracingEnabled"]["Default"] == "false"
    for logical_id, properties in _functions(template).items():
        assert "Tracing" not in properties, logical_id


def test_api_throttling_comes_from_parameters(template: dict[str, Any]) -> None:
    settings = template["Resources"]["HttpApi"]["Properties"]["DefaultRouteSettings"]
    assert settings["ThrottlingRateLimit"] == {"Ref": "ApiThrottlingRateLimit"}
    assert settings["ThrottlingBurstLimit"] == {"Ref": "ApiThrottlingBurstLimit"}
    parameters = template["Parameters"]
    assert parameters["ApiThrottlingRateLimit"]["Default"] == "100"
    assert parameters["ApiThrottlingBurstLimit"]["Default"] == "200"


def test_snapstart_is_a_parameter_applied_to_published_versions_behind_an_alias(
    template: dict[str, Any],
) -> None:
    function = template["Globals"]["Function"]
    assert function["SnapStart"] == {"ApplyOn": {"Fn::If": ["SnapStartOn", "PublishedVersions", "None"]}}
    _condition_on(template, "SnapStartOn", "SnapStartEnabled")
    assert template["Parameters"]["SnapStartEnabled"]["Default"] == "false"
    # Every event source invokes the alias; SAM moves it to each newly published version.
    assert function["AutoPublishAlias"] == "live"
    assert template["Resources"]["CommonLayer"]["Properties"]["PublishLambdaVersion"] is True
    for logical_id, properties in _functions(template).items():
        # The layer (and the rest of the configuration) count when deciding to publish a version.
        assert properties.get("AutoPublishAliasAllProperties") is True, logical_id
        description = properties.get("VersionDescription")
        assert description and "${ConfigurationRevision}" in description["Fn::Sub"], logical_id
    # Nobody waits for a scheduled run or a key rotation: no snapshot (and no snapshot bill) there.
    no_snapshot = {
        logical_id
        for logical_id, properties in _functions(template).items()
        if properties.get("SnapStart") == {"ApplyOn": "None"}
    }
    assert no_snapshot == {"CleanupFunction", "SigningKeyRotationFunction"}


def test_local_mode_still_reads_the_functions_and_routes() -> None:
    from local.template import Template

    local = Template(TEMPLATE_PATH)
    assert set(local.functions) == set(FUNCTIONS)
    assert {route.route_key for route in local.routes} == set(SPEC_ROUTES) | {CATCH_ALL}
    assert local.cleanup_function is not None and local.cleanup_function.logical_id == "CleanupFunction"
    assert local.functions["VerifyEmailFunction"].memory_size == 256
    environment = local.environment({})
    assert environment["JWT_CLIENT_ID"] == ""
    assert environment["VERIFICATION_REMINDER_AFTER_HOURS"] == "24"


# Register, reset-confirm and login hash or verify argon2id passwords (CPU bound: Lambda's CPU
# share grows with memory); the others wait on AWS services.
MEMORY = {
    "RegisterFunction": 1024,
    "PasswordResetFunction": 1024,
    "LoginFunction": 1024,
    "SessionFunction": 256,
    "VerifyEmailFunction": 256,
    "CleanupFunction": 256,
    "MailerFunction": 256,
    "SigningKeyRotationFunction": 256,
    "AdminFunction": 256,
    "AccountFunction": 1024,
    "MfaFunction": 1024,  # removal verifies the password (argon2)
}


def test_memory_is_sized_per_function(template: dict[str, Any]) -> None:
    default = template["Globals"]["Function"]["MemorySize"]
    sizes = {
        logical_id: properties.get("MemorySize", default) for logical_id, properties in _functions(template).items()
    }
    assert sizes == MEMORY


def test_lambda_logs_are_json_filtered_at_the_same_level_as_powertools(template: dict[str, Any]) -> None:
    from aws_lambda_powertools.shared.constants import LAMBDA_ADVANCED_LOGGING_LEVELS

    logging_config = template["Globals"]["Function"]["LoggingConfig"]
    assert logging_config["LogFormat"] == "JSON"
    assert logging_config["SystemLogLevel"] == "WARN"
    mapping, key, attribute = logging_config["ApplicationLogLevel"]["Fn::FindInMap"]
    assert key == {"Ref": "LogLevel"}
    assert _environment(template)["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    table = template["Mappings"][mapping]
    for level in template["Parameters"]["LogLevel"]["AllowedValues"]:
        lambda_level = table[level][attribute]
        # Powertools takes Lambda's level (AWS_LAMBDA_LOG_LEVEL) over its own: they must agree,
        # or it warns and one of the two filters hides what the other lets through.
        assert LAMBDA_ADVANCED_LOGGING_LEVELS[lambda_level] == level, level


def test_access_log_lines_hold_only_what_an_operator_uses(template: dict[str, Any]) -> None:
    settings = template["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"]
    line = json.loads(settings["Format"])
    assert set(line) == {"requestId", "ip", "routeKey", "status", "latency", "integrationError", "authorizerError"}
    assert line["latency"] == "$context.responseLatency"
    assert line["ip"] == "$context.identity.sourceIp"


# ---------------------------------------------------------------------------------- the table


def test_table_definition_is_literal_and_matches_the_data_design(template: dict[str, Any]) -> None:
    table = template["Resources"]["AccountsTable"]
    assert table["Type"] == "AWS::DynamoDB::Table"
    properties = table["Properties"]
    literal = (
        "KeySchema",
        "AttributeDefinitions",
        "GlobalSecondaryIndexes",
        "BillingMode",
        "TimeToLiveSpecification",
    )
    for key in literal:
        assert not _has_intrinsic(properties[key]), f"{key} must be literal (the local server reads it)"
    assert properties["BillingMode"] == "PAY_PER_REQUEST"
    # The template and the pynamodb models must describe the same keys and index.
    from accounts import models

    assert properties["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    assert {(a["AttributeName"], a["AttributeType"]) for a in properties["AttributeDefinitions"]} == {
        ("pk", "S"),
        ("sk", "S"),
        ("cleanup_shard", "S"),
        ("cleanup_due", "N"),
    }
    (index,) = properties["GlobalSecondaryIndexes"]
    meta = models.UnverifiedIndex.Meta
    assert index["IndexName"] == meta.index_name == models.UNVERIFIED_INDEX
    assert index["KeySchema"] == [
        {"AttributeName": "cleanup_shard", "KeyType": "HASH"},
        {"AttributeName": "cleanup_due", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {
        "ProjectionType": "INCLUDE",
        "NonKeyAttributes": sorted(meta.projection.non_key_attributes),
    }
    assert properties["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert properties["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert properties["SSESpecification"] == {"SSEEnabled": True}


# ------------------------------------------------------------------------------------ outputs


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    for name in ("ApiUrl", "TableName", "EmailQueueUrl", "EmailDeadLetterQueueUrl", "SigningKeySecretArn"):
        assert name in outputs, name
    assert outputs["ApiUrl"]["Value"]["Fn::Sub"].startswith("https://${HttpApi}.execute-api.${AWS::Region}.")


# ------------------------------------------------------------------------------------- events


def test_http_events_use_declared_routes(
    sample_events: dict[str, dict[str, Any]], routes: dict[str, dict[str, Any]]
) -> None:
    http_events = {name: event for name, event in sample_events.items() if "routeKey" in event}
    assert http_events, "events/ holds no HTTP API events"
    for name, event in http_events.items():
        route_key = event["routeKey"]
        assert route_key in routes, f"{name}: {route_key!r} is not declared in template.yaml"
        assert event["version"] == "2.0", name
        context = event["requestContext"]
        assert context["routeKey"] == route_key, name
        assert context["stage"] == "$default", name
        assert context["http"]["path"] == event["rawPath"], name
        if route_key != CATCH_ALL:
            method, path = route_key.split(" ", 1)
            assert context["http"]["method"] == method, name
            # A `{name}` segment of the route matches one segment of the path, named in pathParameters.
            pattern = re.sub(r"\\{(\w+)\\}", r"(?P<\1>[^/]+)", re.escape(path))
            match = re.fullmatch(pattern, event["rawPath"])
            assert match, name
            assert match.groupdict() == (event.get("pathParameters") or {}), name
        assert all(header == header.lower() for header in event["headers"]), name
        if "body" in event:
            assert event["isBase64Encoded"] is False, name
            assert isinstance(json.loads(event["body"]), dict), name
            assert event["headers"]["content-type"] == "application/json", name


def test_every_declared_route_has_a_sample_event(
    sample_events: dict[str, dict[str, Any]], routes: dict[str, dict[str, Any]]
) -> None:
    covered = {event["routeKey"] for event in sample_events.values() if "routeKey" in event}
    assert set(routes) <= covered, f"routes without a sample event: {sorted(set(routes) - covered)}"


def test_me_event_carries_jwt_claims(sample_events: dict[str, dict[str, Any]]) -> None:
    event = sample_events["me.json"]
    jwt = event["requestContext"]["authorizer"]["jwt"]
    assert {"sub", "email", "email_verified", "iss", "aud", "scope"} <= set(jwt["claims"])
    assert event["headers"]["authorization"].startswith("Bearer ")


def test_worker_events(sample_events: dict[str, dict[str, Any]]) -> None:
    (record,) = sample_events["email_job.json"]["Records"]
    assert record["eventSource"] == "aws:sqs"
    job = {"kind": "verification", "email": "ada@example.com", "registration_id": None}
    assert json.loads(record["body"]) == job
    assert record["attributes"]["ApproximateReceiveCount"] == "1"
    schedule = sample_events["schedule.json"]
    assert schedule["detail-type"] == "Scheduled Event"
    assert schedule["source"] == "aws.events"
