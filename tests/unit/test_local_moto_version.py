"""The local AWS refuses to start, with one clear error naming both versions, when moto is not the patched one."""

from __future__ import annotations

import pytest

from sqsq.errors import ConfigError, MotoVersionMismatch
from sqsq.local.server import LocalAwsServer, apply_patches, main
from sqsq.local.services import SUPPORTED_MOTO_VERSION, LocalService, default_services, moto_version

EXPECTED = (
    "the local AWS's sqs patches were written for moto 5.2.5, but moto 9.9.9 is installed; install the supported "
    'one: pip install "moto[server]==5.2.5" (or "sqsq[local]")'
)


@pytest.fixture
def other_moto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(moto_version, "installed_moto_version", lambda: "9.9.9")


def test_patches_are_written_for_the_pinned_moto_and_it_is_installed() -> None:
    assert SUPPORTED_MOTO_VERSION == "5.2.5"
    assert moto_version.installed_moto_version() == SUPPORTED_MOTO_VERSION
    patching = {s.name for s in default_services() if s.moto_version == SUPPORTED_MOTO_VERSION}
    # issue 12: SQS delays on the clock, the scheduler reads moto's model; issue 15: the dashboard's index Queries
    assert patching == {"sqs", "dynamodb", "dynamodb-index-query", "clock", "scheduler", "dispatch"}


@pytest.mark.usefixtures("other_moto")
def test_server_start_fails_naming_supported_and_installed_moto() -> None:
    server = LocalAwsServer()
    with pytest.raises(MotoVersionMismatch) as caught:
        server.start()
    assert str(caught.value) == EXPECTED
    assert isinstance(caught.value, ConfigError)
    assert (caught.value.supported, caught.value.installed) == ("5.2.5", "9.9.9")
    assert server.pid is None  # nothing was started


@pytest.mark.usefixtures("other_moto")
def test_apply_patches_checks_every_service_before_patching_any() -> None:
    patched: list[str] = []

    class Recording(LocalService):
        name = "recorder"
        moto_version = None

        def patch(self) -> None:
            patched.append(self.name)

    with pytest.raises(MotoVersionMismatch):
        apply_patches([Recording(), *[s for s in default_services() if s.moto_version]])
    assert patched == []


@pytest.mark.usefixtures("other_moto")
def test_python_m_server_prints_the_mismatch_on_one_line_and_exits_3(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--port", "0"]) == 3
    assert capsys.readouterr().err == f"error: {EXPECTED}\n"
