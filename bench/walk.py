"""The walk through the API: real handlers, sample events from events/, AWS on moto in-process.

The requests are data (`WALK`): each step names its function folder, its sample event, the JSON
body (values like "{email}" are filled from the walk's state), the status it must answer, what
to keep from the answer, and which email tokens to read afterwards. After every step the email
queue is drained through the real mailer (conftest.drain_emails), and each mailer invocation is
recorded on its own, attributed to the step that queued its job.

Each invocation records every AWS call it made (bench.hooks) with a simulated round trip of
`LATENCY` seconds per call, the item images around each write (bench.capacity), what it printed
(Powertools JSON logs, EMF metrics) and its answer. Then, with moto stopped, each recorded
invocation is replayed against its own recorded answers (no network) to time the handler's own
work: the durations the bill uses and the login time section.
"""

from __future__ import annotations

import copy
import json
import os
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import pyotp

from bench import capacity, hooks, world

LATENCY = 0.015  # seconds per simulated AWS round trip during the walk (parallel calls overlap)
REPLAY_RUNS = 9
NEW_PASSWORD = "Another-Strong-Pass-7"


@dataclass(frozen=True)
class Step:
    name: str
    function: str  # function (world.FUNCTIONS)
    event: str  # events/<event>.json
    body: dict[str, Any] | None
    expect: int
    save: dict[str, str] = field(default_factory=dict)  # state name -> field of the JSON answer
    tokens: tuple[str, ...] = ()  # state names for the tokens of the emails this step causes
    claims_of: str | None = None  # state name of an access token whose claims the authorizer passes
    headers: dict[str, str] = field(default_factory=dict)


TOKENS = {"access_token": "access_token", "refresh_token": "refresh_token"}
WALK: tuple[Step, ...] = (
    Step("register", "register", "register", {"email": "{email}", "password": "{password}"}, 202,
         tokens=("verify_token",)),
    Step("verify", "verify_email", "verify_email", {"token": "{verify_token}"}, 200),
    Step("login", "login", "login", {"email": "{email}", "password": "{password}"}, 200, save=TOKENS),
    Step("me", "session", "me", None, 200, claims_of="access_token",
         headers={"authorization": "Bearer {access_token}"}),
    Step("sessions", "account", "account_sessions", None, 200, claims_of="access_token",
         headers={"authorization": "Bearer {access_token}"}),
    Step("refresh", "session", "refresh", {"refresh_token": "{refresh_token}"}, 200, save=TOKENS),
    Step("logout", "session", "logout", {"refresh_token": "{refresh_token}"}, 204),
    Step("reset request", "password_reset", "password_reset", {"email": "{email}"}, 202, tokens=("reset_token",)),
    Step("reset confirm", "password_reset", "password_reset_confirm",
         {"token": "{reset_token}", "password": "{new_password}"}, 200),
    # Two-factor: enrol (the reset ended the sessions, so log in again), then the two-step login.
    Step("login again", "login", "login", {"email": "{email}", "password": "{new_password}"}, 200, save=TOKENS),
    Step("totp enrol", "mfa", "mfa_totp_enrol", None, 200, save={"totp_secret": "secret"},
         claims_of="access_token", headers={"authorization": "Bearer {access_token}"}),
    Step("totp confirm", "mfa", "mfa_totp_confirm", {"code": "{totp_code}"}, 200,
         save={"recovery_code": "recovery_codes.0", "spare_code": "recovery_codes.1"}, claims_of="access_token",
         headers={"authorization": "Bearer {access_token}"}),
    Step("login (mfa_required)", "login", "login", {"email": "{email}", "password": "{new_password}"}, 401,
         save={"mfa_token": "mfa_token"}),
    # A recovery code: the confirm's TOTP code cannot be used again within its 30 s step.
    Step("login/mfa", "login", "login_mfa", {"mfa_token": "{mfa_token}", "recovery_code": "{recovery_code}"}, 200,
         save=TOKENS),
    # Removed again, so the account logs in with its password alone afterwards (the login timing).
    Step("totp remove", "mfa", "mfa_totp_remove", {"password": "{new_password}", "recovery_code": "{spare_code}"},
         204, claims_of="access_token", headers={"authorization": "Bearer {access_token}"}),
)
ACCOUNTS = (("ada@example.com", "198.51.100.7"), ("grace@example.com", "198.51.100.8"))  # cold, warm


