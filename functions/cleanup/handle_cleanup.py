"""EventBridge schedule: remind, then delete, accounts that were never verified."""

from __future__ import annotations

from typing import Any

from accounts.flows.cleanup import run_cleanup
from accounts.observability import SCHEDULE_EVENT_ID, instrumented
from accounts.services import get_services


@instrumented(correlation_id_path=SCHEDULE_EVENT_ID)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, int | bool]:
    return run_cleanup(get_services(), remaining_ms=context.get_remaining_time_in_millis).as_dict()
