"""``sqsq template``: render APP's SAM template (with its layer folder and samconfig.toml), or --check one."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from sqsq.cli.options import app_argument, load_app, parse_parameters
from sqsq.cli.output import EXIT_CONFIG, fail
from sqsq.extras import require

if TYPE_CHECKING:
    from sqsq.app import App
    from sqsq.template import TemplateOptions


@click.command()
@app_argument
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help="Write the template to FILE, with its layer folder and (if absent) samconfig.toml beside it. "
                   "Without it the template is printed.")
@click.option("--check", "check_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Check FILE instead of rendering: B12/B14/B15 (visibility vs timeout, ReportBatchItemFailures, "
                   "maxReceiveCount) and packaging (handler importable from CodeUri + layer; layer has sqsq, "
                   "pydantic, Powertools); a built template (.aws-sam/build) is import-tested. Exit 3 on findings.")
@click.option("--parameter", "parameters", multiple=True, help="With --check: template parameter KEY=VALUE.")
@click.option("--handler", default=None, help="Functions' Handler (default: sqsq's generic sqsq.lambda_entry.handler).")
@click.option("--code-uri", default=None,
              help="Functions' CodeUri (default: the folder of APP's top-level package, relative to the template).")
@click.option("--layer-dir", default="sqsq-layer", show_default=True,
              help="Dependencies layer folder (relative to the template), where its requirements.txt is written.")
@click.option("--runtime", default="python3.11", show_default=True, help="Lambda runtime.")
@click.option("--memory-size-mb", default=512, show_default=True, type=click.IntRange(128, 10240),
              help="Default MemorySize (app.declare_queue(..., memory_size_mb=) wins per queue).")
@click.option("--batch-size", default=10, show_default=True, type=click.IntRange(1, 10))
@click.option("--batching-window-seconds", default=0, show_default=True, type=click.IntRange(0, 300))
@click.option("--maximum-concurrency", default=10, show_default=True, type=click.IntRange(2, 1000))
@click.option("--max-receive-count", default=5, show_default=True, type=click.IntRange(1, 1000),
              help="Default of the MaxReceiveCount parameter.")
@click.option("--stage", default="dev", show_default=True, help="Default of the Stage parameter.")
@click.option("--samconfig/--no-samconfig", default=True, show_default=True,
              help="With -o: write samconfig.toml beside the template when there is none.")
@click.option("--fargate", is_flag=True,
              help="Add an ECS Fargate service running `sqsq worker` for the queues declared consumer='worker' (all "
                   "queues when none is), with backlog-per-task auto scaling; with -o, also a Dockerfile if absent.")
@click.option("--fargate-cpu", default=512, show_default=True, type=int, help="Worker task CPU units.")
@click.option("--fargate-memory-mb", default=1024, show_default=True, type=int, help="Worker task memory, MB.")
@click.option("--fargate-concurrency", default=8, show_default=True, type=int, help="The worker's -c.")
@click.option("--fargate-max-tasks", default=10, show_default=True, type=int, help="Most worker tasks.")
@click.option("--signing-keys-parameter", default=None,
              help="SSM SecureString parameter (name or ARN) holding the signing keys: consumers get "
                   "SQSQ_SIGNING_KEYS_PARAMETER and ssm:GetParameter on exactly it.")
@click.option("--signing-keys-secret", default=None,
              help="Secrets Manager secret (name or ARN) holding the signing keys: consumers get "
                   "SQSQ_SIGNING_KEYS_SECRET and secretsmanager:GetSecretValue on exactly it.")
def template(
    app_spec: str,
    output: str | None,
    check_path: str | None,
    parameters: tuple[str, ...],
    handler: str | None,
    code_uri: str | None,
    layer_dir: str,
    runtime: str,
    memory_size_mb: int,
    batch_size: int,
    batching_window_seconds: int,
    maximum_concurrency: int,
    max_receive_count: int,
    stage: str,
    samconfig: bool,
    fargate: bool,
    fargate_cpu: int,
    fargate_memory_mb: int,
    fargate_concurrency: int,
    fargate_max_tasks: int,
    signing_keys_parameter: str | None,
    signing_keys_secret: str | None,
) -> None:
    """Write the SAM template (queues, DLQs, results table, one consumer function per queue) for APP, or --check one.

    With -o FILE: also the layer folder's requirements.txt (sqsq and its Lambda dependencies) and a samconfig.toml,
    so that `sam build && sam deploy` deploy the built artifacts.
    """
    require("sqsq template", "yaml")
    from sqsq.template import GENERIC_HANDLER, TemplateOptions, render_template_yaml
    from sqsq.template.fargate import FargateOptions

    if check_path:
        _check_template_file(check_path, parse_parameters(parameters, None))
        return
    app = load_app(app_spec)
    options = TemplateOptions(
        app_spec=app_spec,
        layer_uri=layer_dir,
        runtime=runtime,
        memory_size_mb=memory_size_mb,
        batch_size=batch_size,
        batching_window_seconds=batching_window_seconds,
        maximum_concurrency=maximum_concurrency,
        max_receive_count=max_receive_count,
        stage=stage,
        handler=handler or GENERIC_HANDLER,
        fargate=FargateOptions(cpu=fargate_cpu, memory_mb=fargate_memory_mb, concurrency=fargate_concurrency,
                               max_tasks=fargate_max_tasks) if fargate else None,
        signing_keys_parameter=signing_keys_parameter,
        signing_keys_secret=signing_keys_secret,
    )
    if not output:
        click.echo(render_template_yaml(app, options), nl=False)
        return
    _write_project(app, app_spec, output, options, code_uri, samconfig)


def _write_project(app: App, app_spec: str, output: str, options: TemplateOptions, code_uri: str | None,
                   samconfig: bool) -> None:
    """``template -o FILE``: the template, its layer folder, a samconfig.toml (and Dockerfile) beside it."""
    from pathlib import Path

    from sqsq.template.project import resolve_code_uri, write_project

    out = Path(output)
    if not out.resolve().parent.is_dir():
        fail(f"folder {out.resolve().parent} does not exist: create it, or write the template elsewhere", EXIT_CONFIG)
    options = resolve_code_uri(app_spec, out.resolve().parent, options, code_uri)
    written = write_project(app, out, options, samconfig=samconfig)
    if written.layer_requirements is not None:
        click.echo(f"wrote {out} (CodeUri {options.code_uri}) and {written.layer_requirements} (sqsq: "
                   f"{written.sqsq_requirement})")
    else:
        click.echo(f"wrote {out} (ECS Fargate workers for every queue; no Lambda functions, so no layer)")
    for path, new in ((written.dockerfile, written.dockerfile_written), (written.samconfig, written.samconfig_written)):
        if path is not None:
            click.echo(f"{'wrote' if new else 'kept the existing'} {path}")
    click.echo("next: sam build && sam deploy" + (" (build and push the worker image first: see the Dockerfile)"
                                                  if written.dockerfile else ""))



def _check_template_file(path: str, parameters: dict[str, str]) -> None:
    from sqsq.template import check_template, load_template, sqs_functions
    from sqsq.template.packaging_checks import check_packaging

    template = load_template(path)
    try:
        findings = check_template(template, parameters) + check_packaging(path, template, parameters)
    except (AttributeError, KeyError, TypeError, ValueError, RecursionError) as exc:
        fail(f"{path}: the template is malformed where sqsq reads it ({type(exc).__name__}: {str(exc)[:200]}); "
              "check it with `sam validate --lint`", EXIT_CONFIG)
    for finding in findings:
        click.echo(f"{path}: [{finding.code}] {finding.resource}: {finding.message}", err=True)
    if findings:
        sys.exit(EXIT_CONFIG)
    if not sqs_functions(template, parameters):
        click.echo(f"{path}: ok (no SQS-triggered functions to check)")
        return
    click.echo(
        f"{path}: ok (ReportBatchItemFailures on every SQS event; VisibilityTimeout >= 6 x function timeout "
        "+ batching window; maxReceiveCount >= 5 or MaximumConcurrency set; handlers and layer packaged)"
    )
