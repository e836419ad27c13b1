"""The local AWS's SQS receipt handles keep moto's shape: 185 lowercase letters from moto's seedable random."""

from __future__ import annotations

import string

import pytest

pytest.importorskip("moto")

import moto.sqs.models as sqs_models
from moto.moto_api._internal import mock_random

from sqsq.local.services.sqs import SqsService


def test_receipt_handles_are_185_random_lowercase_letters_and_follow_moto_s_seed() -> None:
    SqsService().patch()
    handles = {sqs_models.generate_receipt_handle() for _ in range(100)}
    assert len(handles) == 100
    assert all(len(h) == 185 and set(h) <= set(string.ascii_lowercase) for h in handles)
    mock_random.seed(7)
    first = sqs_models.generate_receipt_handle()
    mock_random.seed(7)
    assert sqs_models.generate_receipt_handle() == first
