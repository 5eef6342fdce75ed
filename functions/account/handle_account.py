"""AccountFunction: account self-service (spec sections 2 and 3, v2): the profile, password and email
change, the caller's sessions and security events, and deleting the account.

Every route but email/confirm is behind the API's JWT authorizer; the flows check again that the
token's session is live and its user enabled (accounts.flows.sessions.authenticate)."""

from __future__ import annotations

from typing import Any

from accounts import snapstart
from accounts.http import handle, new_app
from accounts.observability import instrumented

# With SnapStart on, prime this function's imports and clients before the snapshot.
snapstart.enable(clients=("sqs",))

app = new_app()


@instrumented()
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return handle(app, event, context)
