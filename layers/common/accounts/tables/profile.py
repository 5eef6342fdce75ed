"""Account self-service: the caller's sessions read with the user, name and password changes, one
session revoked, the security events page by page, the email change and deleting an account.

Every write that touches a field the Account and the User share is one transaction over both
items; round trips and write units are in each method's docstring. Nothing here is a Scan: a user's
sessions, events and factors live in the user's partition (`USER#<id>`), which a Query reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pynamodb.exceptions import DeleteError, TransactWriteError
from pynamodb.transactions import TransactWrite

from accounts.models import (
    EVENT_PREFIX,
    MFA_PREFIX,
    PROFILE_SK,
    SESSION_PREFIX,
    TOTP_SK,
    Account,
    EmailToken,
    RecoveryCode,
    SecurityEvent,
    Session,
    TotpFactor,
    User,
)
from accounts.tables.admin import UserChanged
from accounts.tables.base import RaceLost, TableAccess, failed_at, is_cancelled, is_condition_failure

EMAIL_CHANGE = "email"  # the email-change token's purpose (TOKEN#email#<sha256>)

# The key range of one Query that returns a user's PROFILE and SESSION# items together: in the
# partition they sort EVENT#... < MFA#... < PROFILE < SESSION#..., and "~" sorts after every
# character a session id uses.
_SESSIONS_END = f"{SESSION_PREFIX}~"
# A user has a handful of sessions; one page (1 MB) holds thousands. The bound keeps a pathological
# partition from holding a request.
_MAX_PAGES = 10
_BATCH = 25  # BatchWriteItem's limit


class AddressTaken(RaceLost):
    """The email change lost: the new address has a verified account now."""


class EmailTokenUsed(RaceLost):
    """The email-change token was used already (or the account it was issued for changed)."""


def _same(attribute: Any, value: Any) -> Any:
    """A condition that the item still holds `value` (absent counts as the model's empty value)."""
    if value is None or value == set():
        return attribute.does_not_exist()
    if value is False or value == 0:  # a default the item may never have been written with
        return attribute.does_not_exist() | (attribute == value)
    return attribute == value


class ProfileStore(TableAccess):
    def get_user_with_sessions(self, user_id: str, *, now: int) -> tuple[User | None, list[Session]]:
        """1 round trip (a strongly consistent Query of `USER#<id>`, sk between PROFILE and
        SESSION#~): the User and its unexpired sessions together, what GET /sessions needs to check
        the caller and to answer (spec section 7: one call)."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND sk BETWEEN :from AND :to",
            # TTL deletion lags: expired sessions are filtered out (the PROFILE has no expires_at).
            "FilterExpression": "attribute_not_exists(expires_at) OR expires_at > :now",
            "ExpressionAttributeValues": {
                ":pk": {"S": f"USER#{user_id}"},
                ":from": {"S": PROFILE_SK},
                ":to": {"S": _SESSIONS_END},
                ":now": {"N": str(now)},
            },
            "ConsistentRead": True,
        }
        user, sessions = None, []
        for _ in range(_MAX_PAGES):
            page = self._client().query(**request)
            for item in page.get("Items", []):
                if item["sk"]["S"] == PROFILE_SK:
                    user = User.from_raw_data(item)
                else:
                    sessions.append(Session.from_raw_data(item))
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return user, sessions

    def revoke_session(self, user_id: str, session_id: str) -> bool:
        """1 round trip: delete one of the user's sessions. The key is built from the caller's own
        user id, so another user's session id names nothing. True when a session was deleted."""
        try:
            Session(*Session.key(user_id, session_id)).delete(condition=Session.pk.exists())
        except DeleteError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def set_name(self, user: User, name: str) -> None:
        """1 round trip (transaction: 2 items, 4 write units): the name on the Account and the User.
        UserChanged when the user is gone or its address changed since it was read."""
        try:
            with TransactWrite(connection=self._connection()) as transaction:
                transaction.update(Account(*Account.key(user.email_key)), actions=[Account.name.set(name)],
                                   condition=Account.user_id == user.user_id)
                transaction.update(User(user.pk, user.sk), actions=[User.name.set(name)],
                                   condition=User.pk.exists() & (User.email_key == user.email_key))
        except TransactWriteError as error:
            if is_cancelled(error):
                raise UserChanged from None
            raise

    def change_password(self, user: User, session: Session, *, old_hash: str, new_hash: str) -> int:
        """1 round trip (transaction: 3 items, 6 write units): the new password, and every session
        but the caller's revoked. The session epoch moves on the Account and the User (every session
        of the old epoch stops working at once, as after a reset), and the caller's session moves to
        the new epoch in the same transaction, so it alone survives. Conditions: the password is
        still the one checked, the epoch the one read, the caller's session still live. UserChanged
        otherwise (a parallel change, a reset, a revocation, the address moved). Returns the epoch."""
        epoch = int(user.session_epoch or 0)
        try:
            with TransactWrite(connection=self._connection()) as transaction:
                transaction.update(
                    Account(*Account.key(user.email_key)),
                    actions=[Account.password_hash.set(new_hash), Account.session_epoch.set(epoch + 1)],
                    condition=(Account.user_id == user.user_id) & (Account.password_hash == old_hash),
                )
                transaction.update(
                    User(user.pk, user.sk), actions=[User.session_epoch.set(epoch + 1)],
                    condition=User.pk.exists() & (User.email_key == user.email_key) & _same(User.session_epoch, epoch),
                )
                transaction.update(
                    Session(session.pk, session.sk), actions=[Session.epoch.set(epoch + 1)],
                    condition=Session.pk.exists() & (Session.epoch == epoch),
                )
        except TransactWriteError as error:
            if is_cancelled(error):
                raise UserChanged from None
            raise
        return epoch + 1

    def events_page(self, user_id: str, *, now: int, limit: int,
                    after: str | None = None) -> tuple[list[SecurityEvent], str | None]:
        """1 round trip: up to `limit` of the user's events, newest first (a reverse Query of
        `EVENT#` sort keys), starting after the sort key `after`. Returns them and the sort key to
        continue after (None at the end). Expired events (TTL lags) are left out."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "FilterExpression": "#ttl > :now",
            "ExpressionAttributeNames": {"#ttl": "ttl"},
            "ExpressionAttributeValues": {
                ":pk": {"S": f"USER#{user_id}"},
                ":prefix": {"S": EVENT_PREFIX},
                ":now": {"N": str(now)},
            },
            "ScanIndexForward": False,
            "Limit": limit,
        }
        if after:
            request["ExclusiveStartKey"] = {"pk": {"S": f"USER#{user_id}"}, "sk": {"S": after}}
        page = self._client().query(**request)
        found = [SecurityEvent.from_raw_data(item) for item in page.get("Items", [])]
        last = page.get("LastEvaluatedKey")
        return found, last["sk"]["S"] if last else None

    # --- email change ---------------------------------------------------------------------------

    def save_email_change_token(self, user: User, *, new_key: str, new_email: str, token_hash: str,
                                expires_at: int) -> None:
        """1 round trip, 1 write unit: the email-change token (TTL = expiry), naming the user and
        the new address. Consuming it deletes it (change_email), so it works once."""
        EmailToken(
            *EmailToken.key(EMAIL_CHANGE, token_hash),
            email_key=new_key,
            user_id=user.user_id,
            email=new_email,
            name=user.name,
            created_at=int(user.created_at),
            expires_at=expires_at,
            ttl=expires_at,
        ).save(condition=EmailToken.pk.does_not_exist())

    def change_email(self, token: EmailToken, token_hash: str, account: Account, user: User) -> Account:
        """1 round trip (transaction: 4 items, 8 write units): move the account to the new address.
        Deletes the token (it must still exist: single use), deletes the old Account (it must still
        be this user's, unchanged since read: password, epoch, flags), puts the new Account (the
        address must be free, or hold only an unverified registration, which proving the address
        replaces) and points the User at it. The user id, sessions, events and factors stay.

        AddressTaken when the new address has a verified account; EmailTokenUsed when the token is
        gone; UserChanged when the account changed since read (read again and retry)."""
        moved = Account(
            *Account.key(token.email_key),
            user_id=account.user_id,
            email=token.email,
            name=account.name,
            created_at=int(account.created_at),
            password_hash=account.password_hash,
            verified=True,
            session_epoch=int(account.session_epoch or 0),
            disabled=bool(account.disabled),
            mfa_enabled=bool(account.mfa_enabled),
        )
        if account.roles:
            moved.roles = set(account.roles)
        unchanged = (
            (Account.user_id == user.user_id)
            & (Account.password_hash == account.password_hash)
            & _same(Account.session_epoch, int(account.session_epoch or 0))
            & _same(Account.disabled, bool(account.disabled))
            & _same(Account.mfa_enabled, bool(account.mfa_enabled))
            & _same(Account.roles, set(account.roles or ()))
        )
        try:
            with TransactWrite(connection=self._connection()) as transaction:
                transaction.delete(EmailToken(*EmailToken.key(EMAIL_CHANGE, token_hash)),
                                   condition=EmailToken.pk.exists())
                transaction.delete(Account(account.pk, account.sk), condition=unchanged)
                transaction.save(moved, condition=Account.pk.does_not_exist() | (Account.verified == False))  # noqa: E712
                transaction.update(User(user.pk, user.sk),
                                   actions=[User.email.set(token.email), User.email_key.set(token.email_key)],
                                   condition=User.pk.exists() & (User.email_key == account.email_key))
        except TransactWriteError as error:
            if not is_cancelled(error):
                raise
            if failed_at(error, 0):
                raise EmailTokenUsed from None
            if failed_at(error, 2):
                raise AddressTaken from None
            raise UserChanged from None
        return moved

    # --- deletion -------------------------------------------------------------------------------

    def delete_account(self, user: User, account: Account) -> None:
        """Delete the account and everything in the user's partition, in an order that a Lambda cut
        short anywhere leaves either a working account or nothing but items that expire.

        Calls: the sessions and events swept (a Query page + BatchWriteItem per 25 items; both kinds
        expire anyway); then one transaction deletes the Account (still this user's), the User and
        the second factor with its recovery codes (at most 13 items, so a User never outlives its
        factor, nor a factor its User), after which no login, refresh or service route finds the
        user; then a second sweep removes what a request racing the deletion may have written (a
        refreshed session). The links the Account names (pending verification and reset, the one
        that verified it) are deleted last; they expire within days (TTL). An email-change token
        names the user, who is gone, so it is refused, and it expires within the hour.
        UserChanged when the Account is no longer this user's."""
        factor_keys = self._sweep(user.user_id, keep=lambda sk: sk.startswith(MFA_PREFIX))
        try:
            with TransactWrite(connection=self._connection()) as transaction:
                transaction.delete(Account(account.pk, account.sk), condition=Account.user_id == user.user_id)
                transaction.delete(User(user.pk, user.sk))
                for pk, sk in factor_keys:
                    transaction.delete(TotpFactor(pk, sk) if sk == TOTP_SK else RecoveryCode(pk, sk))
        except TransactWriteError as error:
            if is_cancelled(error):
                raise UserChanged from None
            raise
        self._sweep(user.user_id)
        tokens = [EmailToken.key(purpose, value) for purpose, value in
                  (("verify", account.verify_token_hash), ("verify", account.verified_by),
                                     ("reset", account.reset_token_hash)) if value]
        self._delete_keys(tokens)

    def _sweep(self, user_id: str, keep: Callable[[str], bool] = lambda sk: False) -> list[tuple[str, str]]:
        """Delete every item of `USER#<id>` but the PROFILE and those whose sort key `keep` accepts
        (answered): a Query page (keys only), then its keys deleted 25 to a BatchWriteItem, until
        the partition has nothing else."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": {"S": f"USER#{user_id}"}},
            "ProjectionExpression": "pk, sk",
            "ConsistentRead": True,
        }
        kept: list[tuple[str, str]] = []
        while True:
            page = self._client().query(**request)
            keys = [(item["pk"]["S"], item["sk"]["S"]) for item in page.get("Items", [])
                    if item["sk"]["S"] != PROFILE_SK]
            kept += [key for key in keys if keep(key[1])]
            self._delete_keys([key for key in keys if not keep(key[1])])
            if "LastEvaluatedKey" not in page:
                return kept
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def _delete_keys(self, keys: list[tuple[str, str]]) -> None:
        for start in range(0, len(keys), _BATCH):
            request = {self.table_name: [{"DeleteRequest": {"Key": {"pk": {"S": pk}, "sk": {"S": sk}}}}
                                         for pk, sk in keys[start:start + _BATCH]]}
            for _ in range(5):
                request = self._client().batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
                if not request:
                    break
            else:
                raise RuntimeError("account deletion left items unprocessed after retries")
