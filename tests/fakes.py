"""In-memory collaborators for unit tests of the flows (and for the bench): no AWS, no moto.

`InMemoryRepository` mirrors `accounts.repository.Repository` method for method: the same
arguments, the same conditions, the same domain exceptions, and pynamodb model instances as
results, so a flow cannot tell it from the real one. It stores each item as a plain dict of
attribute values (an absent attribute is simply not in the dict), which is how DynamoDB sees
them too; every method holds one lock, just as every DynamoDB request (or transaction) is atomic.

Where the real repository lets an unexpected DynamoDB error escape (a key collision of a fresh
random token, say), the fake raises the same pynamodb exception with a ConditionalCheckFailed /
TransactionCanceled cause, so even those paths look alike.
"""

from __future__ import annotations

import copy
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from pynamodb.exceptions import CancellationReason, PutError, TransactWriteError, VerboseClientError

from accounts.email_jobs import EmailJob
from accounts.mailer import RenderedEmail
from accounts.models import (
    UNVERIFIED_BUCKET,
    CleanupEntry,
    EmailToken,
    RefreshToken,
    RevokedFamily,
    User,
    expiry_bucket,
)
from accounts.passwords import PasswordHasher
from accounts.repository import (
    VERIFY,
    AccountVerified,
    RegistrationResult,
    SessionRevoked,
    StaleJob,
    TokenAlreadyUsed,
    TokenSuperseded,
)
from accounts.services import Services
from accounts.settings import Settings

M = TypeVar("M", bound=Any)

# Settings of the unit tests: explicit values (never the environment) and tiny argon2 parameters.
TEST_SETTINGS: dict[str, Any] = {
    "table_name": "accounts-unit",
    "app_base_url": "https://app.example.com",
    "product_name": "Example Accounts",
    "email_from": "no-reply@example.com",
    "ses_configuration_set": "",
    "jwt_issuer": "https://api.example.com",
    "jwt_audience": "example-api",
    "signing_key_secret_id": "signing-key",
    "email_queue_url": "https://sqs.us-east-1.amazonaws.com/123456789012/emails",
    "argon2_memory_kib": 1024,
    "argon2_time_cost": 1,
    "argon2_parallelism": 1,
}

START = 1_763_737_200  # 2025-11-21T15:00:00Z, an arbitrary fixed "now" for the clock


# --- errors shaped like the real ones ------------------------------------------------------------


def _condition_failed(error_type: type[Exception], operation: str) -> Exception:
    cause = VerboseClientError(
        {"Error": {"Code": "ConditionalCheckFailedException", "Message": "The conditional request failed"}},
        operation,
    )
    return error_type("Failed to " + operation, cause)  # type: ignore[call-arg]


def _transaction_cancelled(failed: set[int], size: int) -> TransactWriteError:
    reasons = [CancellationReason(code="ConditionalCheckFailed") if i in failed else None for i in range(size)]
    cause = VerboseClientError(
        {"Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"}},
        "TransactWriteItems",
        cancellation_reasons=reasons,
    )
    return TransactWriteError("Failed to write transaction items", cause)


# --- the repository ------------------------------------------------------------------------------


