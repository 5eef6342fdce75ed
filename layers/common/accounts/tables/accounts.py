"""Accounts: registration, the links' tokens, verification and password reset.

Round trips are counted in the docstrings; the spec's budgets (section 7) are per request."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from accounts.models import Account, EmailToken, User, unverified_shard
from accounts.tables.base import (
    AccountVerified,
    StaleJob,
    TableAccess,
    TokenSuperseded,
    failed_at,
    is_cancelled,
    is_condition_failure,
)

VERIFY = "verify"
RESET = "reset"

# Attributes an unverified account carries for the sparse index; removed once it is verified.
_UNVERIFIED_ONLY = (Account.registration_id, Account.registered_at, Account.reminded_at,
                    Account.cleanup_shard, Account.cleanup_due)


@dataclass(frozen=True)
class RegistrationResult:
    created: bool
    user_id: str


class AccountStore(TableAccess):
    def get_account(self, email_key: str) -> Account | None:
        """1 round trip (strongly consistent: a login right after verification must see it)."""
        try:
            return Account.get(*Account.key(email_key), consistent_read=True)
        except DoesNotExist:
            return None

    def register(
        self,
        *,
        email_key: str,
        display_email: str,
        name: str | None,
        password_hash: str,
        registration_id: str,
        now: int,
        cleanup_due: int,
    ) -> RegistrationResult:
        """1 round trip (1 write unit + 1 index write). Creates the account, or replaces the pending
        password and name of an unverified one and supersedes its links (REMOVE verify_token_hash).
        Raises AccountVerified when the address belongs to a verified account."""
        account = Account(*Account.key(email_key))
        new_id = uuid.uuid4().hex
        actions = [
            Account.user_id.set(Account.user_id | new_id),
            Account.email.set(display_email),
            Account.password_hash.set(password_hash),
            Account.verified.set(Account.verified | False),
            Account.created_at.set(Account.created_at | now),
            Account.registration_id.set(registration_id),
            Account.registered_at.set(now),
            Account.cleanup_shard.set(unverified_shard(email_key)),
            Account.cleanup_due.set(cleanup_due),
            Account.reminded_at.remove(),
            Account.verify_token_hash.remove(),
            Account.name.set(name) if name is not None else Account.name.remove(),
        ]
        try:
            account.update(actions=actions, condition=Account.pk.does_not_exist() | (Account.verified == False))  # noqa: E712
        except UpdateError as error:
            if is_condition_failure(error):
                raise AccountVerified from None
            raise
        return RegistrationResult(created=account.created_at == now and account.user_id == new_id,
                                  user_id=account.user_id)

    def set_email_token(
        self,
        account: Account,
        *,
        purpose: str,
        token_hash: str,
        expires_at: int,
        registration_id: str | None = None,
    ) -> None:
        """2 round trips, 2 write units: store the token, then make it the account's current one of
        its purpose (superseding older ones). A token stored but never made current (the second
        write's condition failed) is unusable and expires by TTL. For verification the account must
        still be unverified and, when the job names one, on the same registration; StaleJob otherwise."""
        EmailToken(
            *EmailToken.key(purpose, token_hash),
            email_key=account.email_key,
            user_id=account.user_id,
            email=account.email,
            name=account.name,
            created_at=account.created_at,
            expires_at=expires_at,
            ttl=expires_at,
        ).save(condition=EmailToken.pk.does_not_exist())
        condition = Account.pk.exists() & (Account.user_id == account.user_id)
        if purpose == VERIFY:
            field = Account.verify_token_hash
            condition &= Account.verified == False  # noqa: E712
            if registration_id is not None:
                condition &= Account.registration_id == registration_id
        else:
            field = Account.reset_token_hash
        try:
            Account(account.pk, account.sk).update(actions=[field.set(token_hash)], condition=condition)
        except UpdateError as error:
            if is_condition_failure(error):
                raise StaleJob from None
            raise

    def get_email_token(self, purpose: str, token_hash: str) -> EmailToken | None:
        """1 round trip."""
        try:
            return EmailToken.get(*EmailToken.key(purpose, token_hash), consistent_read=True)
        except DoesNotExist:
            return None

    def verify(self, token: EmailToken, token_hash: str, *, now: int) -> None:
        """1 round trip (transaction: 2 items, 4 write units + 1 index delete): mark the account
        verified and create its User item from the token's snapshot of the account.
        TokenSuperseded when the token is not the account's current verification token."""
        user = User(
            *User.key(token.user_id),
            email_key=token.email_key,
            email=token.email,
            name=token.name,
            created_at=token.created_at,
            session_epoch=0,
        )
        actions = [
            Account.verified.set(True),
            Account.verified_by.set(token_hash),
            Account.verify_token_hash.remove(),
            *(attribute.remove() for attribute in _UNVERIFIED_ONLY),
        ]
        condition = (Account.verify_token_hash == token_hash) & (Account.user_id == token.user_id)
        try:
            with TransactWrite(connection=self._connection()) as transaction:
                transaction.update(Account(*Account.key(token.email_key)), actions=actions, condition=condition)
                transaction.save(user, condition=User.pk.does_not_exist())
        except TransactWriteError as error:
            if is_cancelled(error) and (failed_at(error, 0) or failed_at(error, 1)):
                raise TokenSuperseded from None
            raise

    def reset_password(self, token: EmailToken, token_hash: str, *, password_hash: str) -> None:
        """1 round trip (transaction: 2 items). Set the password, mark the address verified (the
        reset proved ownership), supersede pending links, and bump the session epoch on both items,
        which revokes every session. Creates the User item when the account was unverified.
        TokenSuperseded when the token is not the account's current reset token."""
        account_actions = [
            Account.password_hash.set(password_hash),
            Account.verified.set(True),
            Account.session_epoch.add(1),
            Account.reset_token_hash.remove(),
            Account.verify_token_hash.remove(),
            *(attribute.remove() for attribute in _UNVERIFIED_ONLY),
        ]
        user_actions = [
            User.email_key.set(User.email_key | token.email_key),
            User.email.set(User.email | token.email),
            User.created_at.set(User.created_at | token.created_at),
            User.session_epoch.add(1),
        ]
        if token.name is not None:
            user_actions.append(User.name.set(User.name | token.name))
        condition = (Account.reset_token_hash == token_hash) & (Account.user_id == token.user_id)
        try:
            with TransactWrite(connection=self._connection()) as transaction:
                transaction.update(Account(*Account.key(token.email_key)), actions=account_actions,
                                   condition=condition)
                transaction.update(User(*User.key(token.user_id)), actions=user_actions)
        except TransactWriteError as error:
            if is_cancelled(error) and failed_at(error, 0):
                raise TokenSuperseded from None
            raise

    def upgrade_password_hash(self, account: Account, new_hash: str) -> bool:
        """1 round trip: store a hash made with the current argon2 parameters, unless the password
        changed since it was checked (a reset raced this login): then keep the newer one."""
        try:
            Account(account.pk, account.sk).update(
                actions=[Account.password_hash.set(new_hash)],
                condition=Account.password_hash == account.password_hash,
            )
        except UpdateError as error:
            if is_condition_failure(error):
                return False
            raise
        return True
