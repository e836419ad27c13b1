"""``sqsq schema``: the wire format of an app's tasks as JSON, for producers in other languages."""

from __future__ import annotations

import json

import click

from sqsq.cli.options import load_app


@click.command("schema")
@click.argument("app_spec", metavar="APP")
@click.argument("task_name", metavar="TASK", required=False)
@click.option("--json", "as_json", is_flag=True, default=True, help="Print JSON (the default and only format).")
def schema_command(app_spec: str, task_name: str | None, as_json: bool) -> None:
    """Print the wire format of APP's tasks (or TASK's) as JSON, for producers in other languages.

    The envelope's JSON Schema, each task's queue and argument/result JSON Schemas, the message attributes, the
    size limits and the signing rule (see sqsq.schema and the README's "Wire format").
    """
    from sqsq.schema import app_schema

    click.echo(json.dumps(app_schema(load_app(app_spec), task_name), indent=2, ensure_ascii=True, allow_nan=False))
