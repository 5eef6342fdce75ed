"""Second factors and MFA login challenges.

In the user's partition: the TOTP factor (`MFA#TOTP`: the secret, pending or active, and the last
accepted time step) and the unused recovery codes (`MFA#RECOVERY#<sha256>`). Outside it: the
challenge of a login waiting for its second factor (`MFA#<sha256 of mfa_token>` / `MFA`, 5 minutes,
TTL). Every single use is a condition: a code's step must be later than the last accepted one, a
recovery code and a challenge must still exist when they are deleted. Round trips and write units
are in each method's docstring; every item is well under 1 KB."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import PutError, TransactWriteError
from pynamodb.transactions import TransactWrite

from accounts.models import (
    COUNTER_SK,
    MFA_PREFIX,
    RECOVERY_PREFIX,
    TOTP_SK,
    Account,
    Counter,
    MfaChallenge,
    RecoveryCode,
    SecurityEvent,
    Session,
    TotpFactor,
    User,
)
from accounts.tables.base import RaceLost, TableAccess, failed_at, is_cancelled, is_condition_failure


class FactorActive(RaceLost):
    """TOTP is already active for this user (enrolment refused, or another confirmation won)."""


class FactorChanged(RaceLost):
    """The factor is not the one the request read any more (re-enrolled, removed, confirmed), or
    the code's time step is not later than the last accepted one (a replay)."""


class ChallengeUsed(RaceLost):
    """The MFA challenge was completed (or expired and removed) by another request first."""


class AccountMoved(RaceLost):
    """The Account no longer belongs to this user, or the User's address changed meanwhile."""


@dataclass(frozen=True)
class ChallengeReads:
    """What the second step of a login reads in one BatchGetItem."""

    challenge: MfaChallenge | None
    factor: TotpFactor | None
    user: User | None
    recovery_code_exists: bool


@dataclass(frozen=True)
class GiveBack:
    """A lockout reservation to give back inside a transaction (the counter's key and window end)."""

    key: str
    expires_at: int


