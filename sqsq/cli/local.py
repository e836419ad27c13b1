"""``sqsq local``, ``sqsq provision`` and ``sqsq lambda-local``: the embedded local AWS and local Lambda runs."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

import click

from sqsq.cli.options import Finite, app_argument, load_app, parse_parameters
from sqsq.cli.output import EXIT_CONFIG, fail
from sqsq.extras import require

if TYPE_CHECKING:
    from sqsq.app import App


@click.command()
@app_argument
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback only by default).")
@click.option("--port", default=4566, show_default=True, type=click.IntRange(0, 65535),
              help="Port of the local AWS endpoint; 0 picks a free one.")
@click.option("--template", "template_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Provision from this SAM template (e.g. template.yaml) as a CloudFormation stack instead.")
@click.option("--stage", default=None, help="With --template: the Stage parameter (resources <app>-<Stage>-...).")
@click.option("--run-lambdas", is_flag=True,
              help="With --template: also run its functions here (local event source mapping, see lambda-local).")
def local(
    app_spec: str, host: str, port: int, template_path: str | None, stage: str | None, run_lambdas: bool
) -> None:
    """Start the embedded local AWS (moto server) and provision APP's queues and results table.

    With --template, the resources are exactly the template's (deployed with CloudFormation on the local AWS).
    Runs in the foreground until interrupted (Ctrl-C).
    """
    feature, needs = "sqsq local", ["moto"]
    if template_path:
        feature, needs = f"{feature} --template", [*needs, "yaml", "samtranslator"]
        if run_lambdas:
            feature, needs = f"{feature} --run-lambdas", [*needs, "aws_lambda_powertools"]
    require(feature, *needs)
    from sqsq.local.server import LOCAL_CREDENTIALS, LocalAwsServer

    app = load_app(app_spec)
    server = LocalAwsServer(port=port, host=host)

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops the server like Ctrl-C does, never orphaning it

    signal.signal(signal.SIGTERM, interrupted)
    endpoint = server.start()
    try:
        local_env = server.client_environment(app.settings.region)
        for key in LOCAL_CREDENTIALS:
            os.environ.setdefault(key, local_env[key])
        app.configure(endpoint_url=endpoint)
        _provision_and_announce(app, endpoint, local_env, template_path, stage)
        sys.stdout.flush()
        if template_path and run_lambdas:
            from sqsq.local.esm import run_local_esm

            run_local_esm(template_path, endpoint, parameters={"Stage": stage} if stage else None,
                          stop_when_empty=False)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


def _provision_and_announce(
    app: App, endpoint: str, local_env: dict[str, str], template_path: str | None, stage: str | None
) -> None:
    """Create APP's resources (or deploy the template) on the local AWS and print the exports for another shell."""
    from sqsq.local.provision import provision
    if app.settings.payload_bucket is None and not template_path:  # large payloads work locally out of the box
        app.configure(payload_bucket=f"{app.name}-payloads")
        local_env = {**local_env, "SQSQ_PAYLOAD_BUCKET": f"{app.name}-payloads"}
    exports: dict[str, str] = {}
    if template_path:
        from sqsq.local.cloudformation import deploy_template, settings_exports

        stack = deploy_template(template_path, endpoint, parameters={"Stage": stage} if stage else None)
        exports = settings_exports(stack)
        click.echo(f"# sqsq local AWS at {endpoint}: stack {stack.stack_name} from {template_path}")
        for line in stack.applied:
            click.echo(f"#   applied: {line}")
    else:
        done = provision(app)
        click.echo(f"# sqsq local AWS at {endpoint}: queues {', '.join(done.queue_urls)}; table {done.table_name}; "
                   f"payload bucket {done.payload_bucket}")
    click.echo("# in another shell:")
    for key, value in exports.items():
        click.echo(f"export {key}={value}")
    for key, value in local_env.items():
        click.echo(f"export {key}={value}")
    if "SQSQ_APP_NAME" not in exports:
        click.echo(f"export SQSQ_APP_NAME={app.name}  # lets `sqsq result ID` find the results table")


@click.command()
@app_argument
def provision(app_spec: str) -> None:
    """Create APP's queues, DLQs (with redrive policies) and results table where the environment points."""
    from sqsq.local.provision import provision as do_provision

    app = load_app(app_spec)
    done = do_provision(app)
    for name, url in done.queue_urls.items():
        click.echo(f"queue {name}: {url} (dead-letter queue {name}{app.settings.dlq_suffix})")
    click.echo(f"table {done.table_name}")
    if done.payload_bucket is not None:
        click.echo(f"payload bucket {done.payload_bucket}")


