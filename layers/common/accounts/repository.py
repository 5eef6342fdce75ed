"""All data access. One conditional write (or one transaction) decides every race; a failed
condition becomes a domain exception here, so flows never see DynamoDB errors for races.

Round trips are counted in the docstrings: the budgets of the issue are per request.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from accounts.models import (
    UNVERIFIED_BUCKET,
    CleanupEntry,
    Counter,
    EmailToken,
    RefreshToken,
    RevokedFamily,
    User,
    bind,
    expiry_bucket,
)

VERIFY = "verify"
RESET = "reset"


class RaceLost(Exception):
    """Base of the expected outcomes of conditional writes."""


class AccountVerified(RaceLost):
    """A registration met an account whose email is already verified."""


class StaleJob(RaceLost):
    """The account changed since the email job was queued (verified meanwhile, re-registered, gone)."""


class TokenAlreadyUsed(RaceLost):
    """Another request consumed the token first."""


class TokenSuperseded(RaceLost):
    """A newer token of the same purpose replaced this one (or the account no longer exists)."""


class SessionRevoked(RaceLost):
    """Refresh refused: the family is revoked, or the user's sessions were revoked by a password reset."""


def _failed(error: TransactWriteError, index: int) -> bool:
    reasons = error.cancellation_reasons
    return index < len(reasons) and reasons[index] is not None and reasons[index].code == "ConditionalCheckFailed"


def _is_condition_failure(error: Exception) -> bool:
    return getattr(error, "cause_response_code", None) == "ConditionalCheckFailedException"


@dataclass(frozen=True)
class RegistrationResult:
    created: bool
    user_id: str


