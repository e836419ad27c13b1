"""Reading the signing keys from SSM Parameter Store or Secrets Manager (the only AWS reads of a secret).

The App calls :func:`read_signing_keys` once, on first use of its keys (a Lambda function's cold start, a worker's
start). The value is returned, never logged; errors name the parameter or secret, never its value.

Permissions: ``ssm:GetParameter`` on exactly that parameter (``WithDecryption``: a SecureString under the
AWS-managed ``aws/ssm`` key needs nothing more; a customer-managed KMS key also needs ``kms:Decrypt`` on it), or
``secretsmanager:GetSecretValue`` on exactly that secret. ``sqsq template --signing-keys-parameter`` /
``--signing-keys-secret`` grants them to the consumers
(https://docs.aws.amazon.com/systems-manager/latest/userguide/sysman-paramstore-access.html,
https://docs.aws.amazon.com/secretsmanager/latest/userguide/auth-and-access_examples.html).
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from sqsq.errors import AwsError, ConfigError
from sqsq.transport.aws import AwsClients, wrap_boto_error


def read_signing_keys(clients: AwsClients, *, parameter: str | None = None, secret: str | None = None) -> str:
    """The key list stored in an SSM parameter (decrypted) or a Secrets Manager secret's SecretString.

    Args:
        clients: shared boto3 clients (endpoint and region from Settings).
        parameter: SSM parameter name or ARN; exactly one of ``parameter`` and ``secret``.
        secret: Secrets Manager secret name or ARN.

    Returns:
        The stored text (``keyid:base64secret[,...]``), unparsed.

    Raises:
        ConfigError: the parameter or secret does not exist, or holds no string.
        AwsError: any other failure after botocore's retries (e.g. AccessDenied: the role lacks the read).
    """
    if (parameter is None) == (secret is None):
        raise ValueError("read_signing_keys needs exactly one of parameter= and secret=")
    where = f"SSM parameter {parameter!r}" if parameter is not None else f"Secrets Manager secret {secret!r}"
    try:
        if parameter is not None:
            response = clients.client("ssm", read_timeout_seconds=15).get_parameter(Name=parameter, WithDecryption=True)
            value = response.get("Parameter", {}).get("Value")
        else:
            response = clients.client("secretsmanager", read_timeout_seconds=15).get_secret_value(SecretId=secret)
            value = response.get("SecretString")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code in ("ParameterNotFound", "ResourceNotFoundException"):
            raise ConfigError(
                f"{where}, named for the signing keys (SQSQ_SIGNING_KEYS_PARAMETER/_SECRET), does not exist at "
                f"{clients.describe_endpoint()}; create it, or fix the name"
            ) from None
        raise _error(exc, where, clients) from None
    except BotoCoreError as exc:
        raise _error(exc, where, clients) from None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where} holds no text; store the keys as keyid:base64secret[,...] (a string)")
    return value


def _error(exc: ClientError | BotoCoreError, where: str, clients: AwsClients) -> AwsError:
    # `from None`: a botocore error keeps the request parameters; nothing of the response value is in the message.
    return wrap_boto_error(exc, f"reading the signing keys from {where}", clients.describe_endpoint())