class MfaStore(TableAccess):
    # --- enrolment and removal -------------------------------------------------------------------

    def get_factor(self, user_id: str) -> TotpFactor | None:
        """1 round trip (strongly consistent)."""
        try:
            return TotpFactor.get(*TotpFactor.key(user_id), consistent_read=True)
        except TotpFactor.DoesNotExist:
            return None

    def start_enrolment(self, factor: TotpFactor) -> None:
        """1 round trip, 1 write unit: store a pending secret, replacing an earlier pending one.
        FactorActive when TOTP is active (the condition decides, also against a parallel confirm)."""
        try:
            factor.save(condition=TotpFactor.pk.does_not_exist() | (TotpFactor.active == False))  # noqa: E712
        except PutError as error:
            if is_condition_failure(error):
                raise FactorActive from None
            raise

    def activate_factor(self, user: User, factor: TotpFactor, *, step: int, code_hashes: list[str],
                        event: SecurityEvent, now: int) -> None:
        """1 round trip (transaction: the factor, 10 recovery codes, the Account, the User and the
        event, 14 items, 28 write units; enrolment is rare): the pending secret becomes active with
        the confirming code's step as the last one used, the recovery codes are stored (hashes only)
        and `mfa_enabled` is set on both account items.

        FactorActive when another confirmation won; FactorChanged when the pending secret was
        replaced or removed; AccountMoved when the user's address changed meanwhile."""
        try:
            with TransactWrite(connection=self._connection()) as transaction:
                transaction.update(
                    TotpFactor(factor.pk, factor.sk),
                    actions=[TotpFactor.active.set(True), TotpFactor.last_step.set(step), TotpFactor.ttl.remove()],
                    condition=(TotpFactor.active == False) & (TotpFactor.secret == factor.secret),  # noqa: E712
                )
                for code_hash in code_hashes:
                    transaction.save(RecoveryCode(*RecoveryCode.key(user.user_id, code_hash), created_at=now))
                self._set_enabled(transaction, user, True)
                transaction.save(event)
        except TransactWriteError as error:
            if not is_cancelled(error):
                raise
            # pynamodb sends deletes, then puts, then updates: the factor is the first update.
            if failed_at(error, len(code_hashes) + 1):
                current = self.get_factor(user.user_id)
                raise (FactorActive if current is not None and current.active else FactorChanged) from None
            raise AccountMoved from None

    def factor_and_codes(self, user_id: str) -> tuple[TotpFactor | None, list[str]]:
        """1 round trip (a Query of `MFA#` in the user's partition, strongly consistent): the TOTP
        factor and the hashes of the unused recovery codes."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ExpressionAttributeValues": {":pk": {"S": f"USER#{user_id}"}, ":prefix": {"S": MFA_PREFIX}},
            "ConsistentRead": True,
        }
        factor, hashes = None, []
        while True:
            page = self._client().query(**request)
            for item in page.get("Items", []):
                sk = item["sk"]["S"]
                if sk == TOTP_SK:
                    factor = TotpFactor.from_raw_data(item)
                elif sk.startswith(RECOVERY_PREFIX):
                    hashes.append(sk.removeprefix(RECOVERY_PREFIX))
            if "LastEvaluatedKey" not in page:
                return factor, hashes
            request["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    def remove_factor(self, user: User, factor: TotpFactor, code_hashes: list[str], *,
                      event: SecurityEvent) -> None:
        """1 round trip (transaction: the factor, the recovery codes, the Account, the User, the event;
        at most 14 items): TOTP and every recovery code are gone and `mfa_enabled` is false on both
        account items. FactorChanged when the factor is not the active one read; AccountMoved when
        the address changed meanwhile."""
        try:
            with TransactWrite(connection=self._connection()) as transaction:
                transaction.delete(
                    TotpFactor(factor.pk, factor.sk),
                    condition=(TotpFactor.active == True) & (TotpFactor.secret == factor.secret),  # noqa: E712
                )
                for code_hash in code_hashes:
                    transaction.delete(RecoveryCode(*RecoveryCode.key(user.user_id, code_hash)))
                self._set_enabled(transaction, user, False)
                transaction.save(event)
        except TransactWriteError as error:
            if not is_cancelled(error):
                raise
            raise (FactorChanged if failed_at(error, 0) else AccountMoved) from None  # the first delete

    @staticmethod
    def _set_enabled(transaction: TransactWrite, user: User, enabled: bool) -> None:
        """`mfa_enabled` on the Account and the User (the shared fields change together)."""
        transaction.update(Account(*Account.key(user.email_key)), actions=[Account.mfa_enabled.set(enabled)],
                           condition=Account.user_id == user.user_id)
        transaction.update(User(user.pk, user.sk), actions=[User.mfa_enabled.set(enabled)],
                           condition=User.pk.exists() & (User.email_key == user.email_key))

    # --- login ------------------------------------------------------------------------------------

    def put_challenge(self, challenge: MfaChallenge) -> None:
        """1 round trip, 1 write unit (the token hash is fresh: nothing to collide with)."""
        challenge.save()

    def challenge_reads(self, token_hash: str, user_id: str, recovery_hash: str | None) -> ChallengeReads:
        """1 round trip (BatchGetItem, strongly consistent): the challenge, the user's TOTP factor,
        the User, and whether the presented recovery code is unused."""
        keys = [MfaChallenge.key(token_hash), TotpFactor.key(user_id), User.key(user_id)]
        if recovery_hash is not None:
            keys.append(RecoveryCode.key(user_id, recovery_hash))
        request = {self.table_name: {"Keys": [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in keys],
                                     "ConsistentRead": True}}
        found: dict[tuple[str, str], dict] = {}
        for _ in range(5):  # UnprocessedKeys only under throttling; retry what is left
            response = self._client().batch_get_item(RequestItems=request)
            for item in response.get("Responses", {}).get(self.table_name, []):
                found[(item["pk"]["S"], item["sk"]["S"])] = item
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        challenge = found.get(keys[0])
        factor = found.get(keys[1])
        user = found.get(keys[2])
        return ChallengeReads(
            challenge=MfaChallenge.from_raw_data(challenge) if challenge else None,
            factor=TotpFactor.from_raw_data(factor) if factor else None,
            user=User.from_raw_data(user) if user else None,
            recovery_code_exists=recovery_hash is not None and keys[3] in found,
        )

    def complete_challenge(self, challenge: MfaChallenge, session: Session, event: SecurityEvent, *,
                           factor: TotpFactor | None = None, step: int | None = None,
                           recovery_hash: str | None = None, give_back: GiveBack | None = None) -> None:
        """1 round trip (transaction: the code's use, the challenge, the session, the `login` event and
        the lockout reservation given back; 4-5 items, 8-10 write units).

        The code is used by moving the factor's `last_step` to `step` (only from an earlier one), or
        by deleting the recovery code (only while it exists); the challenge is deleted (only while it
        exists). FactorChanged: the code was used meanwhile; ChallengeUsed: the mfa_token was."""
        try:
            with TransactWrite(connection=self._connection()) as transaction:
                if factor is not None and step is not None:
                    transaction.update(
                        TotpFactor(factor.pk, factor.sk),
                        actions=[TotpFactor.last_step.set(step)],
                        condition=(TotpFactor.active == True)  # noqa: E712
                        & (TotpFactor.secret == factor.secret)
                        & (TotpFactor.last_step.does_not_exist() | (TotpFactor.last_step < step)),
                    )
                elif recovery_hash is not None:
                    transaction.delete(RecoveryCode(*RecoveryCode.key(challenge.user_id, recovery_hash)),
                                       condition=RecoveryCode.pk.exists())
                else:
                    raise ValueError("a TOTP step or a recovery code is needed")
                transaction.delete(MfaChallenge(challenge.pk, challenge.sk), condition=MfaChallenge.pk.exists())
                transaction.save(session)
                transaction.save(event)
                if give_back is not None:
                    # Unconditional (a failed condition would cancel the login): if the window's
                    # counter is gone, the ttl set here still removes what the ADD creates.
                    transaction.update(Counter(give_back.key, COUNTER_SK), actions=[
                        Counter.hits.add(-1), Counter.ttl.set(Counter.ttl | give_back.expires_at)])
        except TransactWriteError as error:
            if not is_cancelled(error):
                raise
            # pynamodb sends deletes, then puts, then updates: a recovery code is the first delete,
            # a TOTP step the first update (after the challenge's delete and the two puts).
            code_index = 0 if recovery_hash is not None and step is None else 3
            raise (FactorChanged if failed_at(error, code_index) else ChallengeUsed) from None

    def record_events(self, *events: SecurityEvent) -> None:
        """1 round trip (BatchWriteItem), 1 write unit per event."""
        request = {self.table_name: [{"PutRequest": {"Item": event.serialize()}} for event in events]}
        for _ in range(5):
            request = self._client().batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            if not request:
                return
        raise RuntimeError("event write left unprocessed after retries")
