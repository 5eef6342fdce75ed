"""Fixed-window counters (rate limits and the login lockout): atomic UpdateItem ADD, TTL-expired."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist, UpdateError

from accounts.models import COUNTER_SK, Counter
from accounts.tables.base import TableAccess, is_condition_failure


class CounterStore(TableAccess):
    def add_to_counter(self, key: str, *, expires_at: int) -> int:
        """1 round trip, 1 write unit: the counter's value after this hit."""
        counter = Counter(key, COUNTER_SK)
        counter.update(actions=[Counter.hits.add(1), Counter.ttl.set(Counter.ttl | expires_at)])
        return int(counter.hits)

    def read_counter(self, key: str) -> int:
        """1 round trip, half a read unit (eventually consistent): the counter's value, 0 when absent.
        Only for reporting RateLimit-* on a refusal that never reached the counter."""
        try:
            counter = Counter.get(key, COUNTER_SK)
        except DoesNotExist:
            return 0
        return int(counter.hits or 0)

    def add_below(self, key: str, *, limit: int, expires_at: int) -> int | None:
        """1 round trip, 1 write unit: count one more only while the counter is below `limit`
        (the condition and the increment are one atomic write, so parallel requests cannot all
        pass). The new value, or None when the limit was already reached."""
        counter = Counter(key, COUNTER_SK)
        try:
            counter.update(
                actions=[Counter.hits.add(1), Counter.ttl.set(Counter.ttl | expires_at)],
                condition=Counter.hits.does_not_exist() | (Counter.hits < limit),
            )
        except UpdateError as error:
            if is_condition_failure(error):
                return None
            raise
        return int(counter.hits)

    def give_back(self, key: str) -> None:
        """1 round trip, 1 write unit: undo one `add_below` (only while the counter still exists)."""
        try:
            Counter(key, COUNTER_SK).update(actions=[Counter.hits.add(-1)], condition=Counter.hits > 0)
        except UpdateError as error:
            if not is_condition_failure(error):
                raise

    def delete_counter(self, key: str) -> None:
        """1 round trip: forget a window's count (a completed password reset lifts the lockout)."""
        Counter(key, COUNTER_SK).delete()