class InMemoryRepository:
    """A dict-backed `accounts.repository.Repository` (same public methods, same semantics)."""

    def __init__(self, table_name: str = "accounts-unit") -> None:
        self.table_name = table_name
        self.items: dict[str, dict[str, Any]] = {}
        self.lock = threading.RLock()
        self.calls: list[str] = []  # method names, in order: lets tests count "round trips"

    # -- helpers (call with the lock held) -------------------------------------------------------

    def _note(self, method: str) -> None:
        self.calls.append(method)

    @staticmethod
    def _model(model: type[M], item: dict[str, Any]) -> M:
        """A fresh model instance (a copy: callers cannot change what is stored)."""
        names = model.get_attributes()
        values = {name: copy.deepcopy(value) for name, value in item.items() if name in names and name != "pk"}
        return model(item["pk"], **values)

    def _equals(self, pk: str, attribute: str, value: Any) -> bool:
        """DynamoDB's `attribute = :value`: false when the item or the attribute is missing."""
        item = self.items.get(pk)
        return item is not None and attribute in item and item[attribute] == value

    def _put(self, pk: str, values: dict[str, Any]) -> None:
        self.items[pk] = {"pk": pk, **{name: value for name, value in values.items() if value is not None}}

    def _update(self, pk: str, *, set_: dict[str, Any] | None = None, remove: tuple[str, ...] = ()) -> dict[str, Any]:
        item = self.items.setdefault(pk, {"pk": pk})
        for name, value in (set_ or {}).items():
            if value is None:
                item.pop(name, None)
            else:
                item[name] = value
        for name in remove:
            item.pop(name, None)
        return item

    # -- users -----------------------------------------------------------------------------------

    def get_user(self, email_key: str) -> User | None:
        with self.lock:
            self._note("get_user")
            item = self.items.get(User.key(email_key))
            return self._model(User, item) if item is not None else None

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
        with self.lock:
            self._note("register")
            pk = User.key(email_key)
            existing = self.items.get(pk)
            # condition: attribute_not_exists(pk) OR verified = false
            if existing is not None and not self._equals(pk, "verified", False):
                raise AccountVerified
            new_id = uuid.uuid4().hex
            item = self._update(
                pk,
                set_={
                    "email": display_email,
                    "password_hash": password_hash,
                    "registration_id": registration_id,
                    "cleanup_bucket": UNVERIFIED_BUCKET,
                    "cleanup_at": now,
                    "name": name,  # None removes it, like User.name.remove()
                },
                remove=("verify_token_hash",),
            )
            item.setdefault("user_id", new_id)
            item.setdefault("verified", False)
            item.setdefault("created_at", now)
            item.setdefault("session_epoch", 0)
            return RegistrationResult(created=item["created_at"] == now and item["user_id"] == new_id, user_id=item["user_id"])

    # -- email tokens ----------------------------------------------------------------------------

    def issue_email_token(
        self,
        user: User,
        *,
        purpose: str,
        token_hash: str,
        expires_at: int,
        registration_id: str | None = None,
    ) -> None:
        with self.lock:
            self._note("issue_email_token")
            token_pk = EmailToken.key(purpose, token_hash)
            user_pk = user.pk
            token_ok = token_pk not in self.items
            if purpose == VERIFY:
                field_name = "verify_token_hash"
                user_ok = user_pk in self.items and self._equals(user_pk, "verified", False)
                if registration_id is not None:
                    user_ok = user_ok and self._equals(user_pk, "registration_id", registration_id)
            else:
                field_name = "reset_token_hash"
                user_ok = user_pk in self.items and self._equals(user_pk, "user_id", user.user_id)
            if not user_ok:
                raise StaleJob
            if not token_ok:
                raise _transaction_cancelled({0}, 2)
            self._put(
                token_pk,
                {
                    "email_key": user_pk.removeprefix("USER#"),
                    "user_id": user.user_id,
                    "expires_at": expires_at,
                    "ttl": expires_at,
                    "cleanup_bucket": expiry_bucket(token_pk),
                    "cleanup_at": expires_at,
                },
            )
            self._update(user_pk, set_={field_name: token_hash})

    def get_email_token(self, purpose: str, token_hash: str) -> EmailToken | None:
        with self.lock:
            self._note("get_email_token")
            item = self.items.get(EmailToken.key(purpose, token_hash))
            return self._model(EmailToken, item) if item is not None else None

    def consume_verification(self, token: EmailToken, token_hash: str, *, now: int) -> None:
        with self.lock:
            self._note("consume_verification")
            user_pk = User.key(token.email_key)
            self._consume(token, user_pk, "verify_token_hash", token_hash, now)
            self._update(
                user_pk,
                set_={"verified": True},
                remove=("verify_token_hash", "cleanup_bucket", "cleanup_at"),
            )

    def consume_reset(self, token: EmailToken, token_hash: str, *, password_hash: str, now: int) -> None:
        with self.lock:
            self._note("consume_reset")
            user_pk = User.key(token.email_key)
            self._consume(token, user_pk, "reset_token_hash", token_hash, now)
            item = self._update(
                user_pk,
                set_={"password_hash": password_hash, "verified": True},
                remove=("reset_token_hash", "verify_token_hash", "cleanup_bucket", "cleanup_at"),
            )
            item["session_epoch"] = item.get("session_epoch", 0) + 1

    def _consume(self, token: EmailToken, user_pk: str, field_name: str, token_hash: str, now: int) -> None:
        """Both conditions of the consuming transaction; marks the token used when both hold."""
        stored = self.items.get(token.pk)
        if stored is None or "used_at" in stored:
            raise TokenAlreadyUsed
        if user_pk not in self.items or not self._equals(user_pk, field_name, token_hash):
            raise TokenSuperseded
        stored["used_at"] = now

    # -- sessions --------------------------------------------------------------------------------

    def get_user_and_counter(self, email_key: str, counter_key: str) -> tuple[User | None, int]:
        with self.lock:
            self._note("get_user_and_counter")
            item = self.items.get(User.key(email_key))
            counter = self.items.get(counter_key)
            hits = int(counter.get("hits") or 0) if counter is not None else 0
            return (self._model(User, item) if item is not None else None), hits

    def create_session(
        self,
        user: User,
        *,
        token_hash: str,
        family_id: str,
        expires_at: int,
        new_password_hash: str | None = None,
    ) -> None:
        with self.lock:
            self._note("create_session")
            pk = RefreshToken.key(token_hash)
            if new_password_hash is None:
                if pk in self.items:
                    raise _condition_failed(PutError, "PutItem")
            else:
                token_ok = pk not in self.items
                user_ok = self._equals(user.pk, "password_hash", user.password_hash)
                if not (token_ok and user_ok):
                    raise _transaction_cancelled({i for i, ok in enumerate((token_ok, user_ok)) if not ok}, 2)
                self._update(user.pk, set_={"password_hash": new_password_hash})
            self._put(pk, self._refresh_values(user.pk.removeprefix("USER#"), user.user_id, user.session_epoch,
                                               pk, family_id, expires_at))

    def get_refresh_token(self, token_hash: str) -> RefreshToken | None:
        with self.lock:
            self._note("get_refresh_token")
            item = self.items.get(RefreshToken.key(token_hash))
            return self._model(RefreshToken, item) if item is not None else None

    def rotate_session(self, old: RefreshToken, *, new_hash: str, expires_at: int, now: int) -> None:
        with self.lock:
            self._note("rotate_session")
            new_pk = RefreshToken.key(new_hash)
            user_pk = User.key(old.email)
            checks = (
                RevokedFamily.key(old.family_id) not in self.items,
                self._equals(user_pk, "session_epoch", old.session_epoch) and self._equals(user_pk, "user_id", old.user_id),
                new_pk not in self.items,
                self._equals(old.pk, "status", "active"),
            )
            if not checks[3]:
                raise TokenAlreadyUsed
            if not (checks[0] and checks[1]):
                raise SessionRevoked
            if not checks[2]:
                raise _transaction_cancelled({2}, 4)
            self._put(new_pk, self._refresh_values(old.email, old.user_id, old.session_epoch, new_pk,
                                                   old.family_id, expires_at))
            self.items[old.pk]["status"] = "rotated"

    def revoke_family(self, family_id: str, *, now: int, until: int) -> None:
        with self.lock:
            self._note("revoke_family")
            pk = RevokedFamily.key(family_id)
            self._put(pk, {"revoked_at": now, "ttl": until, "cleanup_at": until, "cleanup_bucket": expiry_bucket(pk)})

    @staticmethod
    def _refresh_values(email_key, user_id, epoch, pk, family_id, expires_at) -> dict[str, Any]:
        return {
            "user_id": user_id,
            "email": email_key,
            "family_id": family_id,
            "session_epoch": epoch,
            "expires_at": expires_at,
            "status": "active",
            "ttl": expires_at,
            "cleanup_at": expires_at,
            "cleanup_bucket": expiry_bucket(pk),
        }

    # -- counters --------------------------------------------------------------------------------

    def add_to_counter(self, key: str, *, expires_at: int) -> int:
        with self.lock:
            self._note("add_to_counter")
            item = self.items.setdefault(key, {"pk": key})
            item["hits"] = item.get("hits", 0) + 1
            item.setdefault("ttl", expires_at)
            item.setdefault("cleanup_at", expires_at)
            item.setdefault("cleanup_bucket", expiry_bucket(key))
            return int(item["hits"])

    # -- cleanup ---------------------------------------------------------------------------------

    def due_for_cleanup(self, bucket: str, cutoff: int) -> Iterator[CleanupEntry]:
        """The sparse index: items carrying both index keys, in `cleanup_at` order (a snapshot, like
        the pages of a Query)."""
        with self.lock:
            self._note("due_for_cleanup")
            due = sorted(
                (
                    item
                    for item in self.items.values()
                    if item.get("cleanup_bucket") == bucket and "cleanup_at" in item and item["cleanup_at"] <= cutoff
                ),
                key=lambda item: (item["cleanup_at"], item["pk"]),
            )
            entries = [self._model(CleanupEntry, item) for item in due]
        yield from entries

    def delete_expired(self, pk: str, cutoff: int) -> bool:
        with self.lock:
            self._note("delete_expired")
            item = self.items.get(pk)
            if item is None or "cleanup_at" not in item or item["cleanup_at"] > cutoff:
                return False
            del self.items[pk]
            return True

    def delete_unverified_user(self, entry: CleanupEntry, cutoff: int) -> int:
        with self.lock:
            self._note("delete_unverified_user")
            item = self.items.get(entry.pk)
            if (
                item is None
                or not self._equals(entry.pk, "verified", False)
                or "cleanup_at" not in item
                or item["cleanup_at"] > cutoff
            ):
                return 0
            del self.items[entry.pk]
            for purpose, token_hash in (("verify", entry.verify_token_hash), ("reset", entry.reset_token_hash)):
                if token_hash:
                    self.items.pop(EmailToken.key(purpose, token_hash), None)
            return 1

    # -- for tests -------------------------------------------------------------------------------

    def keys(self, prefix: str = "") -> list[str]:
        with self.lock:
            return sorted(pk for pk in self.items if pk.startswith(prefix))

    def raw(self, pk: str) -> dict[str, Any] | None:
        with self.lock:
            item = self.items.get(pk)
            return copy.deepcopy(item) if item is not None else None


