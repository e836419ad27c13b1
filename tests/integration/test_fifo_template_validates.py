"""A FIFO app's rendered templates (Lambda and Fargate) pass `sam validate --lint` and cfn-lint (issue 14)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import sqsq
from sqsq.template import TemplateOptions, render_template
from sqsq.template.fargate import FargateOptions
from sqsq.template.render import dump_template

ROOT = Path(__file__).resolve().parents[2]
SAM = ROOT / ".venv-sam" / "bin" / "sam"


def _fifo_app() -> sqsq.App:
    app = sqsq.App("shop")
    app.declare_queue("orders", fifo=True, deduplication_scope="messageGroup", fifo_throughput_limit="perMessageGroupId")
    app.declare_queue("ledger", fifo=True, consumer="worker")

    @app.task(name="pay", queue="orders", group_key=lambda args: args.customer)
    def pay(customer: str) -> None: ...

    @app.task(name="post", queue="ledger", group_key=lambda args: args.account)
    def post(account: str) -> None: ...

    return app


@pytest.mark.parametrize("which", ["lambda", "fargate"])
def test_sam_validate_lint_and_cfn_lint_pass_on_a_fifo_template(tmp_path: Path, which: str) -> None:
    assert SAM.exists(), f"{SAM} is missing: `make .venv-sam/.installed` installs the SAM CLI into .venv-sam"
    options = TemplateOptions(app_spec="shop:app", fargate=FargateOptions() if which == "fargate" else None)
    template = tmp_path / "template.yaml"
    template.write_text(dump_template(render_template(_fifo_app(), options)))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SQSQ_", "VIRTUAL_ENV"))}
    env.update(SAM_CLI_TELEMETRY="0", AWS_DEFAULT_REGION="us-east-1")
    sam = subprocess.run([str(SAM), "validate", "--lint", "-t", str(template)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert sam.returncode == 0 and "is a valid SAM Template" in sam.stdout + sam.stderr, sam.stdout + sam.stderr
    cfn_lint = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), str(template)], capture_output=True,
                              text=True, timeout=120)
    assert cfn_lint.returncode == 0, cfn_lint.stdout + cfn_lint.stderr
