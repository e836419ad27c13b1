"""The dashboard's security rules that need no AWS: Host (DNS rebinding), Origin on POSTs, the token's shape, and
which argument keys are masked."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

from sqsq import App
from sqsq.dashboard import create_app
from sqsq.dashboard.security import check_bind
from sqsq.errors import ConfigError
from sqsq.monitoring import Monitor
from sqsq.monitoring.masking import MASK, mask


@pytest.fixture
def api() -> object:
    return create_app(Monitor(App("sec", endpoint_url="http://unused.invalid"), read_oldest_age=False))


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:8642", "http://localhost:8642", "http://[::1]:8642"])
def test_loopback_host_names_are_served(api: object, base_url: str) -> None:
    with TestClient(api, base_url=base_url) as client:  # type: ignore[arg-type]
        assert client.get("/healthz").status_code == 200


def test_another_host_name_is_refused_without_a_token_against_dns_rebinding(api: object) -> None:
    # A page of attacker.example that rebinds its name to 127.0.0.1 sends Host: attacker.example.
    with TestClient(api, base_url="http://attacker.example:8642") as client:  # type: ignore[arg-type]
        assert client.get("/healthz").status_code == 403
        assert client.get("/failures").status_code == 403


def test_a_post_from_another_origin_is_refused_even_with_the_csrf_token(api: object) -> None:
    with TestClient(api, base_url="http://127.0.0.1:8642") as client:  # type: ignore[arg-type]
        client.get("/healthz")
        response = client.post("/api/failures/redrive", data={"csrf": "x"},
                               headers={"Origin": "https://evil.example"})
        assert response.status_code == 403 and "cross-origin" in response.text


@pytest.mark.parametrize("token", [" " * 16, "a" * 32, " abcdefghijklmnopq", "short"])
def test_a_weak_token_is_refused_for_a_non_loopback_bind(token: str) -> None:
    with pytest.raises(ConfigError, match="token"):
        check_bind("0.0.0.0", token)


def test_a_random_token_is_accepted_for_a_non_loopback_bind() -> None:
    check_bind("0.0.0.0", "q8Zk2V_x9mLr4TfW0pYc")


@pytest.mark.parametrize("key", ["password", "passphrase", "api_key", "access_key", "AWS_SECRET_ACCESS_KEY",
                                 "bearer", "cookie", "session_id", "auth_header"])
def test_secret_looking_argument_keys_are_masked(key: str) -> None:
    assert mask({key: "s3cr3t", "name": "ok"}) == {key: MASK, "name": "ok"}
