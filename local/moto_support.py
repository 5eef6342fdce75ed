"""Make moto's DynamoDB behave like DynamoDB under concurrency.

DynamoDB applies each request atomically, and that is what the service's conditional writes rely
on. moto does not lock: two threads can interleave inside one TransactWriteItems, and a cancelled
transaction restores a snapshot of the whole table, undoing a concurrent request's write. One lock
around each DynamoDB request restores DynamoDB's per-request atomicity, so races in local mode
and in the handler tests are decided the way AWS decides them.
"""

from __future__ import annotations

import functools
import threading

_LOCK = threading.RLock()
_PATCHED = False


def serialize_dynamodb() -> None:
    """Idempotent; call before moto serves any DynamoDB request."""
    global _PATCHED
    if _PATCHED:
        return
    from moto.dynamodb.responses import DynamoHandler

    original = DynamoHandler.call_action

    @functools.wraps(original)
    def call_action(self):  # type: ignore[no-untyped-def]
        with _LOCK:
            return original(self)

    DynamoHandler.call_action = call_action  # type: ignore[method-assign]
    _PATCHED = True