@dataclass
class Invocation:
    label: str  # step name, "mailer", "cleanup"
    function: str
    event: dict[str, Any]
    status: int | None
    calls: list[hooks.Call]
    stdout: str
    answer_length: int
    wall: float
    cause: str = ""  # for the mailer: the step that queued the job
    answer: Any = None  # the JSON answer of an API request, parsed
    account: str = ""
    units: capacity.Units = field(default_factory=capacity.Units)
    replay_wall: float | None = None  # median handler time on the replay stub
    replay_cpu: float | None = None
    replay_note: str = ""

    def count(self, service: str, operation: str | None = None) -> int:
        return sum(1 for c in self.calls if c.service == service and operation in (None, c.operation))

    @property
    def emails(self) -> int:
        return self.count("sesv2", "SendEmail") + self.count("ses", "SendRawEmail") + self.count("ses", "SendEmail")


def _pick(answer: Any, path: str) -> str:
    """A field of the JSON answer; `recovery_codes.0` is the first of a list."""
    for part in path.split("."):
        answer = answer[int(part)] if isinstance(answer, list) else answer[part]
    return answer


def _fill(value: Any, state: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**state) if "{" in value else value
    if isinstance(value, dict):
        return {k: _fill(v, state) for k, v in value.items()}
    return value


def authorizer_claims(token: str) -> dict[str, str]:
    """The claims API Gateway's JWT authorizer passes on: every claim as a string."""
    import jwt

    claims = jwt.decode(token, options={"verify_signature": False})

    def text(value: Any) -> str:
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, list):
            return "[" + " ".join(str(v) for v in value) + "]"
        return str(value)

    return {name: text(value) for name, value in claims.items()}