# --- queue, mailer, clock ------------------------------------------------------------------------


class FakeQueue:
    """Records the email jobs a flow enqueues (`accounts.email_jobs.EmailQueue` stand-in)."""

    def __init__(self) -> None:
        self.jobs: list[EmailJob] = []
        self.lock = threading.Lock()

    def enqueue(self, job: EmailJob) -> None:
        with self.lock:
            self.jobs.append(job)

    def take(self) -> list[EmailJob]:
        """The jobs queued so far; the queue is empty afterwards."""
        with self.lock:
            jobs, self.jobs = self.jobs, []
            return jobs


class MailerDown(RuntimeError):
    """What a FakeMailer raises when told to fail (stands in for an SES error)."""


class FakeMailer:
    """Records (to, RenderedEmail) for every send (`accounts.mailer.Mailer` stand-in).

    `fail = True` makes every send raise MailerDown; `fail = SomeError(...)` raises that instead.
    """

    def __init__(self) -> None:
        self.sent: list[tuple[str, RenderedEmail]] = []
        self.fail: bool | BaseException = False
        self.attempts = 0

    def send(self, to: str, email: RenderedEmail) -> str:
        self.attempts += 1
        if self.fail:
            raise self.fail if isinstance(self.fail, BaseException) else MailerDown("SES is unavailable")
        self.sent.append((to, email))
        return f"message-{len(self.sent)}"


