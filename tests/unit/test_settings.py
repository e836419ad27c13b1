"""Settings come from arguments first, then SQSQ_* and the standard AWS variables; typos are errors."""

from __future__ import annotations

import pytest

from sqsq.config import load_settings
from sqsq.errors import ConfigError


def test_names_derive_from_the_app_name() -> None:
    s = load_settings({}, app_name="shop")
    assert s.physical_queue_name("images") == "shop-images"
    assert s.dlq_name("images") == "shop-images-dlq"
    assert s.table_name == "shop-results"


def test_standard_aws_variables_are_read() -> None:
    s = load_settings({"AWS_ENDPOINT_URL": "http://127.0.0.1:4566", "AWS_DEFAULT_REGION": "eu-west-1"})
    assert s.endpoint_url == "http://127.0.0.1:4566" and s.region == "eu-west-1"
    assert load_settings({"AWS_REGION": "eu-central-1", "AWS_DEFAULT_REGION": "eu-west-1"}).region == "eu-central-1"


def test_arguments_win_over_environment() -> None:
    s = load_settings({"SQSQ_QUEUE_PREFIX": "env-"}, queue_prefix="arg-")
    assert s.queue_prefix == "arg-"


def test_misspelt_setting_is_an_error() -> None:
    with pytest.raises(ConfigError, match="SQSQ_QUEUE_PREFX"):
        load_settings({"SQSQ_QUEUE_PREFX": "x"})
    with pytest.raises(ConfigError, match="queue_prefx"):
        load_settings({}, queue_prefx="x")


def test_out_of_range_value_is_an_error() -> None:
    with pytest.raises(ConfigError):
        load_settings({"SQSQ_WAIT_TIME_SECONDS": "21"})


def test_misspelt_setting_error_lists_the_settings_but_not_the_supervisors_internal_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings({"SQSQ_QUEUE_PREFX": "x"})
    message = str(caught.value)
    assert "SQSQ_QUEUE_PREFIX" in message and "SQSQ_PROCESSES" in message
    assert "SQSQ_SUPERVISOR_PID" not in message
    # the internal variable is still accepted when set (a supervised child has it)
    assert load_settings({"SQSQ_SUPERVISOR_PID": "1"}).region
