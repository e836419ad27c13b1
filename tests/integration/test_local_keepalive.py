"""The local AWS keeps HTTP/1.1 connections open between SDK requests, and closes them where werkzeug did."""

from __future__ import annotations

import http.client
import json
from urllib.parse import urlparse

import pytest

from sqsq.local.server import LocalAwsServer

pytestmark = pytest.mark.usefixtures("local_aws")

AUTH = ("AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/dynamodb/aws4_request, "
        "SignedHeaders=host, Signature=x")


def connect(server: LocalAwsServer) -> http.client.HTTPConnection:
    url = urlparse(server.endpoint_url)
    return http.client.HTTPConnection(url.hostname, url.port, timeout=10)


def list_tables(conn: http.client.HTTPConnection, **extra: str) -> http.client.HTTPResponse:
    body = b"{}"
    headers = {"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0",
               "Authorization": AUTH, **extra}
    if "Transfer-Encoding" not in extra:
        headers["Content-Length"] = str(len(body))
    conn.request("POST", "/", body=body, headers=headers)
    return conn.getresponse()


def test_sdk_requests_share_one_connection(local_aws: LocalAwsServer) -> None:
    conn = connect(local_aws)
    try:
        for _ in range(3):
            response = list_tables(conn)
            assert response.status == 200
            assert "TableNames" in json.loads(response.read())
            assert response.getheader("Connection") is None
            assert not response.will_close
        assert conn.sock is not None  # still the first connection
    finally:
        conn.close()


def test_a_request_that_asks_to_close_is_answered_and_closed(local_aws: LocalAwsServer) -> None:
    conn = connect(local_aws)
    try:
        response = list_tables(conn, Connection="close")
        assert response.status == 200
        assert json.loads(response.read())["TableNames"] is not None
        assert response.will_close
    finally:
        conn.close()


def test_a_chunked_request_is_served_by_werkzeug_and_closed(local_aws: LocalAwsServer) -> None:
    conn = connect(local_aws)
    try:
        conn.putrequest("POST", "/")
        for key, value in {"X-Amz-Target": "DynamoDB_20120810.ListTables", "Authorization": AUTH,
                           "Content-Type": "application/x-amz-json-1.0", "Transfer-Encoding": "chunked"}.items():
            conn.putheader(key, value)
        conn.endheaders()
        conn.send(b"2\r\n{}\r\n0\r\n\r\n")
        response = conn.getresponse()
        assert response.status == 200
        assert "TableNames" in json.loads(response.read())
        assert response.getheader("Connection") == "close"
    finally:
        conn.close()


def test_a_request_the_service_fails_on_is_answered_500_on_a_kept_alive_connection(local_aws: LocalAwsServer) -> None:
    # moto raises on this body; werkzeug answers 500 (and so must the keep-alive path), not a dropped connection.
    conn = connect(local_aws)
    try:
        body = b"not json"
        conn.request("POST", "/", body=body, headers={
            "X-Amz-Target": "DynamoDB_20120810.PutItem", "Content-Type": "application/x-amz-json-1.0",
            "Authorization": AUTH, "Content-Length": str(len(body))})
        response = conn.getresponse()
        assert response.status == 500
        response.read()
        assert response.will_close
    finally:
        conn.close()


def test_a_request_with_a_non_ascii_digit_content_length_is_answered_as_werkzeug_answers_it(
    local_aws: LocalAwsServer,
) -> None:
    # "²" (latin-1 0xB2) passes str.isdigit() but not int(): the keep-alive path must leave it to werkzeug, which
    # answers, rather than fail and close the connection with no response.
    import socket

    url = urlparse(local_aws.endpoint_url)
    request = (b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: DynamoDB_20120810.ListTables\r\n"
               b"Content-Type: application/x-amz-json-1.0\r\nAuthorization: " + AUTH.encode() +
               b"\r\nContent-Length: \xb2\r\n\r\n{}")
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(request)
        answer = sock.recv(65536)
    assert answer.startswith(b"HTTP/1.1 ")