class Walker:
    def __init__(self, queue_url: str) -> None:
        self.c = world.conftest()
        self.queue_url = queue_url
        self.recorder = hooks.install()
        self.invocations: list[Invocation] = []
        self.account = ""
        self.failures: dict[str, str] = {}  # step -> why it has no figures

    def invoke(self, folder: str, label: str, event: dict[str, Any], *, handler: Any = None,
               cause: str = "") -> tuple[Invocation, Any]:
        module = world.import_handler(folder)
        handler = handler or module.lambda_handler
        with world.capture_stdout() as printed, self.recorder.window() as calls:
            start = time.perf_counter()
            try:
                result = handler(event, world.context(folder))
            finally:
                wall = time.perf_counter() - start
        status = result.get("statusCode") if isinstance(result, dict) else None
        body = result.get("body") if isinstance(result, dict) and "statusCode" in result else None
        text = body if isinstance(body, str) else json.dumps(result, default=str)
        answer = None
        if isinstance(body, str) and body:
            try:
                answer = json.loads(body)
            except ValueError:
                answer = body
        invocation = Invocation(label, folder, event, status, list(calls), printed.getvalue(), len(text or ""),
                                wall, cause=cause, answer=answer, account=self.account)
        invocation.units = capacity.units(invocation.calls)
        self.invocations.append(invocation)
        return invocation, result

    def drain(self, cause: str) -> list[dict[str, Any]]:
        """The mailer over whatever is queued, each of its invocations recorded (the drain's own
        receive/delete calls, the event source mapping's work, fall outside the windows)."""
        module = world.import_handler("mailer")
        original = module.lambda_handler

        def recorded(event: dict[str, Any], context: Any) -> Any:
            return self.invoke("mailer", "mailer", event, handler=original, cause=cause)[1]

        module.lambda_handler = recorded
        try:
            with world.capture_stdout():
                return self.c.drain_emails(self.queue_url)
        finally:
            module.lambda_handler = original

    def api_event(self, step: Step, state: dict[str, str], ip: str) -> dict[str, Any]:
        body = _fill(step.body, state) if step.body is not None else None
        event = self.c.api_event(step.event, body, ip=ip, headers=_fill(step.headers, state) or None)
        if step.claims_of:
            context = event["requestContext"]
            context["authorizer"] = {"jwt": {"claims": authorizer_claims(state[step.claims_of]), "scopes": None}}
        return event

    def step(self, step: Step, state: dict[str, str], ip: str, *, drain: bool = True) -> Invocation:
        if "totp_secret" in state:  # the authenticator app's current code
            state["totp_code"] = pyotp.TOTP(state["totp_secret"]).now()
        invocation, _ = self.invoke(step.function, step.name, self.api_event(step, state, ip))
        if invocation.status != step.expect:
            raise RuntimeError(f"{step.name}: HTTP {invocation.status} (expected {step.expect}): "
                               f"{str(invocation.answer)[:300]}")
        for name, path in step.save.items():
            state[name] = _pick(invocation.answer, path)
        if not drain:
            return invocation
        tokens = [token for token in map(self._token, self.drain(step.name)) if token]
        if len(tokens) < len(step.tokens):
            raise RuntimeError(f"{step.name}: expected {len(step.tokens)} email(s) with a link, got {len(tokens)}")
        state.update(zip(step.tokens, tokens))
        return invocation

    def _token(self, email: dict[str, Any]) -> str | None:
        try:
            return self.c.token_from(email)
        except AssertionError:
            return None

    def walk(self, email: str, ip: str, steps: tuple[Step, ...] = WALK) -> dict[str, Invocation]:
        """One account's life. A step that fails is reported in `failures` and the walk goes on
        with the steps that do not need what it would have produced (the code is being rewritten
        while the bench runs: one broken request should not hide the others' figures)."""
        state = {"email": email, "password": self.c.PASSWORD, "new_password": NEW_PASSWORD}
        self.account = email
        done: dict[str, Invocation] = {}
        for step in steps:
            try:
                done[step.name] = self.step(step, state, ip)
            except KeyError as missing:
                self.failures.setdefault(step.name, f"skipped: needs {missing} from an earlier step")
            except Exception as error:  # noqa: BLE001 - reported beside the figures
                self.failures.setdefault(step.name, f"{type(error).__name__}: {error}"[:300])
        return done


@dataclass
class WalkResult:
    cold: dict[str, Invocation]  # first account: first invocation of each function in this process
    warm: dict[str, Invocation]  # second account: the same requests, warm
    mailer: list[Invocation]  # every mailer invocation (cause = the step)
    cleanup: Invocation | None
    items: list[dict[str, Any]]  # every item of the table after the walk
    keys: tuple[str, ...]  # the table's key attribute names
    all: list[Invocation]
    moto_login: list[float]  # warm login on moto without simulated latency (information)
    environment: dict[str, str]  # what the walk added to the functions' environment (queue URL)
    failures: dict[str, str]  # step -> why it has no figures


_result: WalkResult | None = None
_error: Exception | None = None


def result() -> WalkResult:
    """The walk, once per bench run (the units, login and cost sections share it)."""
    global _result, _error
    if _error is not None:
        raise RuntimeError(f"the walk failed earlier in this run: {_error}") from _error
    if _result is None:
        try:
            _result = run()
        except Exception as error:
            _error = error
            raise
    return _result