@click.command("lambda-local")
@click.option("--template", "template_path", default="template.yaml", show_default=True,
              type=click.Path(exists=True, dir_okay=False), help="SAM template whose functions to run.")
@click.option("--stage", default=None, help="Stage parameter (default: the template's).")
@click.option("--parameter", "parameters", multiple=True, help="Template parameter KEY=VALUE (repeatable).")
@click.option("--endpoint-url", default=None, envvar="AWS_ENDPOINT_URL", help="Local AWS endpoint.")
@click.option("--stop-when-empty", is_flag=True, help="Exit once the queues are empty and nothing runs.")
@click.option("--timeout-seconds", default=None, type=Finite(),
              help="Stop polling after this many seconds; invocations in flight still finish (within their function's "
                   "Timeout), as when an event source mapping is disabled. Ctrl-C or SIGTERM stops them at once.")
@click.option("--built/--in-process", "built", default=None,
              help="Run the functions as built artifacts in runtime processes, or import them here; default: "
                   "built when the template is `sam build` output.")
@click.option("--json", "as_json", is_flag=True, help="Print the run's counters as JSON.")
def lambda_local(
    template_path: str,
    stage: str | None,
    parameters: tuple[str, ...],
    endpoint_url: str | None,
    stop_when_empty: bool,
    timeout_seconds: float | None,
    built: bool | None,
    as_json: bool,
) -> None:
    """Run the template's SQS-triggered functions, polling like Lambda's event source mapping.

    Deploy the template first (`sqsq local APP --template FILE`). Two modes:

    \b
    built (`sam build` output, e.g. --template .aws-sam/build/template.yaml): each function runs in processes of
      Lambda's runtime interface client (awslambdaric), on a local Runtime API, with the artifact's code and
      layers only on sys.path, its Timeout killing the process and MemorySize as a memory limit; logs go to
      .aws-sam/sqsq-local-logs/<FunctionId>.log. Chosen automatically for `sam build` output (its resources carry
      Metadata.SamResourceId; see sqsq.local.lambda_runtime).
    in-process (a source template): the handlers are imported and called on threads here
      (differences from Lambda: see sqsq.local.esm).
    """
    from sqsq.local.esm import run_local_esm
    from sqsq.local.lambda_runtime import is_built_template, run_built_template

    if not endpoint_url:
        fail("no endpoint: pass --endpoint-url or set AWS_ENDPOINT_URL (start one with `sqsq local`)", EXIT_CONFIG)
    params = parse_parameters(parameters, stage)
    require("sqsq lambda-local", "yaml")
    if built is None:
        built = is_built_template(template_path, params)
    require(f"sqsq lambda-local {'--built' if built else '--in-process'}",
            "awslambdaric" if built else "aws_lambda_powertools")

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM stops like Ctrl-C: the function processes are stopped, never orphaned

    signal.signal(signal.SIGTERM, interrupted)
    stop = threading.Event()
    pools: dict[str, Any] = {}
    try:
        if built:
            stats, pools = run_built_template(template_path, endpoint_url, parameters=params,
                                              stop_when_empty=stop_when_empty, timeout_seconds=timeout_seconds,
                                              stop=stop)
        else:
            stats = run_local_esm(template_path, endpoint_url, parameters=params, stop_when_empty=stop_when_empty,
                                  timeout_seconds=timeout_seconds, stop=stop)
    except KeyboardInterrupt:
        stop.set()
        return
    _print_counters(stats.as_dict(), pools, built, as_json)


def _print_counters(stats: dict[str, Any], pools: dict[str, Any], built: bool, as_json: bool) -> None:
    """The run's counters (and, built, each function's runtime pool) as one JSON line or as key=value text."""
    counters: dict[str, Any] = {**stats, **({"functions": pools} if built else {})}
    if as_json:
        click.echo(json.dumps(counters))
    else:
        click.echo(" ".join(f"{k}={v}" for k, v in stats.items()))
        for function_id, pool in pools.items():
            init = ", ".join(f"{s:.3f}" for s in pool["init_seconds"])
            click.echo(f"{function_id}: " + " ".join(f"{k}={v}" for k, v in pool.items() if k != "init_seconds")
                       + f" init_seconds=[{init}]")
