"""Count the DynamoDB calls a flow makes, with a botocore event hook on the layer's one DynamoDB
client (the one every repository call goes through), as `make bench` does on every client."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from typing import Any

from accounts.models import Account


@contextlib.contextmanager
def dynamodb_calls() -> Iterator[list[str]]:
    """The operation names of the DynamoDB calls made inside the block, in the order they started."""
    client = Account._get_connection().connection.client
    calls: list[str] = []
    lock = threading.Lock()

    def record(model: Any, **_: Any) -> None:
        with lock:
            calls.append(model.name)

    client.meta.events.register("before-call.dynamodb", record, unique_id="tests-call-counter")
    try:
        yield calls
    finally:
        client.meta.events.unregister("before-call.dynamodb", unique_id="tests-call-counter")
