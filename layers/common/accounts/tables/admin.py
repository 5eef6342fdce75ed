"""Admin actions: a user by id, the shared fields an admin changes (written to the Account and the
User in one transaction, like every field the two share), a user's live sessions counted, and
on-demand verification reminders (the `unverified` index and the Account's `reminded_at`).

Round trips and write units are in each method's docstring; nothing here is a Scan."""

from __future__ import annotations

from typing import Any

from pynamodb.exceptions import DoesNotExist, TransactWriteError, UpdateError
from pynamodb.transactions import TransactWrite

from accounts.models import SESSION_PREFIX, UNVERIFIED_INDEX, Account, CleanupEntry, User
from accounts.tables.base import RaceLost, TableAccess, is_cancelled, is_condition_failure

# A user has a handful of sessions; a COUNT query reads 1 MB per page, so more than one page means
# thousands of sessions. The bound keeps a pathological partition from holding a request.
_MAX_COUNT_PAGES = 10


class UserChanged(RaceLost):
    """The user is gone, or its Account no longer matches it (deleted, address changed), or the
    field already had the value the write expected to change: the flow reads the user again."""


class AdminStore(TableAccess):
    def get_user(self, user_id: str) -> User | None:
        """1 round trip (strongly consistent)."""
        try:
            return User.get(*User.key(user_id), consistent_read=True)
        except DoesNotExist:
            return None

    def count_live_sessions(self, user_id: str, *, epoch: int, now: int) -> int:
        """1 round trip (a Query with Select COUNT on `USER#<id>` / `SESSION#...`; more pages only
        past 1 MB of sessions). Counts the sessions that still work: not expired (TTL deletion
        lags) and begun in the user's current session epoch (older ones were revoked at once)."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "FilterExpression": "expires_at > :now AND epoch = :epoch",
            "ExpressionAttributeValues": {
                ":pk": {"S": f"USER#{user_id}"},
                ":prefix": {"S": SESSION_PREFIX},
                ":now": {"N": str(now)},
                ":epoch": {"N": str(epoch)},
            },
            "Select": "COUNT",
            "ConsistentRead": True,
        }
        total = 0
        for _ in range(_MAX_COUNT_PAGES):
            page = self._client().query(**request)
            total += int(page.get("Count", 0))
            if "LastEvaluatedKey" not in page:
                break
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        return total

    def set_disabled(self, user: User, *, disabled: bool) -> None:
        """1 round trip (transaction: 2 items, 4 write units): set `disabled` on the Account and the
        User. UserChanged when the user is gone, its address changed since `user` was read, or the
        flag already has this value (so two parallel requests record one event, not two)."""
        if disabled:
            unchanged = User.disabled.does_not_exist() | (User.disabled == False)  # noqa: E712
        else:
            unchanged = User.disabled == True  # noqa: E712
        self._write_both(user, [Account.disabled.set(disabled)], [User.disabled.set(disabled)], unchanged)

    def revoke_sessions(self, user: User) -> None:
        """1 round trip (transaction: 2 items, 4 write units): `ADD session_epoch 1` on the Account
        and the User, as a password reset does; every session of the user stops working at once
        (refresh and service routes compare the session's epoch with the User's). UserChanged when
        the user is gone or its address changed since `user` was read."""
        self._write_both(user, [Account.session_epoch.add(1)], [User.session_epoch.add(1)])

    def add_role(self, account: Account, role: str) -> None:
        """1 round trip (transaction: 2 items, 4 write units): add `role` to `roles` on the Account
        and the User (a string set: adding it twice changes nothing). UserChanged when the account
        is not verified any more, or is no longer this user's."""
        condition = (Account.user_id == account.user_id) & (Account.verified == True)  # noqa: E712
        try:
            with TransactWrite(connection=self._connection()) as transaction:
                transaction.update(Account(account.pk, account.sk), actions=[Account.roles.add({role})],
                                   condition=condition)
                transaction.update(User(*User.key(account.user_id)), actions=[User.roles.add({role})],
                                   condition=User.pk.exists() & (User.email_key == account.email_key))
        except TransactWriteError as error:
            if is_cancelled(error):
                raise UserChanged from None
            raise

    def _write_both(self, user: User, account_actions: list, user_actions: list,
                    condition: Any = None) -> None:
        user_condition = User.pk.exists() & (User.email_key == user.email_key)
        if condition is not None:
            user_condition &= condition
        try:
            with TransactWrite(connection=self._connection()) as transaction:
                transaction.update(Account(*Account.key(user.email_key)), actions=account_actions,
                                   condition=Account.user_id == user.user_id)
                transaction.update(User(user.pk, user.sk), actions=user_actions, condition=user_condition)
        except TransactWriteError as error:
            if is_cancelled(error):
                raise UserChanged from None
            raise

    def claim_reminder(self, email_key: str, *, now: int, not_since: int) -> bool:
        """1 round trip, 1 write unit (+1 index write): record that a reminder goes out now, if the
        account exists, is still unverified and got no reminder after `not_since`. The condition
        decides alone, so parallel requests send one reminder per account. False otherwise.

        Cleanup's own reminder reads the same field (it sends one only while there is none), and
        `cleanup_due` is left as it is: cleanup moves it on when it comes to the account."""
        try:
            Account(*Account.key(email_key)).update(
                actions=[Account.reminded_at.set(now)],
                condition=Account.pk.exists()
                & (Account.verified == False)  # noqa: E712
                & (Account.reminded_at.does_not_exist() | (Account.reminded_at <= not_since)),
            )
        except UpdateError as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def unverified_page(
        self, shard: str, *, registered_before: int, not_since: int, limit: int, start: dict | None = None
    ) -> tuple[list[CleanupEntry], dict | None]:
        """1 round trip: one page of one `unverified` index partition (at most `limit` entries read,
        half a read unit per 4 KB), filtered to the accounts registered before `registered_before`
        and not reminded after `not_since`. Returns them and the key to continue from (None at the
        end of the partition)."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": UNVERIFIED_INDEX,
            "KeyConditionExpression": "cleanup_shard = :shard",
            "FilterExpression": "registered_at < :before AND "
            "(attribute_not_exists(reminded_at) OR reminded_at <= :since)",
            "ExpressionAttributeValues": {
                ":shard": {"S": shard},
                ":before": {"N": str(registered_before)},
                ":since": {"N": str(not_since)},
            },
            "Limit": limit,
        }
        if start:
            request["ExclusiveStartKey"] = start
        page = self._client().query(**request)
        entries = [CleanupEntry.from_raw_data(item) for item in page.get("Items", [])]
        return entries, page.get("LastEvaluatedKey")
