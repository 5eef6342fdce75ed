"""DynamoDB capacity from recorded calls: item sizes, write units, index writes, read units.

Item sizes follow DynamoDB's documented rules (attribute name bytes + value bytes; numbers about
one byte per two significant digits plus one; maps and lists 3 bytes plus 1 per element).

Write units (on-demand write request units):
  PutItem / UpdateItem / DeleteItem   ceil(larger of the item's before and after size / 1 KB), >= 1
  BatchWriteItem                      the same, per request item
  TransactWriteItems                  twice that, per item (ConditionCheck included)
  index writes                        per global secondary index and item: 1 per entry added or
                                      removed, 2 when the entry's index key changed, 1 when only
                                      its projected attributes changed; from the item's images
                                      read in moto's own table right before and after the call.
Read units (read request units): strongly consistent 1 per 4 KB (at least 1 per item), eventually
consistent half that; BatchGetItem per item; Query/Scan per 4 KB of what they return; index queries
are eventually consistent; TransactGetItems twice.
"""

from __future__ import annotations

import contextlib
import math
from collections import Counter
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from bench.hooks import Call

WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}
KB = 1024


def attribute_size(value: dict[str, Any]) -> int:
    (kind, data), = value.items()
    if kind == "S":
        return len(str(data).encode("utf-8"))
    if kind == "N":
        digits = Decimal(str(data)).normalize().as_tuple().digits
        return (len(digits) + 1) // 2 + 1
    if kind == "B":
        return len(data)
    if kind in ("BOOL", "NULL"):
        return 1
    if kind in ("SS", "NS", "BS"):
        return sum(attribute_size({kind[0]: item}) for item in data)
    if kind == "L":
        return 3 + sum(1 + attribute_size(item) for item in data)
    if kind == "M":
        return 3 + sum(len(key.encode()) + 1 + attribute_size(item) for key, item in data.items())
    return len(str(data))


def item_size(item: dict[str, Any] | None) -> int:
    if not item:
        return 0
    return sum(len(name.encode("utf-8")) + attribute_size(value) for name, value in item.items())


@dataclass
class ItemImage:
    """One item a write call touched: its images right before and right after the call."""

    table: str
    key: str
    action: str  # Put, Update, Delete, ConditionCheck
    transactional: bool
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


