"""One botocore session per container and one client per AWS service, built once.

Every AWS client of the service comes from here (DynamoDB through pynamodb included, see
`models.bind`), so a container pays for one session (credential chain, endpoint data, the
loader's caches) instead of one per library. Clients are thread-safe: flows may issue
independent calls in parallel through `parallel()`.

Endpoints and regions come from the ordinary settings (`AWS_REGION`, `AWS_ENDPOINT_URL`, ...),
exactly as in AWS: local mode points them at moto.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import botocore.session
from botocore.config import Config

T = TypeVar("T")

# Short timeouts: an API request must answer within API Gateway's 30 s, and a stuck connection is
# better retried (standard retry mode) than waited for.
_CONFIG = Config(
    connect_timeout=2,
    read_timeout=5,
    retries={"mode": "standard", "total_max_attempts": 3},
    max_pool_connections=16,
)


@functools.cache
def session() -> botocore.session.Session:
    return botocore.session.get_session()


@functools.cache
def client(service: str) -> Any:
    """The container's client for `service` (e.g. "sqs", "sesv2", "secretsmanager")."""
    return session().create_client(service, config=_CONFIG)


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=8, thread_name_prefix="aws")


def parallel(*calls: Callable[[], Any]) -> list[Any]:
    """Run independent calls at once and return their results in order; the first exception
    (in argument order) is raised after all of them finished, so none is left running."""
    if len(calls) == 1:
        return [calls[0]()]
    futures = [_pool().submit(call) for call in calls]
    results, first_error = [], None
    for future in futures:
        try:
            results.append(future.result())
        except BaseException as error:  # noqa: BLE001 - re-raised below, after every call ended
            results.append(None)
            first_error = first_error or error
    if first_error is not None:
        raise first_error
    return results


def reset() -> None:
    """Forget the session and clients (tests switch endpoints and credentials between cases)."""
    client.cache_clear()
    session.cache_clear()
