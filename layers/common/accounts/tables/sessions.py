"""Sessions and security events: both live in the user's partition (`USER#<id>`)."""

from __future__ import annotations

import secrets
import time

from pynamodb.exceptions import DoesNotExist, UpdateError

from accounts.models import EVENT_PREFIX, SecurityEvent, Session, User
from accounts.observability import security_event
from accounts.tables.base import TableAccess, TokenAlreadyUsed, is_condition_failure

EVENT_RETENTION_SECONDS = 90 * 86400
MAX_USER_AGENT = 256
MAX_IP = 64


def clip(value: str | None, limit: int) -> str | None:
    return value[:limit] if value else None


class SessionStore(TableAccess):
    def get_user_and_session(self, user_id: str, session_id: str) -> tuple[User | None, Session | None]:
        """1 round trip (BatchGetItem, strongly consistent): what every token-bearing request checks."""
        user_key, session_key = User.key(user_id), Session.key(user_id, session_id)
        keys = [{"pk": {"S": pk}, "sk": {"S": sk}} for pk, sk in (user_key, session_key)]
        request = {self.table_name: {"Keys": keys, "ConsistentRead": True}}
        found: list[dict] = []
        for _ in range(5):  # UnprocessedKeys only under throttling; retry what is left
            response = self._client().batch_get_item(RequestItems=request)
            found += response.get("Responses", {}).get(self.table_name, [])
            request = response.get("UnprocessedKeys") or {}
            if not request:
                break
        user = session = None
        for item in found:
            if item["sk"]["S"] == user_key[1]:
                user = User.from_raw_data(item)
            else:
                session = Session.from_raw_data(item)
        return user, session

    def get_session(self, user_id: str, session_id: str) -> Session | None:
        """1 round trip."""
        try:
            return Session.get(*Session.key(user_id, session_id), consistent_read=True)
        except DoesNotExist:
            return None

    def start_session(self, session: Session, *events: SecurityEvent) -> None:
        """1 round trip (BatchWriteItem): the new session and its security events, 1 write unit each."""
        items = [session, *events]
        request = {self.table_name: [{"PutRequest": {"Item": item.serialize()}} for item in items]}
        for _ in range(5):
            request = self._client().batch_write_item(RequestItems=request).get("UnprocessedItems") or {}
            if not request:
                return
        raise RuntimeError("session write left unprocessed after retries")

    def rotate_session(
        self, session: Session, *, now: int, ip: str | None, user_agent: str | None, expires_at: int
    ) -> int:
        """1 round trip, 1 write unit: move the session to its next generation, provided no other
        request did so first (TokenAlreadyUsed) and it still exists. Returns the new generation."""
        generation = int(session.generation) + 1
        try:
            Session(session.pk, session.sk).update(
                actions=[
                    Session.generation.set(generation),
                    Session.rotated_at.set(now),
                    Session.last_used_at.set(now),
                    Session.ip.set(clip(ip, MAX_IP)) if ip else Session.ip.remove(),
                    Session.user_agent.set(clip(user_agent, MAX_USER_AGENT)) if user_agent else Session.user_agent.remove(),
                    Session.expires_at.set(expires_at),
                    Session.ttl.set(expires_at),
                ],
                condition=Session.generation == session.generation,
            )
        except UpdateError as error:
            if is_condition_failure(error):
                raise TokenAlreadyUsed from None
            raise
        return generation

    def delete_session(self, user_id: str, session_id: str) -> None:
        """1 round trip: revoking a session deletes it (refresh and service routes then refuse it)."""
        Session(*Session.key(user_id, session_id)).delete()

    def record_event(self, event: SecurityEvent) -> None:
        """1 round trip, 1 write unit."""
        event.save()


def new_session(
    user_id: str, *, epoch: int, now: int, expires_at: int, ip: str | None, user_agent: str | None, amr: list[str]
) -> Session:
    return Session(
        *Session.key(user_id, secrets.token_hex(16)),
        created_at=now,
        last_used_at=now,
        ip=clip(ip, MAX_IP),
        user_agent=clip(user_agent, MAX_USER_AGENT),
        generation=0,
        rotated_at=now,
        epoch=epoch,
        amr=amr,
        expires_at=expires_at,
        ttl=expires_at,
    )


def new_event(
    user_id: str, kind: str, *, now: int, ip: str | None = None, user_agent: str | None = None,
    actor: str | None = None,
) -> SecurityEvent:
    """A security event; its sort key orders a user's events by time (newest first when reversed).

    Within one second, events of one container keep the order they happened in (the monotonic
    clock breaks the tie); events of different containers in the same second are concurrent.

    Building an event also logs it (one line: type, user id, IP, admin), so every security event
    reaches the logs however it is written (alone, with a session, in a transaction)."""
    security_event(kind, user_id=user_id, ip=clip(ip, MAX_IP), actor=actor)
    return SecurityEvent(
        f"USER#{user_id}",
        f"{EVENT_PREFIX}{now:011d}#{time.monotonic_ns():020d}{secrets.token_hex(2)}",
        type=kind,
        at=now,
        ip=clip(ip, MAX_IP),
        user_agent=clip(user_agent, MAX_USER_AGENT),
        actor=actor,
        ttl=now + EVENT_RETENTION_SECONDS,
    )
