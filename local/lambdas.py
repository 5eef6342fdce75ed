"""The Lambda side of local mode: the context object, a template function imported into this
process, and the SQS event source mapping that drains a queue into a function."""

from __future__ import annotations

import base64
import hashlib
import importlib
import secrets
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from local.common import (
    INVOKE_LOCK,
    log,
)
from local.template_model import Function, QueueSubscription

if TYPE_CHECKING:
    from local.server import LocalApp

class LambdaContext:
    """The few attributes of Lambda's context object that handlers and Powertools read."""

    def __init__(
        self, function_name: str, memory_mb: int, timeout_s: int, region: str, account_id: str
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"{datetime.now(UTC):%Y/%m/%d}/[$LATEST]{secrets.token_hex(16)}"
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class LocalFunction:
    """One function of the template, imported into this process."""

    def __init__(self, app: LocalApp, definition: Function) -> None:
        self.app = app
        self.definition = definition
        self.logical_id = definition.logical_id
        self.name = app.template.function_name(definition.logical_id)
        self.handler: Callable[[Any, Any], Any] | None = None
        self.import_error: BaseException | None = None

    def load(self) -> None:
        code_dir = str(self.app.template.code_dir(self.definition))
        if code_dir not in sys.path:
            sys.path.insert(0, code_dir)
        try:
            module = importlib.import_module(self.definition.module)
            self.handler = getattr(module, self.definition.attribute)
            self.import_error = None
        except BaseException as error:  # noqa: BLE001 - reported, and answered 500 per request
            self.handler = None
            self.import_error = error
            log(f"!! cannot import {self.definition.handler} ({self.logical_id}):")
            traceback.print_exc()

    def invoke(self, event: Any) -> Any:
        if self.handler is None:
            self.load()  # retry: the developer may have fixed the module meanwhile
            if self.handler is None:
                raise RuntimeError(f"{self.definition.handler} cannot be imported") from self.import_error
        context = LambdaContext(
            self.name,
            self.definition.memory_size,
            self.definition.timeout,
            self.app.region,
            self.app.account_id,
        )
        with INVOKE_LOCK:
            return self.handler(event, context)


class QueueDrainer(threading.Thread):
    """Lambda's SQS event source mapping: receive, invoke, delete what succeeded."""

    def __init__(self, app: LocalApp, function: LocalFunction, subscription: QueueSubscription) -> None:
        super().__init__(name=f"drain-{subscription.queue_logical_id}", daemon=True)
        self.app = app
        self.function = function
        self.subscription = subscription
        self.queue_url = app.queue_urls[subscription.queue_logical_id or ""]
        self.queue_arn = app.queue_arns[subscription.queue_logical_id or ""]
        self.stopping = threading.Event()
        self.client = app.client("sqs")

    def run(self) -> None:
        client = self.client
        while not self.stopping.is_set():
            try:
                response = client.receive_message(
                    QueueUrl=self.queue_url,
                    MaxNumberOfMessages=max(1, min(10, self.subscription.batch_size)),
                    WaitTimeSeconds=1,
                    MessageSystemAttributeNames=["All"],
                    MessageAttributeNames=["All"],
                )
            except Exception as error:  # noqa: BLE001 - keep draining; moto may be stopping
                if self.stopping.is_set():
                    return
                log(f"!! receiving from {self.queue_url} failed: {error}")
                time.sleep(0.5)
                continue
            messages = response.get("Messages") or []
            if messages:
                self._process(client, messages)
            self.app.emails.poll()

    def _process(self, client: Any, messages: list[dict[str, Any]]) -> None:
        event = {"Records": [self._record(m) for m in messages]}
        failed: set[str] | None
        try:
            result = self.function.invoke(event)
        except Exception:  # noqa: BLE001 - the whole batch stays on the queue, as in Lambda
            log(f"!! {self.function.definition.handler} raised; the batch will be retried:")
            traceback.print_exc()
            failed = None
        else:
            failed = self._failures(result, {m["MessageId"] for m in messages})
        if failed is None:
            return
        done = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            chunk = done[start : start + 10]
            client.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        if failed:
            log(f"[queue] {len(failed)} message(s) reported failed; they will be retried")

    def _failures(self, result: Any, message_ids: set[str]) -> set[str] | None:
        """Ids to keep on the queue (None: the whole batch), read like Lambda reads the response."""
        if not self.subscription.report_batch_item_failures:
            return set()
        if not isinstance(result, dict) or not result.get("batchItemFailures"):
            return set()
        failures = result["batchItemFailures"]
        if not isinstance(failures, list):
            return None
        ids = set()
        for item in failures:
            identifier = item.get("itemIdentifier") if isinstance(item, dict) else None
            if not identifier or identifier not in message_ids:
                return None  # Lambda treats a malformed response as a failure of the whole batch
            ids.add(identifier)
        return ids

    def _record(self, message: dict[str, Any]) -> dict[str, Any]:
        attributes = dict(message.get("Attributes") or {})
        attributes.setdefault("ApproximateReceiveCount", "1")
        attributes.setdefault("SentTimestamp", str(int(time.time() * 1000)))
        attributes.setdefault("SenderId", "AIDAIENQZJOLO23YVJ4VO")
        attributes.setdefault("ApproximateFirstReceiveTimestamp", str(int(time.time() * 1000)))
        message_attributes = {}
        for name, value in (message.get("MessageAttributes") or {}).items():
            binary = value.get("BinaryValue")
            message_attributes[name] = {
                "stringValue": value.get("StringValue"),
                "binaryValue": base64.b64encode(binary).decode() if isinstance(binary, bytes) else binary,
                "stringListValues": value.get("StringListValues", []),
                "binaryListValues": value.get("BinaryListValues", []),
                "dataType": value.get("DataType"),
            }
            if message_attributes[name]["binaryValue"] is None:
                del message_attributes[name]["binaryValue"]
            if message_attributes[name]["stringValue"] is None:
                del message_attributes[name]["stringValue"]
        body = message.get("Body", "")
        return {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": body,
            "attributes": attributes,
            "messageAttributes": message_attributes,
            "md5OfBody": message.get("MD5OfBody") or hashlib.md5(body.encode()).hexdigest(),
            "eventSource": "aws:sqs",
            "eventSourceARN": self.queue_arn,
            "awsRegion": self.app.region,
        }
