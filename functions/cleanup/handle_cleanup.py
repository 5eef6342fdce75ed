"""EventBridge schedule: delete unverified accounts past their time and expired leftovers."""

from __future__ import annotations

from typing import Any

from accounts.observability import logger, metrics


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int]:
    from accounts.flows.cleanup import run_cleanup
    from accounts.services import get_services

    return run_cleanup(get_services())
