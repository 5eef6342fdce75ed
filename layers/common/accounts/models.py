"""pynamodb models of the single table (docs/architecture.md has the item and access-pattern tables).

Keys: `pk` (hash) and `sk` (range), both strings. A verified account is two items kept in step:
`Account` under its address (what login, registration and the email flows read) and `User` under
its id (what every token-bearing request reads, beside the session, in one BatchGetItem). The
fields both sides need (display email, name, creation time, session epoch, disabled, roles, MFA)
are written to both in one transaction. A user's sessions, security events and second factors
live in the user's partition, so each list is one Query and nothing needs an index.

The only index, `unverified`, holds unverified accounts alone (sparse), write-sharded over
UNVERIFIED_SHARDS partition keys, and projects just what cleanup and reminders read. Everything
else that expires (tokens, sessions, events, counters) carries `ttl` and is deleted by DynamoDB.

The table name is set by `bind()` from the settings at first use, never at import.
"""

from __future__ import annotations

import hashlib

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection
from pynamodb.models import Model

UNVERIFIED_INDEX = "unverified"
# 32 partition keys: a registration burst spreads over all of them, and one cleanup run reads
# them all (32 small Queries an hour cost nothing).
UNVERIFIED_SHARDS = 32

ACCOUNT_SK = "ACCOUNT"
PROFILE_SK = "PROFILE"
SESSION_PREFIX = "SESSION#"
EVENT_PREFIX = "EVENT#"
TOKEN_SK = "TOKEN"
COUNTER_SK = "RATE"
MFA_PREFIX = "MFA#"  # a user's second factor and recovery codes
TOTP_SK = f"{MFA_PREFIX}TOTP"
RECOVERY_PREFIX = f"{MFA_PREFIX}RECOVERY#"
MFA_CHALLENGE_SK = "MFA"


def unverified_shard(email_key: str) -> str:
    digest = hashlib.sha256(email_key.encode()).digest()
    return f"UNVERIFIED#{int.from_bytes(digest[:4], 'big') % UNVERIFIED_SHARDS:02d}"


def unverified_shards() -> list[str]:
    return [f"UNVERIFIED#{shard:02d}" for shard in range(UNVERIFIED_SHARDS)]


class _Meta:
    table_name = "accounts"  # replaced by bind()
    region = None


class UnverifiedIndex(GlobalSecondaryIndex["CleanupEntry"]):
    """Sparse: only unverified accounts carry `cleanup_shard`; `cleanup_due` is when cleanup must
    next act on one (send the reminder, or delete it)."""

    class Meta:
        index_name = UNVERIFIED_INDEX
        projection = IncludeProjection(["registered_at", "reminded_at"])
        read_capacity_units = 0
        write_capacity_units = 0

    cleanup_shard = UnicodeAttribute(hash_key=True)
    cleanup_due = NumberAttribute(range_key=True)


class _Item(Model):
    Meta = _Meta
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)


class _Shared:
    """Attributes an Account and its User both carry (written together in one transaction)."""

    email = UnicodeAttribute()  # the address as typed (trimmed, domain normalized), for display
    name = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    session_epoch = NumberAttribute(default=0)  # bumped to revoke every session at once
    disabled = BooleanAttribute(default=False)
    roles = UnicodeSetAttribute(null=True)
    mfa_enabled = BooleanAttribute(default=False)


class Account(_Shared, _Item):
    """`EMAIL#<address key>` / `ACCOUNT`: the account as its address knows it.

    An unverified account is this item alone; its password hash is the pending one."""

    user_id = UnicodeAttribute()
    password_hash = UnicodeAttribute()
    verified = BooleanAttribute(default=False)
    verified_by = UnicodeAttribute(null=True)  # hash of the link that verified it (friendly repeats)
    registration_id = UnicodeAttribute(null=True)
    verify_token_hash = UnicodeAttribute(null=True)
    reset_token_hash = UnicodeAttribute(null=True)
    # Unverified accounts only (the sparse index):
    registered_at = NumberAttribute(null=True)
    reminded_at = NumberAttribute(null=True)
    cleanup_shard = UnicodeAttribute(null=True)
    cleanup_due = NumberAttribute(null=True)

    @staticmethod
    def key(email_key: str) -> tuple[str, str]:
        return f"EMAIL#{email_key}", ACCOUNT_SK

    @property
    def email_key(self) -> str:
        return self.pk.removeprefix("EMAIL#")


class User(_Shared, _Item):
    """`USER#<user id>` / `PROFILE`: exists once the address is verified."""

    email_key = UnicodeAttribute()

    @staticmethod
    def key(user_id: str) -> tuple[str, str]:
        return f"USER#{user_id}", PROFILE_SK

    @property
    def user_id(self) -> str:
        return self.pk.removeprefix("USER#")


