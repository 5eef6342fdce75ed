"""pynamodb models of the single table (see docs/architecture.md for the key design).

All models share one table with a string hash key `pk`; the table name is set by `bind()` from
the settings at first use, never at import. Every item stays far below 1 KB.
"""

from __future__ import annotations

import hashlib

from pynamodb.attributes import BooleanAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

CLEANUP_INDEX = "cleanup"
UNVERIFIED_BUCKET = "UNVERIFIED"
EXPIRY_SHARDS = 4


def expiry_bucket(pk: str) -> str:
    """Spread expiring items over a few index partitions so no single one gets hot."""
    return f"EXPIRES#{hashlib.sha256(pk.encode()).digest()[0] % EXPIRY_SHARDS}"


def expiry_buckets() -> list[str]:
    return [f"EXPIRES#{shard}" for shard in range(EXPIRY_SHARDS)]


class _Meta:
    table_name = "accounts"  # replaced by bind()
    region = None


class CleanupIndex(GlobalSecondaryIndex["CleanupEntry"]):
    """Sparse index: only items that cleanup may have to delete carry `cleanup_bucket`."""

    class Meta:
        index_name = CLEANUP_INDEX
        projection = AllProjection()
        read_capacity_units = 0
        write_capacity_units = 0

    cleanup_bucket = UnicodeAttribute(hash_key=True)
    cleanup_at = NumberAttribute(range_key=True)


class _Item(Model):
    Meta = _Meta
    pk = UnicodeAttribute(hash_key=True)
    cleanup_bucket = UnicodeAttribute(null=True)
    cleanup_at = NumberAttribute(null=True)


class User(_Item):
    """`USER#<normalized email>`. The password hash of an unverified account is the pending one."""

    user_id = UnicodeAttribute()
    email = UnicodeAttribute()  # as the user typed it (trimmed), for display
    name = UnicodeAttribute(null=True)
    password_hash = UnicodeAttribute()
    verified = BooleanAttribute(default=False)
    created_at = NumberAttribute()
    registration_id = UnicodeAttribute(null=True)
    verify_token_hash = UnicodeAttribute(null=True)
    reset_token_hash = UnicodeAttribute(null=True)
    session_epoch = NumberAttribute(default=0)

    @staticmethod
    def key(email_key: str) -> str:
        return f"USER#{email_key}"


class EmailToken(_Item):
    """`TOKEN#<purpose>#<sha256>`: a verification or reset token; the purpose is part of the key."""

    email_key = UnicodeAttribute()
    user_id = UnicodeAttribute()
    expires_at = NumberAttribute()
    used_at = NumberAttribute(null=True)
    ttl = NumberAttribute()

    @staticmethod
    def key(purpose: str, token_hash: str) -> str:
        return f"TOKEN#{purpose}#{token_hash}"


class RefreshToken(_Item):
    """`REFRESH#<sha256>`: one link of a refresh-token family."""

    user_id = UnicodeAttribute()
    email = UnicodeAttribute()  # normalized; the key of the user item
    family_id = UnicodeAttribute()
    session_epoch = NumberAttribute()
    expires_at = NumberAttribute()
    status = UnicodeAttribute()  # active | rotated
    ttl = NumberAttribute()

    @staticmethod
    def key(token_hash: str) -> str:
        return f"REFRESH#{token_hash}"


class RevokedFamily(_Item):
    """`FAMILY#<id>`: exists only once a family is revoked (logout or reuse detected)."""

    revoked_at = NumberAttribute()
    ttl = NumberAttribute()

    @staticmethod
    def key(family_id: str) -> str:
        return f"FAMILY#{family_id}"


class Counter(_Item):
    """`RATE#<limit>#<subject hash>#<window>`: a fixed-window counter."""

    hits = NumberAttribute(default=0)
    ttl = NumberAttribute(null=True)


class CleanupEntry(_Item):
    """What the cleanup index returns: any item, seen through the keys cleanup needs."""

    index = CleanupIndex()
    verified = BooleanAttribute(null=True)
    verify_token_hash = UnicodeAttribute(null=True)
    reset_token_hash = UnicodeAttribute(null=True)


ALL_MODELS: tuple[type[_Item], ...] = (User, EmailToken, RefreshToken, RevokedFamily, Counter, CleanupEntry)


def bind(table_name: str) -> None:
    """Point every model at the configured table. All models share one connection (one botocore
    client): they are views of the same table, and each extra client costs cold-start time."""
    if _Meta.table_name == table_name and CleanupEntry._connection is not None:
        return
    _Meta.table_name = table_name
    for model in ALL_MODELS:
        model._connection = None
    shared = CleanupEntry._get_connection()  # its schema knows the cleanup index too
    for model in ALL_MODELS:
        model._connection = shared
