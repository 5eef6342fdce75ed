"""All data access. One conditional write (or one transaction) decides every race; a failed
condition becomes a domain exception here, so flows never see DynamoDB errors for races.

The parts live in `accounts.tables` by concern (accounts and links, sessions and events,
counters, the unverified index, admin actions); round trips and write units are in each
method's docstring."""

from __future__ import annotations

from accounts.models import bind
from accounts.tables.accounts import RESET, VERIFY, AccountStore, RegistrationResult
from accounts.tables.admin import AdminStore, UserChanged
from accounts.tables.base import AccountVerified, RaceLost, StaleJob, TokenAlreadyUsed, TokenSuperseded
from accounts.tables.counters import CounterStore
from accounts.tables.mfa import AccountMoved, ChallengeUsed, FactorActive, FactorChanged, GiveBack, MfaStore
from accounts.tables.profile import EMAIL_CHANGE, AddressTaken, EmailTokenUsed, ProfileStore
from accounts.tables.sessions import SessionStore, new_event, new_session
from accounts.tables.unverified import UnverifiedStore


class Repository(AccountStore, SessionStore, CounterStore, UnverifiedStore, AdminStore, ProfileStore, MfaStore):
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        bind(table_name)


__all__ = [
    "EMAIL_CHANGE",
    "AddressTaken",
    "EmailTokenUsed",
    "RESET",
    "AccountMoved",
    "ChallengeUsed",
    "FactorActive",
    "FactorChanged",
    "GiveBack",
    "VERIFY",
    "AccountVerified",
    "RaceLost",
    "RegistrationResult",
    "Repository",
    "StaleJob",
    "TokenAlreadyUsed",
    "TokenSuperseded",
    "UserChanged",
    "new_event",
    "new_session",
]