class Session(_Item):
    """`USER#<user id>` / `SESSION#<session id>`: one session (a refresh-token family).

    The refresh token itself is never stored: it is derived from (user, session, generation)
    under a server secret, so the item only says which generation is current."""

    created_at = NumberAttribute()
    last_used_at = NumberAttribute()
    ip = UnicodeAttribute(null=True)
    user_agent = UnicodeAttribute(null=True)
    generation = NumberAttribute()
    rotated_at = NumberAttribute()  # when `generation` last moved (the reuse grace counts from it)
    epoch = NumberAttribute()  # the user's session_epoch when the session began
    amr = ListAttribute(of=UnicodeAttribute)
    expires_at = NumberAttribute()
    ttl = NumberAttribute()

    @staticmethod
    def key(user_id: str, session_id: str) -> tuple[str, str]:
        return f"USER#{user_id}", f"{SESSION_PREFIX}{session_id}"

    @property
    def user_id(self) -> str:
        return self.pk.removeprefix("USER#")

    @property
    def session_id(self) -> str:
        return self.sk.removeprefix(SESSION_PREFIX)


class SecurityEvent(_Item):
    """`USER#<user id>` / `EVENT#<epoch s>#<monotonic ns><random>`: newest first with a reverse Query;
    90-day TTL."""

    type = UnicodeAttribute()
    at = NumberAttribute()
    ip = UnicodeAttribute(null=True)
    user_agent = UnicodeAttribute(null=True)
    actor = UnicodeAttribute(null=True)  # the admin's user id, for admin actions
    ttl = NumberAttribute()


class EmailToken(_Item):
    """`TOKEN#<purpose>#<sha256>` / `TOKEN`: a link's token. The account names its current token
    of each purpose; consuming removes that name, so a token works once and only while current.

    It carries the account's profile as it was when the link was issued, so verification can
    create the User item without reading the Account first."""

    email_key = UnicodeAttribute()
    user_id = UnicodeAttribute()
    email = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    created_at = NumberAttribute()
    expires_at = NumberAttribute()
    ttl = NumberAttribute()

    @staticmethod
    def key(purpose: str, token_hash: str) -> tuple[str, str]:
        return f"TOKEN#{purpose}#{token_hash}", TOKEN_SK


class Counter(_Item):
    """`RATE#<limit>#<subject hash>#<window>` / `RATE`: a fixed-window counter."""

    hits = NumberAttribute(default=0)
    ttl = NumberAttribute(null=True)


class CleanupEntry(_Item):
    """What the unverified index returns."""

    index = UnverifiedIndex()
    cleanup_shard = UnicodeAttribute()
    cleanup_due = NumberAttribute()
    registered_at = NumberAttribute(null=True)
    reminded_at = NumberAttribute(null=True)

    @property
    def email_key(self) -> str:
        return self.pk.removeprefix("EMAIL#")


class TotpFactor(_Item):
    """`USER#<user id>` / `MFA#TOTP`: the user's TOTP secret (base32, 160 bits), pending until a
    code confirms it (a pending one carries `ttl`), then active. `last_step` is the last time step
    (30 s) whose code was accepted: only a later step is accepted after it (no replay)."""

    secret = UnicodeAttribute()
    active = BooleanAttribute(default=False)
    last_step = NumberAttribute(null=True)
    created_at = NumberAttribute()
    ttl = NumberAttribute(null=True)

    @staticmethod
    def key(user_id: str) -> tuple[str, str]:
        return f"USER#{user_id}", TOTP_SK


class RecoveryCode(_Item):
    """`USER#<user id>` / `MFA#RECOVERY#<sha256>`: one unused recovery code (only its hash, in the
    key); deleting the item is its single use."""

    created_at = NumberAttribute()

    @staticmethod
    def key(user_id: str, code_hash: str) -> tuple[str, str]:
        return f"USER#{user_id}", f"{RECOVERY_PREFIX}{code_hash}"


class MfaChallenge(_Item):
    """`MFA#<sha256 of mfa_token>` / `MFA`: a login whose password was right and whose second factor
    is awaited (5 minutes); deleting it completes the login, so an mfa_token works once."""

    user_id = UnicodeAttribute()
    email_key = UnicodeAttribute()  # the address that logged in (its lockout counts the codes)
    amr = ListAttribute(of=UnicodeAttribute)
    expires_at = NumberAttribute()
    ttl = NumberAttribute()

    @staticmethod
    def key(token_hash: str) -> tuple[str, str]:
        return f"MFA#{token_hash}", MFA_CHALLENGE_SK


ALL_MODELS: tuple[type[_Item], ...] = (Account, User, Session, SecurityEvent, EmailToken, Counter, CleanupEntry,
                                       TotpFactor, RecoveryCode, MfaChallenge)


def bind(table_name: str) -> None:
    """Point every model at the configured table through one shared pynamodb connection, whose
    botocore client comes from the container's one session (accounts.aws)."""
    from accounts import aws

    if _Meta.table_name == table_name and CleanupEntry._connection is not None:
        return
    _Meta.table_name = table_name
    for model in ALL_MODELS:
        model._connection = None
    shared = CleanupEntry._get_connection()  # its schema knows the index too
    low_level = shared.connection
    low_level._local.session = aws.session()
    low_level.client  # build the client now, on this thread, from the shared session  # noqa: B018
    for model in ALL_MODELS:
        model._connection = shared


def forget_binding() -> None:
    """Drop the shared connection (tests switch between AWS endpoints and mocks)."""
    for model in ALL_MODELS:
        model._connection = None