class Repository:
    def __init__(self, table_name: str) -> None:
        self.table_name = table_name
        bind(table_name)

    # -- users ---------------------------------------------------------------------------------

    def get_user(self, email_key: str) -> User | None:
        """1 round trip (strongly consistent: a login right after verification must see it)."""
        try:
            return User.get(User.key(email_key), consistent_read=True)
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
    ) -> RegistrationResult:
        """1 round trip. Creates the account, or replaces the pending password and name of an
        unverified one and supersedes its verification links (REMOVE verify_token_hash).
        Raises AccountVerified when the address belongs to a verified account."""
        user = User(User.key(email_key))
        new_id = uuid.uuid4().hex
        actions = [
            User.user_id.set(User.user_id | new_id),
            User.email.set(display_email),
            User.password_hash.set(password_hash),
            User.verified.set(User.verified | False),
            User.created_at.set(User.created_at | now),
            User.session_epoch.set(User.session_epoch | 0),
            User.registration_id.set(registration_id),
            User.cleanup_bucket.set(UNVERIFIED_BUCKET),
            User.cleanup_at.set(now),
            User.verify_token_hash.remove(),
            User.name.set(name) if name is not None else User.name.remove(),
        ]
        try:
            user.update(actions=actions, condition=User.pk.does_not_exist() | (User.verified == False))  # noqa: E712
        except UpdateError as error:
            if _is_condition_failure(error):
                raise AccountVerified from None
            raise
        return RegistrationResult(created=user.created_at == now and user.user_id == new_id, user_id=user.user_id)

    # -- email tokens --------------------------------------------------------------------------

    def issue_email_token(
        self,
        user: User,
        *,
        purpose: str,
        token_hash: str,
        expires_at: int,
        registration_id: str | None = None,
    ) -> None:
        """1 round trip: point the user at the new token (superseding older ones of the purpose)
        and store the token. For verification, the account must still be unverified and, when the
        job names one, still on the same registration. Raises StaleJob otherwise."""
        key = EmailToken.key(purpose, token_hash)
        token = EmailToken(
            key,
            email_key=user.pk.removeprefix("USER#"),
            user_id=user.user_id,
            expires_at=expires_at,
            ttl=expires_at,
            cleanup_bucket=expiry_bucket(key),
            cleanup_at=expires_at,
        )
        if purpose == VERIFY:
            field = User.verify_token_hash
            condition = User.pk.exists() & (User.verified == False)  # noqa: E712
            if registration_id is not None:
                condition &= User.registration_id == registration_id
        else:
            field = User.reset_token_hash
            condition = User.pk.exists() & (User.user_id == user.user_id)
        try:
            with TransactWrite(connection=self._connection()) as transaction:
                transaction.save(token, condition=EmailToken.pk.does_not_exist())
                transaction.update(User(user.pk), actions=[field.set(token_hash)], condition=condition)
        except TransactWriteError as error:
            if error.cause_response_code == "TransactionCanceledException" and _failed(error, 1):
                raise StaleJob from None
            raise

    def get_email_token(self, purpose: str, token_hash: str) -> EmailToken | None:
        """1 round trip."""
        try:
            return EmailToken.get(EmailToken.key(purpose, token_hash), consistent_read=True)
        except DoesNotExist:
            return None

    def consume_verification(self, token: EmailToken, token_hash: str, *, now: int) -> None:
        """1 round trip: mark the token used and the account verified, both or neither."""
        user_actions = [
            User.verified.set(True),
            User.verify_token_hash.remove(),
            User.cleanup_bucket.remove(),
            User.cleanup_at.remove(),
        ]
        self._consume(token, User(User.key(token.email_key)), user_actions, User.verify_token_hash == token_hash, now)

    def consume_reset(self, token: EmailToken, token_hash: str, *, password_hash: str, now: int) -> None:
        """1 round trip: mark the token used, set the password, mark the email verified (the reset
        proved ownership), supersede pending verification links and bump the session epoch, which
        revokes every refresh token of the user."""
        user_actions = [
            User.password_hash.set(password_hash),
            User.verified.set(True),
            User.session_epoch.add(1),
            User.reset_token_hash.remove(),
            User.verify_token_hash.remove(),
            User.cleanup_bucket.remove(),
            User.cleanup_at.remove(),
        ]
        self._consume(token, User(User.key(token.email_key)), user_actions, User.reset_token_hash == token_hash, now)

    def _consume(self, token: EmailToken, user: User, user_actions: list, user_condition, now: int) -> None:
        try:
            with TransactWrite(connection=self._connection()) as transaction:
                transaction.update(
                    EmailToken(token.pk),
                    actions=[EmailToken.used_at.set(now)],
                    condition=EmailToken.pk.exists() & EmailToken.used_at.does_not_exist(),
                )
                transaction.update(user, actions=user_actions, condition=User.pk.exists() & user_condition)
        except TransactWriteError as error:
            if error.cause_response_code != "TransactionCanceledException":
                raise
            if _failed(error, 0):
                raise TokenAlreadyUsed from None
            if _failed(error, 1):
                raise TokenSuperseded from None
            raise

    # -- sessions ------------------------------------------------------------------------------

    def get_user_and_counter(self, email_key: str, counter_key: str) -> tuple[User | None, int]:
        """1 round trip (BatchGetItem): the user and a counter, for login."""
        response = self._connection().batch_get_item(
            self.table_name, [{"pk": User.key(email_key)}, {"pk": counter_key}], consistent_read=True
        )
        items = response.get("Responses", {}).get(self.table_name, [])
        unprocessed = response.get("UnprocessedKeys", {}).get(self.table_name)
        if unprocessed:  # rare: throttled; read what is missing one by one
            items = items + [
                item
                for key in unprocessed["Keys"]
                if (item := self._connection().get_item(self.table_name, key["pk"]["S"], consistent_read=True).get("Item"))
            ]
        user, hits = None, 0
        for item in items:
            if item["pk"]["S"] == counter_key:
                hits = Counter.from_raw_data(item).hits or 0
            else:
                user = User.from_raw_data(item)
        return user, hits

    def create_session(
        self,
        user: User,
        *,
        token_hash: str,
        family_id: str,
        expires_at: int,
        new_password_hash: str | None = None,
    ) -> None:
        """1 round trip: store the first refresh token of a family (and, in the same transaction,
        the upgraded password hash when the argon2 parameters changed)."""
        token = self._refresh_item(user.pk.removeprefix("USER#"), user.user_id, user.session_epoch, token_hash, family_id, expires_at)
        if new_password_hash is None:
            token.save(condition=RefreshToken.pk.does_not_exist())
            return
        try:
            with TransactWrite(connection=self._connection()) as transaction:
                transaction.save(token, condition=RefreshToken.pk.does_not_exist())
                transaction.update(
                    User(user.pk),
                    actions=[User.password_hash.set(new_password_hash)],
                    condition=User.password_hash == user.password_hash,
                )
        except TransactWriteError as error:
            # The password changed since it was checked (a reset raced this login): keep the new
            # hash, skip the upgrade. The session carries the old epoch, so a reset revokes it.
            if error.cause_response_code == "TransactionCanceledException" and _failed(error, 1):
                token.save(condition=RefreshToken.pk.does_not_exist())
                return
            raise

    def get_refresh_token(self, token_hash: str) -> RefreshToken | None:
        """1 round trip."""
        try:
            return RefreshToken.get(RefreshToken.key(token_hash), consistent_read=True)
        except DoesNotExist:
            return None

    def rotate_session(self, old: RefreshToken, *, new_hash: str, expires_at: int, now: int) -> None:
        """1 round trip: retire the presented token and store its successor, provided the family is
        not revoked and the user's sessions were not revoked since (password reset)."""
        successor = self._refresh_item(old.email, old.user_id, old.session_epoch, new_hash, old.family_id, expires_at)
        try:
            with TransactWrite(connection=self._connection()) as transaction:
                transaction.condition_check(
                    RevokedFamily, RevokedFamily.key(old.family_id), condition=RevokedFamily.pk.does_not_exist()
                )
                transaction.condition_check(
                    User,
                    User.key(old.email),
                    condition=(User.session_epoch == old.session_epoch) & (User.user_id == old.user_id),
                )
                transaction.save(successor, condition=RefreshToken.pk.does_not_exist())
                transaction.update(
                    RefreshToken(old.pk),
                    actions=[RefreshToken.status.set("rotated")],
                    condition=(RefreshToken.status == "active"),
                )
        except TransactWriteError as error:
            if error.cause_response_code != "TransactionCanceledException":
                raise
            if _failed(error, 3):
                raise TokenAlreadyUsed from None
            if _failed(error, 0) or _failed(error, 1):
                raise SessionRevoked from None
            raise

    def revoke_family(self, family_id: str, *, now: int, until: int) -> None:
        """1 round trip. `until`: when the last token of the family could expire."""
        key = RevokedFamily.key(family_id)
        RevokedFamily(key, revoked_at=now, ttl=until, cleanup_bucket=expiry_bucket(key), cleanup_at=until).save()

    @staticmethod
    def _refresh_item(email_key, user_id, epoch, token_hash, family_id, expires_at) -> RefreshToken:
        key = RefreshToken.key(token_hash)
        return RefreshToken(
            key,
            user_id=user_id,
            email=email_key,
            family_id=family_id,
            session_epoch=epoch,
            expires_at=expires_at,
            status="active",
            ttl=expires_at,
            cleanup_bucket=expiry_bucket(key),
            cleanup_at=expires_at,
        )

    # -- counters ------------------------------------------------------------------------------

    def add_to_counter(self, key: str, *, expires_at: int) -> int:
        """1 round trip (UpdateItem ADD): the counter's value after this hit."""
        counter = Counter(key)
        counter.update(
            actions=[
                Counter.hits.add(1),
                Counter.ttl.set(Counter.ttl | expires_at),
                Counter.cleanup_at.set(Counter.cleanup_at | expires_at),
                Counter.cleanup_bucket.set(Counter.cleanup_bucket | expiry_bucket(key)),
            ]
        )
        return int(counter.hits)

    # -- cleanup -------------------------------------------------------------------------------

    def due_for_cleanup(self, bucket: str, cutoff: int) -> Iterator[CleanupEntry]:
        """Query (never scan) one partition of the sparse index."""
        yield from CleanupEntry.index.query(bucket, CleanupEntry.cleanup_at <= cutoff)

    def delete_expired(self, pk: str, cutoff: int) -> bool:
        """Delete an item whose expiry passed; False when it is already gone or was renewed."""
        return self._delete_if(CleanupEntry(pk), CleanupEntry.cleanup_at <= cutoff)

    def delete_unverified_user(self, entry: CleanupEntry, cutoff: int) -> int:
        """Delete a still-unverified account and its current tokens; returns how many items went."""
        deleted = self._delete_if(
            CleanupEntry(entry.pk),
            (CleanupEntry.verified == False) & (CleanupEntry.cleanup_at <= cutoff),  # noqa: E712
        )
        if not deleted:
            return 0
        for purpose, token_hash in ((VERIFY, entry.verify_token_hash), (RESET, entry.reset_token_hash)):
            if token_hash:
                EmailToken(EmailToken.key(purpose, token_hash)).delete()
        return 1

    def _delete_if(self, item: CleanupEntry, condition) -> bool:
        try:
            item.delete(condition=CleanupEntry.pk.exists() & condition)
        except Exception as error:  # noqa: BLE001 - only the condition failure is expected
            if _is_condition_failure(error):
                return False
            raise
        return True

    # -- plumbing ------------------------------------------------------------------------------

    @staticmethod
    def _connection() -> Connection:
        return User._get_connection().connection


__all__ = [
    "RESET",
    "VERIFY",
    "AccountVerified",
    "PutError",
    "RaceLost",
    "RegistrationResult",
    "Repository",
    "SessionRevoked",
    "StaleJob",
    "TokenAlreadyUsed",
    "TokenSuperseded",
]
