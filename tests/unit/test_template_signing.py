"""`sqsq template` with the signing keys in SSM Parameter Store or Secrets Manager: least-privilege read."""

from __future__ import annotations

from typing import Any

import pytest

from sqsq.demo.app import app
from sqsq.errors import ConfigError
from sqsq.template import TemplateOptions, render_template
from sqsq.template.fargate import FargateOptions
from sqsq.template.render import dump_template


def _statements(template: dict[str, Any], role: str) -> dict[str, Any]:
    (policy,) = template["Resources"][role]["Properties"]["Policies"]
    return {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}


def _functions(template: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"]


def test_signing_keys_parameter_grants_get_parameter_on_exactly_that_parameter() -> None:
    template = render_template(app, TemplateOptions(app_spec="sqsq.demo.app:app",
                                                    signing_keys_parameter="/demo/signing-keys"))
    statement = _statements(template, "ConsumerRole")["ReadSigningKeys"]
    assert statement["Action"] == ["ssm:GetParameter"]
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/demo/signing-keys"
    }
    for function in _functions(template):
        variables = function["Properties"]["Environment"]["Variables"]
        assert variables["SQSQ_SIGNING_KEYS_PARAMETER"] == "/demo/signing-keys"
        assert "SQSQ_SIGNING_KEYS" not in variables


@pytest.mark.parametrize(("fargate", "role"), [(None, "ConsumerRole"), (FargateOptions(), "WorkerTaskRole")])
def test_signing_keys_secret_grants_get_secret_value_on_exactly_that_secret(
    fargate: FargateOptions | None, role: str
) -> None:
    template = render_template(app, TemplateOptions(app_spec="sqsq.demo.app:app", signing_keys_secret="demo/keys",
                                                    fargate=fargate))
    statement = _statements(template, role)["ReadSigningKeys"]
    assert statement["Action"] == ["secretsmanager:GetSecretValue"]
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:demo/keys-??????"
    }
    if fargate is not None:
        assert "ReadSigningKeys" not in _statements(template, "WorkerExecutionRole")
        (container,) = template["Resources"]["WorkerTaskDefinition"]["Properties"]["ContainerDefinitions"]
        assert {"Name": "SQSQ_SIGNING_KEYS_SECRET", "Value": "demo/keys"} in container["Environment"]


def test_without_the_option_no_role_can_read_a_parameter_or_secret() -> None:
    text = dump_template(render_template(app, TemplateOptions(app_spec="sqsq.demo.app:app")))
    assert "ssm:" not in text and "secretsmanager:" not in text and "SIGNING" not in text


@pytest.mark.parametrize("option", [{"signing_keys_parameter": "bad name ${AWS::Region}"},
                                    {"signing_keys_secret": "a secret*"},
                                    {"signing_keys_parameter": "/p", "signing_keys_secret": "s"}])
def test_malformed_or_double_signing_key_sources_are_config_errors(option: dict[str, str]) -> None:
    with pytest.raises(ConfigError):
        TemplateOptions(**option)  # type: ignore[arg-type]


@pytest.mark.parametrize("option", [{"signing_keys_parameter": "/demo/signing-keys"},
                                    {"signing_keys_secret": "demo/keys"}])
def test_template_with_a_signing_keys_source_is_cfn_lint_clean(option: dict[str, str]) -> None:
    from cfnlint.api import ManualArgs, lint

    fargate = FargateOptions() if "signing_keys_secret" in option else None  # the Lambda role, then the worker's
    template = render_template(app, TemplateOptions(app_spec="sqsq.demo.app:app", fargate=fargate,
                                                    **option))  # type: ignore[arg-type]
    matches = lint(dump_template(template), config=ManualArgs(regions=["us-east-1"]))
    assert [str(m) for m in matches] == []
