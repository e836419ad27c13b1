"""What a part of the local AWS is: a :class:`LocalService`, and the request it sees.

A service may patch moto (:meth:`LocalService.patch`, checked against the moto version it was written for before
anything is patched), answer control endpoints under ``/_sqsq/`` (:meth:`LocalService.endpoints`) and look at every
AWS request before moto does (:meth:`LocalService.on_request`: count it, or answer it with an injected fault).
:class:`sqsq.local.middleware.AwsRequestMiddleware` composes them; :func:`sqsq.local.services.default_services`
lists them.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qs

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

__all__ = ["AwsRequest", "ControlHandler", "LocalService", "json_response", "read_body", "rest_action"]

ControlHandler = Callable[[bytes], tuple[str, Any]]
"""A control endpoint: the request body in, ``(HTTP status line, JSON-able payload)`` out."""

_SCOPE_RE = re.compile(r"Credential=[^/,\s]+/\d{8}/[^/]+/([^/]+)/aws4_request")
_TARGET_SERVICES = {
    "AmazonSQS": "sqs",
    "DynamoDB_20120810": "dynamodb",
    "DynamoDBStreams_20120810": "dynamodbstreams",
}


@dataclass(frozen=True)
class AwsRequest:
    """An AWS request on its way to moto.

    Attributes:
        service: the service it is for (``"sqs"``, ``"dynamodb"``); ``"unknown"`` when it cannot be told.
        action: the API action (``"SendMessage"``); ``"unknown"`` when it cannot be told.
        environ: the WSGI environment (its body, if read, is rewound for moto).
    """

    service: str
    action: str
    environ: WSGIEnvironment

    @property
    def key(self) -> str:
        """``service:Action``, as the request counter names it."""
        return f"{self.service}:{self.action}"

    @classmethod
    def from_environ(cls, environ: WSGIEnvironment) -> AwsRequest:
        """Classify a request; see :meth:`classify`."""
        service, action = cls.classify(environ)
        return cls(service, action, environ)

    @staticmethod
    def classify(environ: WSGIEnvironment) -> tuple[str, str]:
        """``(service, action)`` of an AWS request; ``"unknown"`` for either part that cannot be told.

        The service is the SigV4 credential scope's (``.../us-east-1/sqs/aws4_request``), else the
        ``X-Amz-Target`` prefix's. The action is the ``X-Amz-Target`` suffix (JSON protocols, such as SQS and
        DynamoDB under boto3 1.44), else the ``Action`` form field or query parameter (query protocol).
        Reading a form body rewinds ``wsgi.input`` for moto.
        """
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        match = _SCOPE_RE.search(environ.get("HTTP_AUTHORIZATION", ""))
        service = match.group(1) if match else None
        action = None
        if "." in target:
            prefix, action = target.rsplit(".", 1)
            service = service or _TARGET_SERVICES.get(prefix, prefix.lower())
        if action is None and service == "scheduler":  # issue 12: a REST API, named by method and path
            action = rest_action(environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", ""))
        if action is None:
            sources = [environ.get("QUERY_STRING", "")]
            if environ.get("REQUEST_METHOD") == "POST" and "form-urlencoded" in environ.get("CONTENT_TYPE", ""):
                sources.insert(0, read_body(environ).decode("utf-8", "replace"))
            for source in sources:
                values = parse_qs(source).get("Action") if "Action=" in source else None
                if values:
                    action = values[0]
                    break
        return service or "unknown", action or "unknown"


class LocalService:
    """One part of the local AWS. Subclasses override what they need; the defaults do nothing.

    Attributes:
        name: short name, for messages (``"sqs"``).
        moto_version: the moto version the service's patches were written for (checked before any patch is
            applied, see :func:`sqsq.local.services.moto_version.check_moto_version`); None when it patches nothing.
    """

    name: ClassVar[str] = "service"
    moto_version: ClassVar[str | None] = None

    def patch(self) -> None:
        """Patch moto in this process. Idempotent; called once the moto version has been checked."""

    def endpoints(self) -> Mapping[tuple[str, str], ControlHandler]:
        """Control endpoints by ``(HTTP method, path)``, paths under ``/_sqsq/``."""
        return {}

    def on_request(self, request: AwsRequest, start_response: StartResponse) -> Iterable[bytes] | None:
        """Look at an AWS request before moto does.

        Returns:
            a response to send instead of moto's, or None to let the request through.
        """
        return None

    def start(self) -> None:
        """Start the service's background work (a thread), in the server process once it serves. Default: none."""

    def stop(self) -> None:
        """Stop what :meth:`start` started; called when the server stops. Default: nothing."""


_SCHEDULER_ACTIONS = {
    ("GET", "schedules"): "ListSchedules",
    ("POST", "schedules/"): "CreateSchedule",
    ("GET", "schedules/"): "GetSchedule",
    ("PUT", "schedules/"): "UpdateSchedule",
    ("DELETE", "schedules/"): "DeleteSchedule",
    ("GET", "schedule-groups"): "ListScheduleGroups",
    ("POST", "schedule-groups/"): "CreateScheduleGroup",
    ("GET", "schedule-groups/"): "GetScheduleGroup",
    ("DELETE", "schedule-groups/"): "DeleteScheduleGroup",
    ("GET", "tags/"): "ListTagsForResource",
    ("POST", "tags/"): "TagResource",
    ("DELETE", "tags/"): "UntagResource",
}


def rest_action(method: str, path: str) -> str | None:
    """The EventBridge Scheduler action of a REST request (``POST /schedules/NAME`` is ``CreateSchedule``).

    https://docs.aws.amazon.com/scheduler/latest/APIReference/API_Operations.html; None when unknown.
    """
    collection, slash, _ = path.strip("/").partition("/")
    return _SCHEDULER_ACTIONS.get((method, collection + slash))


def read_body(environ: WSGIEnvironment) -> bytes:
    """The request body, leaving ``wsgi.input`` rewound for the next reader."""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    stream = environ["wsgi.input"]
    body: bytes = stream.read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


def json_response(start_response: StartResponse, status: str, payload: Any) -> list[bytes]:
    """Answer with ``payload`` as JSON."""
    body = json.dumps(payload).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]
