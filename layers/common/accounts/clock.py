"""The one place the service reads the time, so tests can travel with time-machine."""

import time


def now() -> int:
    """Current time as whole epoch seconds."""
    return int(time.time())
