"""scripts/grant_admin.py in AWS mode, on moto: it finds the table among the stack's resources and
grants with the layer's code; it refuses what the layer refuses, with exit status 1."""

from __future__ import annotations

import json

import boto3
import pytest

from accounts.models import Account, User
from accounts.repository import Repository
from local.template import Template
from scripts import grant_admin
from tests.conftest import ROOT

PHYSICAL_NAME = "accounts-AccountsTable-1A2B3C"


@pytest.fixture
def stack(mocked_aws) -> str:
    """A CloudFormation stack whose AccountsTable is the template's own table definition."""
    from local.moto_support import serialize_dynamodb

    serialize_dynamodb()
    definition = Template(ROOT / "template.yaml").table_definition
    definition.pop("TimeToLiveSpecification", None)
    body = {"Resources": {"AccountsTable": {"Type": "AWS::DynamoDB::Table",
                                            "Properties": {**definition, "TableName": PHYSICAL_NAME}}}}
    boto3.client("cloudformation").create_stack(StackName="accounts", TemplateBody=json.dumps(body))
    return "accounts"


def verified(email: str, user_id: str) -> None:
    """A verified account as verification leaves it: the Account and its User."""
    Repository(PHYSICAL_NAME)
    Account(*Account.key(email), user_id=user_id, email=email, password_hash="x", created_at=0, verified=True).save()
    User(*User.key(user_id), email_key=email, email=email, created_at=0).save()


def test_it_grants_the_role_on_the_stacks_table(stack, capsys):
    verified("ada@example.com", "a" * 32)
    assert grant_admin.main(["--stack-name", stack, "--email", "Ada@example.com"]) == 0
    assert Account.get(*Account.key("ada@example.com")).roles == {"admin"}
    assert User.get(*User.key("a" * 32)).roles == {"admin"}
    assert "admin role granted to user " + "a" * 32 in capsys.readouterr().out


@pytest.mark.parametrize("email", ["nobody@example.com", "not an address"])
def test_it_refuses_with_status_1(stack, capsys, email):
    Repository(PHYSICAL_NAME)
    assert grant_admin.main(["--stack-name", stack, "--email", email]) == 1
    assert capsys.readouterr().err.startswith("refused: ")


def test_an_unknown_stack_is_status_2(stack, capsys):
    assert grant_admin.main(["--stack-name", "other", "--email", "ada@example.com"]) == 2
    assert "cannot reach the stack's table" in capsys.readouterr().err


def test_no_local_server_is_status_2(capsys):
    from tests.e2e.conftest import free_port

    assert grant_admin.main(["--local-port", str(free_port()), "--email", "ada@example.com"]) == 2
    assert "make dev" in capsys.readouterr().err

