"""What every part of the repository shares: the domain outcomes of conditional writes, and the
helpers that recognise a failed condition in pynamodb's and botocore's errors."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import TransactWriteError


class RaceLost(Exception):
    """Base of the expected outcomes of conditional writes."""


class AccountVerified(RaceLost):
    """A registration met an account whose email is already verified."""


class StaleJob(RaceLost):
    """The account changed since the email job was queued (verified meanwhile, re-registered, gone)."""


class TokenSuperseded(RaceLost):
    """The token is no longer the account's current one: used, replaced by a newer link, or the
    account is gone. The flows tell these apart by reading the account when it matters."""


class TokenAlreadyUsed(RaceLost):
    """Another request moved the session to its next generation first (or the session is gone)."""


def failed_at(error: TransactWriteError, index: int) -> bool:
    """True when the transaction's item `index` failed its condition."""
    reasons = error.cancellation_reasons
    return index < len(reasons) and reasons[index] is not None and reasons[index].code == "ConditionalCheckFailed"


def is_condition_failure(error: Exception) -> bool:
    if getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException":
        return True
    response: Any = getattr(error, "response", None)
    return isinstance(response, dict) and response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


def is_cancelled(error: TransactWriteError) -> bool:
    return error.cause_response_code == "TransactionCanceledException"


class TableAccess:
    """The table name and the one pynamodb connection every part of the repository uses."""

    table_name: str

    @staticmethod
    def _connection() -> Any:
        from accounts.models import Account

        return Account._get_connection().connection

    def _client(self) -> Any:
        """The botocore DynamoDB client, for the calls that mix item types (BatchGet/BatchWrite)."""
        return self._connection().client
