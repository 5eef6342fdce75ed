"""Local mode: the whole API on http://127.0.0.1:$PORT with no AWS account and no Docker.

    python -m local.server [--template PATH] [--port N] [--host ADDRESS]

What it does (product spec, section 5):

* starts moto in server mode in this process and points every boto3 client at it through the
  ordinary endpoint setting (AWS_ENDPOINT_URL), then creates the table (from template.yaml's own
  definition), the email queue and its dead-letter queue, the signing-key secret (a key ring
  with one fresh RSA key that signs at once), the SES identity of EMAIL_FROM and the SES
  configuration set;
* imports every function's handler module into this process and routes exactly the routes that
  template.yaml declares, with API Gateway HTTP API (payload 2.0) events built from the real
  HTTP request, the HTTP API's CORS configuration, and the JWT authorizer emulated;
* drains the email queue continuously with the SQS-triggered worker, as Lambda's event source
  mapping would, and prints every email SES "sent"; they are listed at GET /_local/emails.

A configuration the functions would refuse (the layer's settings model) stops the start with its
one line on stderr and exit status 2, before the port is ever listened on. SIGINT or SIGTERM stops
the server in a second or two (exit status 0), and within STOP_GRACE_SECONDS in any case.

Local-only routes: GET /_local/emails[?to=address&wait=seconds], DELETE /_local/emails,
POST /_local/cleanup, POST /_local/rotate-signing-key, GET /_local/routes, GET /_local/info.
The reference web app (web/, see local/web_app.py) is served at /app/.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import Any

from local import template as tpl
from local.common import (
    log,
)
from local.gateway import GatewayMixin
from local.http_front import Handler, Server
from local.lambdas import LocalFunction, QueueDrainer
from local.local_routes import LocalRoutesMixin
from local.mailbox import EmailLog
from local.metrics import MetricsLog
from local.resources import ResourcesMixin
from local.routing import Router
from local.template_model import Cors
from local.web_app import WebApp

EXIT_BAD_CONFIGURATION = 2
# Within this long of SIGINT/SIGTERM the process is gone (an orderly stop takes a second or two).
STOP_GRACE_SECONDS = 5.0


class LocalApp(ResourcesMixin, GatewayMixin, LocalRoutesMixin):
    """The whole local API: the template's functions on moto, behind the HTTP front (http_front).

    Its parts: resources (moto, the template's resources, workers), gateway (events, CORS, the
    authorizer) and local_routes (/_local/)."""

    def __init__(self, template_path: str | os.PathLike[str], *, host: str, port: int) -> None:
        self.template_path = Path(template_path)
        self.host = host
        self.port = port
        self.region = os.environ["AWS_DEFAULT_REGION"]
        self.account_id = tpl.DEFAULT_ACCOUNT_ID
        self.template = tpl.Template(self.template_path, region=self.region, account_id=self.account_id)
        self.functions: dict[str, LocalFunction] = {}
        self.router = Router([])
        self.queue_urls: dict[str, str] = {}
        self.queue_arns: dict[str, str] = {}
        self.cors: Cors | None = None
        self.emails = EmailLog(self.account_id, self.region)
        self.metrics = MetricsLog()
        self.web_app = WebApp()  # web/ (or LOCAL_WEB_DIR) at /app/
        self.drainers: list[QueueDrainer] = []
        self.environment: dict[str, str] = {}
        self._keys_cache: tuple[Any, Any] | None = None
        self._keys_lock = threading.Lock()
        self.moto: Any = None
        self.aws_endpoint = ""
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()

    def client(self, service: str) -> Any:
        """One boto3 client per service for the server's own calls (clients are thread-safe; creating
        them from several threads at once is not)."""
        with self._clients_lock:
            if service not in self._clients:
                import boto3

                self._clients[service] = boto3.session.Session().client(service, region_name=self.region)
            return self._clients[service]

    @property
    def base_url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"


def _prepare_process_environment() -> None:
    """AWS settings that keep every client on moto, whatever the shell or ~/.aws say."""
    region = os.environ.get("AWS_DEFAULT_REGION") or os.environ.get("AWS_REGION") or tpl.DEFAULT_REGION
    os.environ["AWS_DEFAULT_REGION"] = region
    os.environ["AWS_REGION"] = region
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    for name in list(os.environ):
        if name.startswith("AWS_ENDPOINT_URL_") or name in (
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
            "AWS_LAMBDA_FUNCTION_NAME",
        ):
            del os.environ[name]
    if os.environ.get("AWS_ACCESS_KEY_ID") == "testing":
        os.environ.pop("AWS_SESSION_TOKEN", None)
    # No profile or endpoint from ~/.aws can redirect a client away from moto.
    os.environ["AWS_CONFIG_FILE"] = os.devnull
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


class StopRequest:
    """SIGINT (Ctrl+C) and SIGTERM: the first asks for an orderly stop; one more, a second or more
    later, ends the process at once (make passes a SIGTERM sent to its process group on to us, so
    the same stop request often arrives twice within milliseconds).

    The orderly stop has STOP_GRACE_SECONDS: a watchdog then ends the process whatever still runs,
    e.g. a thread blocked writing to a stdout pipe that nobody reads (a full pipe blocks every log
    line, the stop's own included) or a worker thread retrying a call to the stopped moto."""

    def __init__(self) -> None:
        self.requested = threading.Event()
        self._first = 0.0

    def handle(self, signum: int, _frame: Any) -> None:
        if self.requested.is_set():
            if time.monotonic() - self._first >= 1.0:
                os._exit(128 + signum)
            return
        self._first = time.monotonic()
        self.requested.set()
        watchdog = threading.Timer(STOP_GRACE_SECONDS, os._exit, args=(128 + signum,))
        watchdog.daemon = True
        watchdog.start()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m local.server", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--template",
        default=os.environ.get("LOCAL_TEMPLATE") or str(tpl.DEFAULT_TEMPLATE),
        help="SAM template to serve (default: the repository's template.yaml; env LOCAL_TEMPLATE)",
    )
    parser.add_argument(
        "--host", default=os.environ.get("HOST", "127.0.0.1"), help="address to bind (127.0.0.1)"
    )
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("PORT") or 3000), help="port (env PORT, 3000)"
    )
    args = parser.parse_args(argv)

    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    _prepare_process_environment()

    handler_class = type("BoundHandler", (Handler,), {})
    # Bound now (a port in use fails here, and port 0 gets its number for the issuer URL), listening
    # only once every function can answer: until then a client is refused, never left waiting.
    httpd = Server((args.host, args.port), handler_class, bind_and_activate=False)
    try:
        httpd.server_bind()
    except OSError as error:
        httpd.server_close()
        print(f"cannot listen on {args.host}:{args.port}: {error}", file=sys.stderr)
        return 1
    app = LocalApp(args.template, host=args.host, port=httpd.server_address[1])
    handler_class.app = app
    app.metrics.install()  # the handlers' EMF lines go to GET /_local/metrics, not the console

    app.start_moto()
    try:
        app.add_layer_paths()
        app.create_resources()
        app.configure_environment()
        # A configuration the functions would refuse stops here, instead of serving 500s.
        problem = app.configuration_error()
        if problem is not None:
            print(problem, file=sys.stderr, flush=True)
            app.stop()
            httpd.server_close()
            return EXIT_BAD_CONFIGURATION
        app.create_email_resources()
        app.load_functions()
        app.start_workers()
        httpd.server_activate()
    except Exception:  # noqa: BLE001 - reported; the exit code says it failed
        traceback.print_exc()
        app.stop()
        httpd.server_close()
        return 1

    stop = StopRequest()
    signal.signal(signal.SIGINT, stop.handle)
    signal.signal(signal.SIGTERM, stop.handle)

    serving = threading.Thread(
        target=httpd.serve_forever, kwargs={"poll_interval": 0.2}, name="http", daemon=True
    )
    serving.start()
    log(app.banner())
    while not stop.requested.wait(0.5):
        pass
    log("Stopping...")
    httpd.shutdown()
    httpd.server_close()
    app.stop()
    log("Stopped.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl+C during start-up
        sys.exit(130)