def run(moto_login_runs: int = 15) -> WalkResult:
    from moto import mock_aws

    from local.moto_support import serialize_dynamodb

    recorder = hooks.install()
    serialize_dynamodb()
    with world.environment():
        mock = mock_aws()
        mock.start()
        try:
            import boto3

            extra = world.create_resources(lambda service: boto3.client(service, region_name=world.REGION))
            os.environ.update(extra)
            world.reset_caches()
            recorder.probe = capacity.TableProbe()
            recorder.latency = LATENCY
            walker = Walker(extra["EMAIL_QUEUE_URL"])
            try:
                cold = walker.walk(*ACCOUNTS[0])
                warm = walker.walk(*ACCOUNTS[1])
                try:
                    cleanup = walker.invoke("cleanup", "cleanup", world.conftest().load_event("schedule"))[0]
                except Exception as error:  # noqa: BLE001 - reported
                    cleanup = None
                    walker.failures["cleanup"] = f"{type(error).__name__}: {error}"[:300]
            finally:
                recorder.latency = 0.0
            items, keys = capacity.table_items()
            moto_login: list[float] = []
            if "login" in warm:
                password = NEW_PASSWORD if "reset confirm" in warm else walker.c.PASSWORD
                try:
                    moto_login = _time_on_moto(warm["login"], password, moto_login_runs)
                except Exception as error:  # noqa: BLE001 - information only
                    walker.failures["login on moto"] = f"{type(error).__name__}: {error}"[:300]
        finally:
            recorder.probe = hooks._Probe()
            mock.stop()
        result = WalkResult(cold, warm, [i for i in walker.invocations if i.label == "mailer"], cleanup, items, keys,
                            list(walker.invocations), moto_login, extra,
                            walker.failures)
        # Replay with moto stopped; anything the recording cannot answer fails fast, offline.
        os.environ["AWS_ENDPOINT_URL"] = "http://127.0.0.1:9"
        world.reset_caches()
        timed = [*warm.values(), *[m for m in result.mailer if m.account == ACCOUNTS[1][0]],
                 *([cleanup] if cleanup else [])]
        replay_times(timed, pool=[c for inv in walker.invocations for c in inv.calls])
    return result


def _time_on_moto(login: Invocation, password: str, runs: int) -> list[float]:
    samples = []
    for n in range(runs + 1):
        event = copy.deepcopy(login.event)
        event["requestContext"]["http"]["sourceIp"] = f"203.0.113.{n + 1}"
        event["body"] = json.dumps({**json.loads(event["body"]), "password": password})
        with world.capture_stdout():
            start = time.perf_counter()
            login_module = world.import_handler(login.function)
            answer = login_module.lambda_handler(event, world.context(login.function))
            elapsed = time.perf_counter() - start
        if answer.get("statusCode") != login.status:
            raise RuntimeError(f"login on moto: HTTP {answer.get('statusCode')}")
        if n:
            samples.append(elapsed)
    return samples


def replay_once(invocation: Invocation, replay: hooks.Replay) -> tuple[float, float, Any]:
    """One call of the handler on the replay stub: (wall, process CPU, result)."""
    module = world.import_handler(invocation.function)
    context = world.context(invocation.function)
    event = copy.deepcopy(invocation.event)
    replay.reset()
    with world.capture_stdout(), hooks.replaying(replay):
        cpu, start = time.process_time(), time.perf_counter()
        result = module.lambda_handler(event, context)
        wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return wall, cpu, result


def replay_times(invocations: list[Invocation], pool: list[hooks.Call], runs: int = REPLAY_RUNS) -> None:
    """Median handler time of each invocation on its recorded answers (interleaved)."""
    replays = [hooks.Replay(inv.calls, pool) for inv in invocations]
    samples: list[list[tuple[float, float]]] = [[] for _ in invocations]
    for run_number in range(runs + 1):  # the first round warms up (not counted)
        for index, (invocation, replay) in enumerate(zip(invocations, replays)):
            if invocation.replay_note:
                continue
            try:
                wall, cpu, answer = replay_once(invocation, replay)
            except Exception as error:  # noqa: BLE001 - reported beside the figure
                invocation.replay_note = f"replay failed: {type(error).__name__}: {error}"[:160]
                continue
            status = answer.get("statusCode") if isinstance(answer, dict) else None
            if status != invocation.status:
                invocation.replay_note = f"replay answered {status}, not {invocation.status}"
            elif run_number:
                samples[index].append((wall, cpu))
    for invocation, measured in zip(invocations, samples):
        if measured:
            invocation.replay_wall = statistics.median(w for w, _ in measured)
            invocation.replay_cpu = statistics.median(c for _, c in measured)
