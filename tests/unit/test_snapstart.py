"""accounts.snapstart: priming builds the clients without touching the network, the hooks register
only when snapshot_restore_py is importable, and no hook ever raises or keeps a signing key."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from accounts import snapstart
from tests.handlers import conftest as handler_tests

TABLE = "accounts-snapstart-test"
# The handler tests' environment, with a queue URL that needs no queue (priming never calls AWS).
ENVIRONMENT = {**handler_tests.ENVIRONMENT, "TABLE_NAME": TABLE,
               "EMAIL_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/emails"}
_reset_caches = handler_tests._reset_caches


class NetworkUsed(AssertionError):
    pass


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Any attempt to open a connection is recorded and fails."""
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any, *args: Any) -> None:
        attempts.append(address)
        raise NetworkUsed(f"network call to {address!r} during priming")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts


@pytest.fixture
def environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    _reset_caches()
    yield
    _reset_caches()


@pytest.fixture
def hook_registries() -> Iterator[Any]:
    """The real snapshot_restore_py registries, restored to their state before the test."""
    restore_py = pytest.importorskip("snapshot_restore_py")
    before = list(restore_py.get_before_snapshot())
    after = list(restore_py.get_after_restore())
    registered = snapstart._restore_registered
    snapstart._restore_registered = False
    yield restore_py
    restore_py.get_before_snapshot()[:] = before
    restore_py.get_after_restore()[:] = after
    snapstart._restore_registered = registered


# --------------------------------------------------------------------------------- priming


def test_prime_builds_everything_a_request_needs_without_network(environment: None, no_network: list[Any]) -> None:
    from accounts import aws, models, passwords, services, settings

    outcomes = snapstart.prime(
        imports=("accounts.flows.sessions",), clients=("secretsmanager",), passwords=True, mailer=True
    )

    assert outcomes and set(outcomes.values()) == {"ok"}, outcomes
    assert no_network == []
    assert settings.get_settings.cache_info().currsize == 1
    assert services.get_services.cache_info().currsize == 1
    assert services.get_mailer.cache_info().currsize == 1
    # The clients are built and cached: the first request reuses them.
    assert aws.client.cache_info().currsize >= 1
    assert aws.client("secretsmanager") is aws.client("secretsmanager")
    assert models.CleanupEntry._connection is not None  # pynamodb's connection, bound to the table
    built = services.get_services()
    assert built._hasher is not None  # built and argon2 warmed by one verify before the snapshot
    assert passwords.common_passwords.cache_info().currsize == 1
    assert "accounts.flows.sessions" in sys.modules


def test_prime_compiles_every_email_template(environment: None, no_network: list[Any]) -> None:
    from accounts import mailer

    mailer._environment.cache_clear()
    assert snapstart.prime(services=False, mailer=True)["mailer"] == "ok"
    for html in (False, True):
        environment_ = mailer._environment(html)
        suffix = "html" if html else "txt"
        cached = {template.name for template in environment_.cache.values()} if environment_.cache else set()
        assert {f"{kind.value}.{suffix}" for kind in mailer.EmailKind} <= cached


def test_prime_never_reads_the_signing_key_and_forgets_cached_ones(
    environment: None, no_network: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from accounts import jwt_keys

    def must_not_be_called(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("priming read the signing key")

    monkeypatch.setattr(jwt_keys, "load_signing_keys", must_not_be_called)

    class CachedKeys:
        cleared = 0

        def __call__(self) -> None:
            must_not_be_called()

        def cache_clear(self) -> None:
            self.cleared += 1

    cached = CachedKeys()
    monkeypatch.setattr(jwt_keys, "get_signing_keys", cached)

    outcomes = snapstart.prime(imports=("accounts.jwt_keys",), clients=("secretsmanager",))

    assert set(outcomes.values()) == {"ok"}, outcomes
    assert cached.cleared == 1  # nothing the handler's import may have cached goes into the snapshot


def test_a_failing_step_is_reported_not_raised(environment: None, no_network: list[Any]) -> None:
    outcomes = snapstart.prime(services=False, imports=("accounts.no_such_module",))
    assert outcomes["import accounts.no_such_module"] == "ModuleNotFoundError"
    assert outcomes["settings"] == "ok"


def test_bad_configuration_does_not_fail_the_snapshot(
    environment: None, no_network: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("APP_BASE_URL", "not a url")
    outcomes = snapstart.prime(passwords=True, mailer=True)
    assert outcomes["settings"] == "ConfigurationError"
    assert "services" not in outcomes and "mailer" not in outcomes


# ----------------------------------------------------------------------------------- hooks


def test_enable_registers_prime_and_one_after_restore_hook(hook_registries: Any) -> None:
    before_count = len(hook_registries.get_before_snapshot())
    after_count = len(hook_registries.get_after_restore())

    assert snapstart.enable(imports=("accounts.flows.registration",), passwords=True) is True
    assert snapstart.enable(mailer=True) is True

    added = hook_registries.get_before_snapshot()[before_count:]
    assert [(func, args) for func, args, _ in added] == [(snapstart.prime, ()), (snapstart.prime, ())]
    assert added[0][2] == {
        "imports": ("accounts.flows.registration",),
        "clients": (),
        "services": True,
        "passwords": True,
        "mailer": False,
    }
    assert added[1][2]["mailer"] is True
    restore_hooks = hook_registries.get_after_restore()[after_count:]
    assert [func for func, _, _ in restore_hooks] == [snapstart.after_restore]


def test_the_runtime_can_run_the_registered_hooks(
    hook_registries: Any, environment: None, no_network: list[Any]
) -> None:
    """What Lambda's runtime does: pop the before-snapshot hooks (reverse order), then, in each
    restored sandbox, call the after-restore hooks in order."""
    before_count = len(hook_registries.get_before_snapshot())
    snapstart.enable(clients=("sqs",))
    registry = hook_registries.get_before_snapshot()
    while len(registry) > before_count:
        func, args, kwargs = registry.pop()
        assert set(func(*args, **kwargs).values()) == {"ok"}
    for func, args, kwargs in hook_registries.get_after_restore():
        if func is snapstart.after_restore:
            func(*args, **kwargs)


def test_enable_is_a_no_op_without_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import now raises ImportError
    assert snapstart.enable(passwords=True) is False


def test_after_restore_reseeds_random_and_forgets_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    import random

    from accounts import jwt_keys

    cleared: list[str] = []

    class CachedKeys:
        def cache_clear(self) -> None:
            cleared.append("keys")

    monkeypatch.setattr(jwt_keys, "get_signing_keys", CachedKeys())
    monkeypatch.setattr(snapstart, "_restore_hooks", [lambda: cleared.append("hook"), lambda: 1 / 0])

    random.seed(1234)
    snapshot_state = random.getstate()
    snapstart.after_restore()  # the failing hook is logged, not raised

    assert random.getstate() != snapshot_state
    assert cleared == ["keys", "hook"]
