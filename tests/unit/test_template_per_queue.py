"""One consumer function per queue, sized for that queue's tasks and its declared settings."""

from __future__ import annotations

import pytest

import sqsq
from sqsq.errors import ConfigError
from sqsq.template import TemplateOptions, plan_queues, render_template


def _app() -> sqsq.App:
    app = sqsq.App("sized")

    @app.task(name="thumb", queue="images", time_limit_seconds=120)
    def thumb() -> None: ...

    @app.task(name="ping")
    def ping() -> None: ...

    @app.task(name="reindex", queue="batch")
    def reindex() -> None: ...

    app.declare_queue("images", memory_size_mb=2048, batch_size=2, maximum_concurrency=50)
    app.declare_queue("batch", consumer="worker")
    return app


def _function(template: dict[str, object], resource: str) -> dict[str, object]:
    props = template["Resources"][resource]["Properties"]  # type: ignore[index]
    assert isinstance(props, dict)
    return props


def test_each_lambda_queue_gets_its_own_function_sized_by_its_tasks_and_declaration() -> None:
    template = render_template(_app(), TemplateOptions(app_spec="sized.tasks:app", memory_size_mb=256))
    images = _function(template, "ImagesFunction")
    assert (images["Timeout"], images["MemorySize"]) == (130, 2048)
    event = images["Events"]["ImagesMessages"]["Properties"]  # type: ignore[index]
    assert (event["BatchSize"], event["ScalingConfig"]["MaximumConcurrency"]) == (2, 50)
    default = _function(template, "DefaultFunction")
    assert (default["Timeout"], default["MemorySize"]) == (60, 256)
    assert template["Resources"]["ImagesQueue"]["Properties"]["VisibilityTimeout"] == 6 * 130  # type: ignore[index]


def test_a_queue_declared_for_workers_gets_a_queue_but_no_function() -> None:
    resources = render_template(_app())["Resources"]
    assert "BatchQueue" in resources and "BatchDeadLetterQueue" in resources
    assert "BatchFunction" not in resources
    role = resources["ConsumerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]  # type: ignore[index]
    consumed = {r["Fn::GetAtt"][0] for r in role[0]["Resource"]}
    assert consumed == {"ImagesQueue", "DefaultQueue"}


def test_functions_use_the_generic_handler_with_the_app_named_in_their_environment() -> None:
    fn = _function(render_template(_app(), TemplateOptions(app_spec="sized.tasks:app", code_uri="sized")),
                   "DefaultFunction")
    assert fn["Handler"] == "sqsq.lambda_entry.handler"
    assert fn["CodeUri"] == "sized"
    assert fn["Environment"]["Variables"]["SQSQ_APP"] == "sized.tasks:app"  # type: ignore[index]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("memory_size_mb", 64, "128..10240"),
        ("batch_size", 11, "1..10"),
        ("maximum_concurrency", 1, "2..1000"),
        ("batching_window_seconds", 301, "0..300"),
        ("consumer", "fargate", "'lambda' or 'worker'"),
    ],
)
def test_declared_queue_settings_outside_aws_limits_are_refused_at_declaration(
    option: str, value: object, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        sqsq.App("x").declare_queue("q", **{option: value})  # type: ignore[arg-type]


def test_a_time_limit_past_lambdas_maximum_names_the_worker_declaration_as_the_fix() -> None:
    app = sqsq.App("long")

    @app.task(name="crunch", queue="heavy", time_limit_seconds=3600)
    def crunch() -> None: ...

    with pytest.raises(ConfigError, match=r"declare_queue\('heavy', consumer='worker'\)"):
        plan_queues(app)
    app.declare_queue("heavy", consumer="worker")
    assert {p.logical: p.consumer for p in plan_queues(app)} == {"default": "lambda", "heavy": "worker"}


def test_an_explicit_visibility_timeout_setting_wins_for_every_queue() -> None:
    app = _app()
    app.configure(visibility_timeout_seconds=900)
    assert {p.visibility_timeout_seconds for p in plan_queues(app)} == {900}


@pytest.mark.parametrize(
    ("queues", "message"),
    [
        (["a", "a-dlq"], "dead-letter queue"),  # a-dlq would be the DLQ of a
        (["a", "a-dead-letter"], "CloudFormation id 'ADeadLetterQueue'"),
        (["images.v2"], "letters, digits, '-' and '_'"),
        (["q" * 75], "SQS allows 80"),
    ],
)
def test_queue_names_sqs_would_reject_or_that_collide_are_refused(queues: list[str], message: str) -> None:
    app = sqsq.App("nm")
    for q in queues:
        app.declare_queue(q)
    with pytest.raises(ConfigError, match=message):
        plan_queues(app)


def test_the_stage_pattern_shrinks_so_every_name_fits_and_a_default_stage_too_long_is_refused() -> None:
    app = sqsq.App("orders-service")
    app.declare_queue("thumbnail-generation-xl")
    pattern = render_template(app)["Parameters"]["Stage"]["AllowedPattern"]
    longest = 64 - len("orders-service--thumbnail-generation-xl-dlq-sweep")
    assert 3 <= longest < 20
    assert pattern == f"^[a-z0-9][a-z0-9-]{{0,{longest - 1}}}$"
    with pytest.raises(ConfigError, match="AWS allows 64"):
        render_template(app, TemplateOptions(stage="x" * (longest + 1)))


@pytest.mark.parametrize("value", [256.5, True, "512"])
def test_declared_queue_settings_must_be_whole_numbers(value: object) -> None:
    with pytest.raises(ConfigError, match="whole number"):
        sqsq.App("x").declare_queue("q", memory_size_mb=value)  # type: ignore[arg-type]


@pytest.mark.parametrize("limit", [float("nan"), float("inf"), 0, -1])
def test_a_time_limit_must_be_a_finite_positive_number(limit: float) -> None:
    app = sqsq.App("x")
    with pytest.raises(ConfigError, match="finite number of seconds > 0"):
        app.task(name="t", time_limit_seconds=limit)(lambda: None)


def test_the_dashboard_graphs_each_queue_and_dlq_by_the_physical_name_its_resource_gets_fifo_included() -> None:
    import json

    app = _app()
    app.declare_queue("orders", fifo=True)

    @app.task(name="pay", queue="orders", group_key=lambda args: "g")
    def pay() -> None: ...

    resources = render_template(app)["Resources"]
    names = {
        props["QueueName"]["Fn::Sub"] for r in resources.values()  # type: ignore[union-attr]
        if r["Type"] == "AWS::SQS::Queue" and isinstance(props := r["Properties"], dict)
    }
    assert any(n.endswith("orders.fifo") for n in names) and any(n.endswith("orders-dlq.fifo") for n in names)
    body = json.loads(resources["QueuesDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"])  # type: ignore[index]
    graphed = {m[3] for w in body["widgets"] for m in w["properties"]["metrics"]}
    assert graphed == names
