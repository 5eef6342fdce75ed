"""Grant the admin role to a verified account: its next access token (login or refresh) carries the
`accounts:admin` scope that the admin routes need.

In AWS, with the operator's credentials (they need cloudformation:DescribeStackResource on the
stack and dynamodb:GetItem and dynamodb:UpdateItem on its table):

    .venv/bin/python scripts/grant_admin.py --stack-name accounts --email ada@example.com \
        [--region eu-west-1] [--profile ops]

It finds the table among the stack's resources (logical id AccountsTable), then adds `admin` to the
roles of the Account and the User in one transaction, with the layer's own code
(accounts.flows.admin.grant_admin). Granting twice changes nothing.

In local mode (`make admin EMAIL=... [PORT=...]` runs this): the same code runs inside the running
`make dev`, through its local-only route POST /_local/admin:

    .venv/bin/python scripts/grant_admin.py --local-port 3000 --email ada@example.com

Exit status: 0 granted, 1 refused (no account, not verified, not an address), 2 cannot reach the
stack or the local server.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
LAYER = ROOT / "layers" / "common"
TABLE_LOGICAL_ID = "AccountsTable"


def table_name(stack_name: str, cloudformation: Any) -> str:
    """The physical name of the stack's table."""
    detail = cloudformation.describe_stack_resource(StackName=stack_name, LogicalResourceId=TABLE_LOGICAL_ID)
    return detail["StackResourceDetail"]["PhysicalResourceId"]


def grant_in_aws(stack_name: str, email: str) -> dict[str, Any]:
    """Find the table, then grant with the layer's code (region and profile from the environment)."""
    import boto3

    if str(LAYER) not in sys.path:
        sys.path.insert(0, str(LAYER))  # the layer's `accounts` package, as Lambda provides it
    from accounts.flows.admin import grant_admin
    from accounts.repository import Repository

    name = table_name(stack_name, boto3.client("cloudformation"))
    return grant_admin(Repository(name), email)


def grant_locally(port: int, email: str) -> tuple[int, dict[str, Any]]:
    """POST /_local/admin on the running local server: (HTTP status, JSON answer)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/_local/admin",
        data=json.dumps({"email": email}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - a fixed local URL
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--email", required=True, help="the verified account's address")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack-name", help="the deployed stack (AWS, with your credentials)")
    where.add_argument("--local-port", type=int, help="the PORT of a running `make dev`")
    parser.add_argument("--region", help="AWS region of the stack (default: your configuration's)")
    parser.add_argument("--profile", help="AWS profile to use (default: your configuration's)")
    args = parser.parse_args(argv)
    if args.local_port is not None:
        return _local(args.local_port, args.email)
    # The layer builds its own botocore session from the environment: pass region and profile there.
    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = args.region
    if args.profile:
        os.environ["AWS_PROFILE"] = args.profile
    return _aws(args.stack_name, args.email)


def _local(port: int, email: str) -> int:
    try:
        status, answer = grant_locally(port, email)
    except (urllib.error.URLError, OSError) as error:
        print(f"no local server on port {port} ({error}); is `make dev` running with PORT={port}?",
              file=sys.stderr)
        return 2
    if status != 200:
        print(f"refused ({status}): {answer.get('detail', answer)}", file=sys.stderr)
        return 1
    return _granted(answer)


def _aws(stack_name: str, email: str) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        granted = grant_in_aws(stack_name, email)
    except ValueError as error:
        print(f"refused: {error}", file=sys.stderr)
        return 1
    except (BotoCoreError, ClientError) as error:
        print(f"cannot reach the stack's table: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # noqa: BLE001 - the layer's NotFound/EmailNotVerified carry a detail
        detail = getattr(error, "detail", None)
        if detail is None:
            raise
        print(f"refused: {detail}", file=sys.stderr)
        return 1
    return _granted(granted)


def _granted(answer: dict[str, Any]) -> int:
    roles = ", ".join(answer["roles"])
    print(f"admin role granted to user {answer['user_id']} ({answer['email']}); roles: {roles}")
    print("Their next access token (log in again, or refresh) carries the accounts:admin scope.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