class TableProbe:
    """Reads the items a write call names from moto's backend, before and after the call."""

    def __init__(self) -> None:
        from local import moto_support

        self._lock = getattr(moto_support, "_LOCK", None) or contextlib.nullcontext()

    @staticmethod
    def _targets(call: Call) -> list[tuple[str, dict[str, Any], str, bool]]:
        request, op = call.request, call.operation
        if op in ("PutItem", "UpdateItem", "DeleteItem"):
            return [(request.get("TableName", ""), request.get("Key") or request.get("Item") or {}, op[:-4], False)]
        if op == "TransactWriteItems":
            found = []
            for entry in request.get("TransactItems", []):
                for action, body in entry.items():
                    found.append((body.get("TableName", ""), body.get("Key") or body.get("Item") or {}, action, True))
            return found
        if op == "BatchWriteItem":
            found = []
            for table, entries in (request.get("RequestItems") or {}).items():
                for entry in entries:
                    if "PutRequest" in entry:
                        found.append((table, entry["PutRequest"]["Item"], "Put", False))
                    elif "DeleteRequest" in entry:
                        found.append((table, entry["DeleteRequest"]["Key"], "Delete", False))
            return found
        return []

    def _read(self, table_name: str, key: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
        from moto.dynamodb.models import dynamodb_backends
        from moto.dynamodb.models.dynamo_type import DynamoType

        from bench.world import ACCOUNT, REGION

        table = dynamodb_backends[ACCOUNT][REGION].tables.get(table_name)
        if table is None:
            return "", None
        hash_value = key.get(table.hash_key_attr)
        range_value = key.get(table.range_key_attr) if table.range_key_attr else None
        label = "|".join(str(next(iter(v.values()))) for v in (hash_value, range_value) if v)
        if hash_value is None:
            return label, None
        with self._lock:
            try:
                found = table.get_item(DynamoType(hash_value), DynamoType(range_value) if range_value else None)
            except Exception:  # noqa: BLE001 - absent
                found = None
            return label, (found.to_json("Item")["Item"] if found is not None else None)

    def before(self, call: Call) -> None:
        if call.service != "dynamodb" or call.operation not in WRITES:
            return
        for table, key, action, transactional in self._targets(call):
            label, image = self._read(table, key)
            call.items.append(ItemImage(table, label, action, transactional, before=image))

    def after(self, call: Call) -> None:
        if call.service != "dynamodb" or call.operation not in WRITES:
            return
        for image, (table, key, _, _) in zip(call.items, self._targets(call)):
            image.after = self._read(table, key)[1]


# --- units --------------------------------------------------------------------------------------


def _indexes(table_name: str) -> list[tuple[str, list[str], list[str], dict[str, Any]]]:
    """(name, index key attributes, table key attributes, projection) of each GSI."""
    from moto.dynamodb.models import dynamodb_backends

    from bench.world import ACCOUNT, REGION

    table = dynamodb_backends[ACCOUNT][REGION].tables.get(table_name)
    if table is None:
        return []
    table_keys = [k for k in (table.hash_key_attr, table.range_key_attr) if k]
    return [(index.name, [k["AttributeName"] for k in index.schema], table_keys, index.projection or {})
            for index in table.global_indexes]


def _entry(item: dict[str, Any] | None, keys: list[str], table_keys: list[str],
           projection: dict[str, Any]) -> tuple[tuple[str, ...], dict[str, Any]] | None:
    if not item or any(k not in item for k in keys):
        return None  # sparse: no entry in this index
    kind = projection.get("ProjectionType", "ALL")
    if kind == "ALL":
        projected = item
    else:
        wanted = set(keys) | set(table_keys) | (set(projection.get("NonKeyAttributes", [])) if kind == "INCLUDE" else set())
        projected = {k: v for k, v in item.items() if k in wanted}
    return tuple(str(next(iter(item[k].values()))) for k in keys), projected


@dataclass
class Units:
    write_units: float = 0.0  # table writes (transactional doubled)
    index_units: float = 0.0
    read_units: float = 0.0
    index_partitions: Counter[tuple[str, str]] | None = None  # (index, partition key) -> writes

    @property
    def total_write_units(self) -> float:
        return self.write_units + self.index_units


def index_writes(image: ItemImage) -> list[tuple[str, str, int]]:
    """(index, partition key value, units) for one touched item."""
    found = []
    for name, keys, table_keys, projection in _indexes(image.table):
        before = _entry(image.before, keys, table_keys, projection)
        after = _entry(image.after, keys, table_keys, projection)
        if before is None and after is None:
            continue
        if before is None or after is None:
            entry = after or before
            found.append((name, entry[0][0], 1))  # type: ignore[index]
        elif before[0] != after[0]:
            found += [(name, before[0][0], 1), (name, after[0][0], 1)]  # delete + put
        elif before[1] != after[1]:
            found.append((name, after[0][0], 1))
    return found


def _read_units(call: Call) -> float:
    request, response = call.request, call.response or {}
    consistent = 1.0 if request.get("ConsistentRead") else 0.5
    op = call.operation
    if op == "GetItem":
        return consistent * max(1, math.ceil(item_size(response.get("Item")) / (4 * KB)))
    if op == "BatchGetItem":
        rcu = 0.0
        for table, spec in (request.get("RequestItems") or {}).items():
            factor = 1.0 if spec.get("ConsistentRead") else 0.5
            items = (response.get("Responses") or {}).get(table, [])
            rcu += factor * sum(max(1, math.ceil(item_size(i) / (4 * KB))) for i in items)
            rcu += factor * max(0, len(spec.get("Keys", [])) - len(items))  # misses still cost
        return rcu
    if op in ("Query", "Scan"):
        if request.get("IndexName"):
            consistent = 0.5
        total = sum(item_size(i) for i in response.get("Items", []))
        return consistent * max(1, math.ceil(total / (4 * KB)))
    if op == "TransactGetItems":
        return 2.0 * sum(max(1, math.ceil(item_size(r.get("Item")) / (4 * KB))) for r in response.get("Responses", []))
    return 0.0


def units(calls: list[Call]) -> Units:
    result = Units(index_partitions=Counter())
    for call in calls:
        if call.service != "dynamodb":
            continue
        if call.operation in WRITES:
            for image in call.items:
                size = max(item_size(image.before), item_size(image.after))
                wu = max(1, math.ceil(size / KB))
                result.write_units += 2 * wu if image.transactional else wu
                if image.action == "ConditionCheck":
                    continue
                for name, partition, n in index_writes(image):
                    result.index_units += n
                    result.index_partitions[(name, partition)] += n  # type: ignore[index]
        else:
            result.read_units += _read_units(call)
    return result


def table_items() -> tuple[list[dict[str, Any]], tuple[str, ...]]:
    """Every item of the bench's table, from moto's backend (no API call), and the key names."""
    from bench.world import moto_table

    table = moto_table()
    keys = tuple(name for name in (table.hash_key_attr, table.range_key_attr) if name)
    return [item.to_json("Item")["Item"] for item in table.all_items()], keys


def kind_of(item: dict[str, Any], keys: tuple[str, ...]) -> str:
    """Item kind for the size table: the table key values' prefixes before '#'."""
    parts = []
    for name in keys:
        value = item.get(name)
        if value:
            parts.append(str(next(iter(value.values()))).split("#", 1)[0])
    return "/".join(parts) or "?"
