"""Writing what a project needs for ``sam build && sam deploy``: the template, the layer folder, a samconfig.toml.

``sqsq template APP -o template.yaml`` calls :func:`write_project`. Files the user may have edited
(``samconfig.toml``, ``Dockerfile``) are written only when absent; the template and the layer's requirements are
generated and always rewritten. With Fargate workers a ``Dockerfile`` for the worker image is written when absent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from sqsq.app import App
from sqsq.template.dockerfile import worker_dockerfile
from sqsq.template.options import TemplateOptions
from sqsq.template.packaging import code_uri_for, sqsq_requirement, write_layer
from sqsq.template.plan import plan_queues
from sqsq.template.render import render_template_yaml

SAMCONFIG_FILE = "samconfig.toml"
DOCKERIGNORE = (
    "# What the worker image does not need (written by `sqsq template --fargate`; .sqsq/wheels must stay in).\n"
    ".git\n.venv\nvenv\n.aws-sam\n**/__pycache__\n**/*.pyc\n.pytest_cache\n.mypy_cache\ntests\n"
)


def samconfig_text(app_name: str, stage: str, template_file: str) -> str:
    """A samconfig.toml with which ``sam build && sam deploy`` deploy the *built* artifacts.

    No ``template_file`` under ``[default.global.parameters]``: that would make ``sam deploy`` package the source
    template (unbuilt folders) instead of ``.aws-sam/build/template.yaml``, which it picks by default after a build.
    """
    build_template = "" if template_file == "template.yaml" else f'template_file = "{template_file}"\n'
    return (
        f"# `sam build && sam deploy` for the sqsq app {app_name!r} (written by `sqsq template`; edit freely).\n"
        "# sam build reads the source template; sam deploy then deploys .aws-sam/build/template.yaml.\n"
        "version = 0.1\n\n"
        "[default.build.parameters]\n"
        f"{build_template}"
        "cached = true\n"
        "parallel = true\n\n"
        "[default.validate.parameters]\n"
        f"{build_template}"
        "lint = true\n\n"
        "[default.deploy.parameters]\n"
        f'stack_name = "{app_name}-{stage}"\n'
        "resolve_s3 = true\n"
        f's3_prefix = "{app_name}-{stage}"\n'
        'capabilities = "CAPABILITY_IAM"\n'
        "confirm_changeset = true\n"
        "fail_on_empty_changeset = false\n"
        f'parameter_overrides = "Stage=\\"{stage}\\""\n'
    )


@dataclass(frozen=True)
class WrittenProject:
    """The files :func:`write_project` wrote (or found and kept).

    Attributes:
        template: the template file.
        layer_requirements: the layer folder's requirements.txt (``None`` when no queue has a Lambda consumer).
        samconfig: samconfig.toml beside the template, or ``None`` when not asked for.
        samconfig_written: False when an existing samconfig.toml was kept.
        options: the options the template was rendered with (CodeUri filled in).
        dockerfile: the worker image's Dockerfile beside the template (with Fargate workers), else ``None``.
        dockerfile_written: False when an existing Dockerfile was kept.
        sqsq_requirement: how the layer and the Dockerfile install sqsq (``sqsq==X`` or a wheel under ``.sqsq/``).
    """

    template: Path
    layer_requirements: Path | None
    samconfig: Path | None
    samconfig_written: bool
    options: TemplateOptions
    dockerfile: Path | None = None
    dockerfile_written: bool = False
    sqsq_requirement: str = ""


def resolve_code_uri(app_spec: str, template_dir: Path, options: TemplateOptions, given: str | None) -> TemplateOptions:
    """Options with CodeUri set: ``given``, else the app's package folder (:func:`code_uri_for`).

    An app inside sqsq itself (the demo) ships in the layer, so its CodeUri must be given.

    Raises:
        ConfigError: see :func:`code_uri_for`.
    """
    if given:
        return replace(options, code_uri=given)
    module = app_spec.partition(":")[0]
    if module.split(".")[0] == "sqsq":
        return options
    return replace(options, code_uri=code_uri_for(module, template_dir))


def write_project(app: App, output: Path, options: TemplateOptions, *, samconfig: bool = True) -> WrittenProject:
    """Write the template to ``output``, its layer folder and (if absent) a samconfig.toml beside it.

    Args:
        app: the app.
        output: the template file to write.
        options: rendering options; ``layer_uri`` is relative to the template's folder.
        samconfig: also write samconfig.toml when the folder has none.

    Returns:
        What was written.

    Raises:
        ConfigError: sqsq's own package cannot be named in the layer (see :mod:`sqsq.template.packaging`).
        OSError: a file cannot be written.
    """
    folder = output.resolve().parent
    text = render_template_yaml(app, options)  # first: a template that cannot be rendered leaves no files behind
    sqsq_line = sqsq_requirement(folder)
    has_functions = any(p.consumer == "lambda" for p in plan_queues(app, options))
    requirements = write_layer(folder / options.layer_uri, sqsq_line) if has_functions else None
    output.write_text(text, encoding="utf-8")
    config_path = folder / SAMCONFIG_FILE if samconfig else None
    written = config_path is not None and _write_once(
        config_path, lambda: samconfig_text(app.name, options.stage, output.name)
    )
    dockerfile = folder / "Dockerfile" if options.fargate is not None else None
    docker_written = dockerfile is not None and _write_once(
        dockerfile, lambda: worker_dockerfile(options.app_spec or "", sqsq_requirement=sqsq_line)
    )
    if dockerfile is not None:
        _write_once(folder / ".dockerignore", lambda: DOCKERIGNORE)
    return WrittenProject(output, requirements, config_path, written, options, dockerfile, docker_written, sqsq_line)


def _write_once(path: Path, text: Callable[[], str]) -> bool:
    """Write ``path`` unless it exists (the user may have edited it); True when written."""
    if path.exists():
        return False
    path.write_text(text(), encoding="utf-8")
    return True
