"""One batch through Powertools' batch processors, on their public API only.

Standard queues: ``BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False)``. FIFO queues (the
record's ``eventSourceARN`` names a ``.fifo`` queue): ``SqsFifoPartialProcessor(skip_group_on_error=True)``, so once a
record of a message group fails, the later records of that group are reported failed without running (order within a
group holds) while other groups go on. A fair queue is a standard queue whose records also carry a ``MessageGroupId``
(the tenant): it keeps the standard processor, since no order is promised there and holding a tenant's later
records back would only cost them a visibility timeout and a receive each. Both run as a context manager around
``process()``, with a record handler (https://docs.powertools.aws.dev/lambda/python/latest/utilities/batch/).

Only this module and :mod:`sqsq.lambda_handler.handler` import aws_lambda_powertools.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqsq.lambda_handler import require_powertools

# Without Powertools this raises sqsq.errors.MissingExtra, one line naming `pip install "sqsq[lambda]"`
# (sqsq.extras, the table of optional dependencies, is loaded only then: issue 11, start-up).
require_powertools()

# Powertools' batch module before sqsq's modules (which import pydantic): see POWERTOOLS_BEFORE_PYDANTIC.
from aws_lambda_powertools.utilities.batch import (  # noqa: E402
    BatchProcessor,
    EventType,
    SqsFifoPartialProcessor,
)
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError  # noqa: E402
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord  # noqa: E402

from sqsq.lambda_handler.records import is_fifo_record  # noqa: E402

__all__ = ["POWERTOOLS_BEFORE_PYDANTIC", "RecordHandler", "process_batch"]

POWERTOOLS_BEFORE_PYDANTIC = True
"""Import order matters for a cold start: ``aws_lambda_powertools.utilities.batch`` imports all of Powertools'
pydantic parser models (dozens of event models, built at import) when ``pydantic`` is already in ``sys.modules``
(``has_pydantic = "pydantic" in sys.modules``, aws_lambda_powertools/utilities/batch/types.py, Powertools 3.x).
sqsq uses none of them, so this module and :mod:`sqsq.lambda_handler.handler` import Powertools' batch module
before any sqsq module that imports pydantic, and ``sqsq.lambda_entry`` imports the handler before the app.
A handler file of your own gets the same by importing ``sqsq.lambda_handler.handler`` before its app."""

RecordHandler = Callable[[Mapping[str, Any]], str]
"""Runs one record (the event's own dict); returns a short description, raises to report the record failed."""


def process_batch(records: list[Mapping[str, Any]], record_handler: RecordHandler) -> list[str]:
    """Run ``record_handler`` over ``records`` with Powertools' processor for the queue type.

    Args:
        records: the event's records, each with a ``messageId`` (checked by :func:`records.sqs_records`).
        record_handler: called once per record that runs (not for FIFO records held back behind a failed one).

    Returns:
        The ``messageId`` of every record reported failed, in event order.
    """
    fifo = any(is_fifo_record(r) for r in records)
    processor: BatchProcessor = (
        SqsFifoPartialProcessor(skip_group_on_error=True)
        if fifo
        else BatchProcessor(EventType.SQS, raise_on_entire_batch_failure=False)
    )
    items, originals = _for_powertools(records)

    def handle(record: SQSRecord) -> str:
        raw = record.raw_event
        return record_handler(originals.get(id(raw), raw))

    processed: list[tuple[Any, ...]] = []
    try:
        with processor(records=items, handler=handle):
            processed = processor.process()
    except BatchProcessingError:
        # Every record failed. SqsFifoPartialProcessor has no raise_on_entire_batch_failure option in Powertools
        # 3.x (aws-powertools/powertools-lambda-python#7596), so it raises; report them all, as BatchProcessor does.
        return [entry[2].message_id for entry in processed if entry[0] == "fail"]
    return [str(failure["itemIdentifier"]) for failure in processor.response()["batchItemFailures"]]


def _for_powertools(records: list[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], dict[int, Mapping[str, Any]]]:
    """The records as handed to Powertools (dicts), and the originals of those that had to be copied.

    A record whose ``attributes`` is not an object (missing, or malformed: the record handler reports it failed
    alone) is handed over as a copy with empty attributes, since the FIFO processor reads
    ``attributes.MessageGroupId`` of every record; a record that is another kind of mapping is handed over as a
    dict copy. The record handler gets the original back by the copy's identity.
    """
    items: list[dict[str, Any]] = []
    originals: dict[int, Mapping[str, Any]] = {}
    for record in records:
        if isinstance(record, dict) and isinstance(record.get("attributes"), Mapping):
            items.append(record)
            continue
        copy = dict(record)
        if not isinstance(copy.get("attributes"), Mapping):
            copy["attributes"] = {}
        originals[id(copy)] = record
        items.append(copy)
    return items, originals
