"""The local Lambda Runtime API (sqsq.local.lambda_runtime.api) over real HTTP, without a runtime process."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from sqsq.local.lambda_runtime.api import RuntimeApiServer


@pytest.fixture
def api() -> Iterator[tuple[RuntimeApiServer, str]]:
    server = RuntimeApiServer("Test")
    address = server.start()
    try:
        yield server, address
    finally:
        server.close()


def _request(address: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
             ) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(address, timeout=10)
    try:
        conn.request(method, path, None if body is None else json.dumps(body), headers or {})
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def test_next_blocks_until_an_invocation_and_carries_lambdas_headers(api: tuple[RuntimeApiServer, str]) -> None:
    server, address = api
    got: dict[str, Any] = {}
    runtime = threading.Thread(
        target=lambda: got.update(reply=_request(address, "GET", "/2018-06-01/runtime/invocation/next"))
    )
    runtime.start()
    assert server.wait_for_runtime(10) == "ready"
    assert runtime.is_alive()  # blocked until an invocation exists

    invocation = server.submit({"Records": []}, 3, "arn:aws:lambda:us-east-1:123456789012:function:f")
    runtime.join(10)

    status, headers, body = got["reply"]
    assert status == 200 and json.loads(body) == {"Records": []}
    assert headers["Lambda-Runtime-Aws-Request-Id"] == invocation.request_id
    assert int(headers["Lambda-Runtime-Deadline-Ms"]) == int(invocation.deadline_epoch_seconds * 1000)
    assert headers["Lambda-Runtime-Invoked-Function-Arn"].endswith(":function:f")
    assert headers["Lambda-Runtime-Trace-Id"].startswith("Root=1-")


def test_response_and_error_are_reported_by_request_id(api: tuple[RuntimeApiServer, str]) -> None:
    server, address = api
    ok = _request(address, "POST", "/2018-06-01/runtime/invocation/r1/response", {"batchItemFailures": []})
    err = _request(address, "POST", "/2018-06-01/runtime/invocation/r2/error",
                   {"errorMessage": "boom", "errorType": "ValueError"},
                   {"Lambda-Runtime-Function-Error-Type": "Unhandled"})

    assert ok[0] == err[0] == 202
    response, error = server.wait_for_report("r1", 1), server.wait_for_report("r2", 1)
    assert response is not None and (response.kind, response.payload) == ("response", {"batchItemFailures": []})
    assert error is not None and (error.kind, error.error_type) == ("error", "Unhandled")
    assert server.wait_for_report("r3", 0) is None


def test_init_error_is_recorded_and_unknown_paths_are_404(api: tuple[RuntimeApiServer, str]) -> None:
    server, address = api
    status, _, _ = _request(address, "POST", "/2018-06-01/runtime/init/error",
                            {"errorMessage": "No module named 'x'", "errorType": "Runtime.ImportModuleError"},
                            {"Lambda-Runtime-Function-Error-Type": "Runtime.ImportModuleError"})

    assert status == 202
    assert server.wait_for_runtime(1) == "init_error"
    assert server.init_error is not None and server.init_error.error_type == "Runtime.ImportModuleError"
    assert _request(address, "GET", "/2018-06-01/runtime/other")[0] == 404