@dataclass
class Clock:
    """A settable clock: `clock()` returns `clock.now` (int epoch seconds)."""

    now: int = START

    def __call__(self) -> int:
        return int(self.now)

    def advance(self, seconds: int) -> int:
        self.now += seconds
        return self.now


# --- services ------------------------------------------------------------------------------------


def make_settings(**overrides: Any) -> Settings:
    """Settings built from explicit values only: every field is passed, so the environment of the
    process running the tests cannot change them."""
    values: dict[str, Any] = {
        name: info.default for name, info in Settings.model_fields.items() if not info.is_required()
    }
    values.update(TEST_SETTINGS)
    values.update(overrides)
    return Settings(**values)



def make_services(**setting_overrides: Any) -> Services:
    """`Services` with explicit settings, tiny argon2 parameters, an InMemoryRepository, a FakeQueue
    and a Clock (at `services.now`; set `services.now.now` or call `services.now.advance(...)`)."""
    settings = make_settings(**setting_overrides)
    return Services(
        settings=settings,
        repo=InMemoryRepository(settings.table_name),  # type: ignore[arg-type]
        hasher=PasswordHasher.from_settings(settings),
        queue=FakeQueue(),  # type: ignore[arg-type]
        now=Clock(),
    )


__all__ = [
    "START",
    "TEST_SETTINGS",
    "Clock",
    "FakeMailer",
    "FakeQueue",
    "InMemoryRepository",
    "MailerDown",
    "make_services",
    "make_settings",
]
