"""The local AWS remembers moto's backend per host and action names per class; the answers are moto's own."""

from __future__ import annotations

import pytest

pytest.importorskip("moto")

import moto.core.responses as responses
from moto.core.utils import method_names_from_class
from moto.dynamodb.responses import DynamoHandler
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from moto.sqs.responses import SQSResponse

from sqsq.local.services.dispatch import MotoDispatch

HOSTS = ["dynamodb", "sqs.us-east-1.amazonaws.com", "s3.us-east-1.amazonaws.com", "scheduler", "moto_api",
         "nothing.example", None]


def test_remembered_backends_and_action_names_are_the_ones_moto_computes() -> None:
    original_backend = DomainDispatcherApplication.__dict__["get_backend_for_host"]
    dispatcher = DomainDispatcherApplication(create_backend_app)
    expected = {host: original_backend(dispatcher, host) for host in HOSTS}
    MotoDispatch().patch()
    for _ in range(2):
        assert {host: dispatcher.get_backend_for_host(host) for host in HOSTS} == expected
        for clazz in (DynamoHandler, SQSResponse):
            assert responses.method_names_from_class(clazz) == method_names_from_class(clazz)
    assert expected["dynamodb"] == "dynamodb" and expected["sqs.us-east-1.amazonaws.com"] == "sqs"


def test_remembered_snake_case_names_are_moto_s() -> None:
    import moto.core.utils as core_utils
    import moto.sqs.models as sqs_models

    MotoDispatch().patch()
    original = core_utils.camelcase_to_underscores.__wrapped__  # moto's own
    names = ["ReceiveMessage", "ApproximateNumberOfMessagesNotVisible", "KmsMasterKeyId", "DBInstanceIdentifier",
             "theNewAttribute", "", "SendMessageBatch"]
    for _ in range(2):
        assert [sqs_models.camelcase_to_underscores(n) for n in names] == [original(n) for n in names]
    assert sqs_models.camelcase_to_underscores is core_utils.camelcase_to_underscores  # the remembering one
    assert sqs_models.camelcase_to_underscores is not original
