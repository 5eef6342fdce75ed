"""Lambda SnapStart: prime the container before the snapshot, refresh what must differ after restore.

With SnapStart on (template parameter SnapStartEnabled), Lambda initializes each published version
once, runs the before-snapshot hooks, snapshots the memory, and starts every later execution
environment of that version from the snapshot. Whatever the hooks built is then already there on
every cold start: the imports, the settings, the botocore session and clients, pynamodb's
connection, argon2's hasher, the compiled email templates.

Each handler module calls `enable(...)` once at import, naming what its requests need:

    from accounts import snapstart

    snapstart.enable(imports=("accounts.flows.registration",), passwords=True)

Without the `snapshot_restore_py` package (a bare test environment) `enable` registers nothing.
Without SnapStart (the default) Lambda never runs the hooks, so an ordinary cold start stays as
lazy as before; local mode never runs them either.

What the snapshot holds, and what it must not:
- No signing key: priming never reads Secrets Manager, and the cached keys are forgotten before the
  snapshot and again after every restore (the first request re-reads them).
- No open connection: clients are built but make no call; botocore connects on the first request.
  The execution role's credentials are resolved when a client is built: under SnapStart Lambda
  serves them from its container-credentials endpoint and botocore refreshes them before they
  expire, which is how AWS SDKs are meant to be used with SnapStart.
- No shared randomness that matters: `secrets`, `uuid4` and argon2's salts read os.urandom at each
  call; the `random` module (botocore's retry jitter) is reseeded after restore anyway.

A hook never raises: a step that fails is logged (step and error type) and skipped, because a
failing before-snapshot hook would fail the deployment of the version; the request that needs the
step then does it, and fails there with its usual error if it must.
"""

from __future__ import annotations

import functools
import importlib
import logging
import random
import sys
from collections.abc import Callable, Iterable
from typing import Any

_log = logging.getLogger("accounts.snapstart")

# Fake values for priming the email templates; nothing is sent.
_PRIME_ADDRESS = "snapstart@example.invalid"
_PRIME_TOKEN = "snapstart-prime"

_restore_hooks: list[Callable[[], Any]] = []
_restore_registered = False


def enable(
    *,
    imports: Iterable[str] = (),
    clients: Iterable[str] = (),
    services: bool = True,
    passwords: bool = False,
    mailer: bool = False,
) -> bool:
    """Register `prime(...)` with these options as a before-snapshot hook, and `after_restore` as
    an after-restore hook (once per process). Returns False, registering nothing, when the
    `snapshot_restore_py` package is not importable."""
    global _restore_registered
    try:
        import snapshot_restore_py
    except ImportError:
        return False
    options = {
        "imports": tuple(imports),
        "clients": tuple(clients),
        "services": services,
        "passwords": passwords,
        "mailer": mailer,
    }
    snapshot_restore_py.register_before_snapshot(prime, **options)
    if not _restore_registered:
        snapshot_restore_py.register_after_restore(after_restore)
        _restore_registered = True
    return True


def on_restore(func: Callable[[], Any]) -> Callable[[], Any]:
    """Also run `func` after every restore (e.g. to forget a cache keyed on a clock). Decorator too."""
    _restore_hooks.append(func)
    return func


def prime(
    *,
    imports: Iterable[str] = (),
    clients: Iterable[str] = (),
    services: bool = True,
    passwords: bool = False,
    mailer: bool = False,
) -> dict[str, str]:
    """Build now what every request of the function needs. Never raises, never calls AWS.

    - always: the settings (validated now) and the container's botocore session;
    - `services`: `accounts.services.get_services()` (repository with pynamodb's connection and
      DynamoDB client, the argon2 hasher, the email queue and its SQS client);
    - `passwords`: the hasher, warmed by one argon2 verification, and the common-password list;
    - `mailer`: the SES client and both jinja2 environments with every email template compiled;
    - `clients`: `accounts.aws.client(name)` for each name, e.g. "secretsmanager";
    - `imports`: modules the handler imports lazily, e.g. its flow.

    Returns each step's outcome ("ok" or the error type), for logs and tests.
    """
    outcomes: dict[str, str] = {}

    def step(name: str, action: Callable[[], Any]) -> Any:
        try:
            result = action()
        except Exception as error:  # noqa: BLE001 - a hook must not fail the snapshot
            outcomes[name] = type(error).__name__
            _log.warning("snapstart: priming %s failed (%s); it happens on first use instead",
                         name, type(error).__name__)
            return None
        outcomes[name] = "ok"
        return result

    settings = step("settings", _settings)
    step("aws session", lambda: importlib.import_module("accounts.aws").session())
    built = step("services", _services) if services and settings is not None else None
    if built is not None:
        step("email queue client", lambda: getattr(built.queue, "client", None))
        if passwords:
            step("argon2", lambda: built.hasher.dummy_verify(_PRIME_TOKEN))
    if passwords:
        step("common passwords", lambda: importlib.import_module("accounts.passwords").common_passwords())
    if mailer and settings is not None:
        step("mailer", lambda: _prime_mailer(settings))
    for name in clients:
        step(f"client {name}", functools.partial(_client, name))
    for module in imports:
        step(f"import {module}", functools.partial(importlib.import_module, module))
    step("forget signing keys", forget_signing_keys)
    _log.debug("snapstart: primed", extra={"steps": outcomes})
    return outcomes


def after_restore() -> None:
    """Runs in each execution environment restored from the snapshot, before its first request."""
    random.seed()  # the global generator's state came from the snapshot: make it this sandbox's own
    for action in (forget_signing_keys, *_restore_hooks):
        try:
            action()
        except Exception as error:  # noqa: BLE001 - a failing hook would fail the restore
            _log.warning("snapstart: after-restore %s failed (%s)", getattr(action, "__name__", action),
                         type(error).__name__)


def forget_signing_keys() -> None:
    """Drop cached signing keys, if `accounts.jwt_keys` was imported and cached any."""
    module = sys.modules.get("accounts.jwt_keys")
    cached = getattr(module, "get_signing_keys", None) if module is not None else None
    clear = getattr(cached, "cache_clear", None)
    if callable(clear):
        clear()


# ------------------------------------------------------------------------------------ steps


def _settings() -> Any:
    from accounts.settings import get_settings

    return get_settings()


def _services() -> Any:
    from accounts.services import get_services

    return get_services()


def _client(name: str) -> Any:
    from accounts import aws

    return aws.client(name)


def _prime_mailer(settings: Any) -> None:
    from accounts import mailer as mail
    from accounts.services import get_mailer

    sender = get_mailer()
    getattr(sender, "client", None)  # builds the SES client
    rendered = None
    for kind in mail.EmailKind:  # compiles every template into the environments' caches
        rendered = mail.render(
            kind,
            product_name=settings.product_name,
            app_base_url=settings.app_base_url,
            name=None,
            email=_PRIME_ADDRESS,
            token=_PRIME_TOKEN,
            expires_in_hours=1,
        )
    if rendered is not None:
        sender.build_message(_PRIME_ADDRESS, rendered)  # imports the email package's MIME machinery
