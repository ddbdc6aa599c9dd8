"""What the template leaves to the operator at deploy time: the Lambda package's location, the
external systems' endpoints (Neptune, the ERP, Stripe, the loyalty database) and their secrets.

Secrets are named, never given: each `*SecretId` parameter names a Secrets Manager secret whose
SecretString is the value, resolved by CloudFormation into the function's environment (the
code reads its settings from the environment only, so the value is visible to whoever may read
the function's configuration). An empty optional parameter leaves its variable unset, and the
code's default applies: the sandbox payments and tax, no ERP, no graph, no loyalty database.
"""

from __future__ import annotations

from typing import Final

from appsync.deploy.template.cfn import Json, Template, equals, if_, not_, ref, secret

CODE_BUCKET: Final = "CodeBucket"
CODE_KEY: Final = "CodeKey"
ARCHITECTURE: Final = "Architecture"
RESOLVER_MEMORY: Final = "ResolverMemorySize"
RESOLVER_TIMEOUT: Final = "ResolverTimeout"
DRAIN_MEMORY: Final = "DrainMemorySize"
LOG_RETENTION: Final = "LogRetentionDays"
SWEEP_SCHEDULE: Final = "SweepSchedule"
SUBNETS: Final = "SubnetIds"
SECURITY_GROUPS: Final = "SecurityGroupIds"
NEPTUNE_CLUSTER: Final = "NeptuneClusterResourceId"

IN_VPC: Final = "InVpc"
NEPTUNE_IAM: Final = "NeptuneIam"

# The package `make lambda-package` builds (dist/lambda/), uploaded to the bucket.
DEFAULT_CODE_KEY = "commerce-graph-lambda.zip"
_RETENTIONS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827]


def _string(description: str, default: str | None = "", **more: Json) -> dict[str, Json]:
    parameter: dict[str, Json] = {"Type": "String", "Description": description, **more}
    if default is not None:
        parameter["Default"] = default
    return parameter


# Optional values: parameter -> (environment variable, is it a secret id, description).
_OPTIONAL: Final[dict[str, tuple[str, bool, str]]] = {
    "NeptuneEndpoint": (
        "CG_NEPTUNE_ENDPOINT",
        False,
        "Gremlin websocket URL, wss://<cluster>:8182/gremlin. Empty: no recommendations.",
    ),
    "ErpStockUrl": ("CG_ERP_STOCK_URL", False, "OData service root of the ERP's stock."),
    "ErpPricingUrl": ("CG_ERP_PRICING_URL", False, "OData service root of contract prices."),
    "ErpUser": ("CG_ERP_USER", False, "The ERP's technical user (with ErpPasswordSecretId)."),
    "ErpPasswordSecretId": ("CG_ERP_PASSWORD", True, "Secret: the ERP user's password."),
    "ErpTokenSecretId": ("CG_ERP_TOKEN", True, "Secret: an OAuth bearer token for the ERP."),
    "PaymentsStripeKeySecretId": ("CG_PAYMENTS_STRIPE_API_KEY", True, "Secret: Stripe API key."),
    "TaxStripeKeySecretId": ("CG_TAX_STRIPE_API_KEY", True, "Secret: Stripe Tax API key."),
    "LoyaltyDsnSecretId": (
        "CG_LOYALTY_DSN",
        True,
        "Secret: postgresql://user:password@host:5432/loyalty?sslmode=require.",
    ),
}


def _has(parameter: str) -> str:
    return f"Has{parameter}"


def add_parameters(template: Template) -> None:
    template.parameters.update(
        {
            CODE_BUCKET: _string("S3 bucket holding the Lambda package.", default=None),
            CODE_KEY: _string("S3 key of the Lambda package.", DEFAULT_CODE_KEY),
            ARCHITECTURE: _string(
                "What the package was built for (make lambda-package LAMBDA_ARCH=...).",
                "x86_64",
                AllowedValues=["x86_64", "arm64"],
            ),
            RESOLVER_MEMORY: {
                "Type": "Number",
                "Default": 1024,
                "MinValue": 128,
                "MaxValue": 10240,
                "Description": "MB for the resolver function (CPU grows with it).",
            },
            RESOLVER_TIMEOUT: {
                "Type": "Number",
                "Default": 30,
                "MinValue": 1,
                "MaxValue": 30,
                "Description": "Seconds; AppSync gives up on a request after 30.",
            },
            DRAIN_MEMORY: {
                "Type": "Number",
                "Default": 256,
                "MinValue": 128,
                "MaxValue": 10240,
                "Description": "MB for the outbox drain function.",
            },
            LOG_RETENTION: {
                "Type": "Number",
                "Default": 30,
                "AllowedValues": _RETENTIONS,
                "Description": "Days the functions' logs are kept.",
            },
            SWEEP_SCHEDULE: _string(
                "How often the polling relay sweeps what the stream did not publish.",
                "rate(1 minute)",
            ),
            "TokenSecretId": _string(
                "Secret: the key that signs pagination tokens (CG_TOKEN_SECRET).", default=None
            ),
            SUBNETS: {
                "Type": "CommaDelimitedList",
                "Default": "",
                "Description": "Subnets of the resolver function (Neptune, RDS). Empty: no VPC.",
            },
            SECURITY_GROUPS: {
                "Type": "CommaDelimitedList",
                "Default": "",
                "Description": "Security groups of the resolver function, with SubnetIds.",
            },
            NEPTUNE_CLUSTER: _string(
                "The Neptune cluster's resource id (cluster-...): IAM auth. Empty: no IAM."
            ),
            "PaymentsProvider": _string(
                "sandbox or stripe.", "sandbox", AllowedValues=["sandbox", "stripe"]
            ),
            "TaxProvider": _string(
                "sandbox or stripe.", "sandbox", AllowedValues=["sandbox", "stripe"]
            ),
        }
    )
    for parameter, (_, _, description) in _OPTIONAL.items():
        template.parameters[parameter] = _string(description)
        template.conditions[_has(parameter)] = not_(equals(ref(parameter), ""))
    template.conditions[IN_VPC] = not_(equals({"Fn::Join": ["", ref(SUBNETS)]}, ""))
    template.conditions[NEPTUNE_IAM] = not_(equals(ref(NEPTUNE_CLUSTER), ""))
    # ErpSettings refuses these combinations at start-up; refuse them at deploy time instead.
    user, password, token = (ref("ErpUser"), ref("ErpPasswordSecretId"), ref("ErpTokenSecretId"))
    template.rules["ErpAuthentication"] = {
        "Assertions": [
            {
                "Assert": {
                    "Fn::Or": [
                        {"Fn::And": [equals(user, ""), equals(password, "")]},
                        {"Fn::And": [not_(equals(user, "")), not_(equals(password, ""))]},
                    ]
                },
                "AssertDescription": "ErpUser and ErpPasswordSecretId go together.",
            },
            {
                "Assert": {"Fn::Or": [equals(user, ""), equals(token, "")]},
                "AssertDescription": "Use ErpUser/ErpPasswordSecretId or ErpTokenSecretId.",
            },
        ]
    }


def connector_environment() -> dict[str, Json]:
    """The resolver function's variables for the external systems (datasources/build.py's
    ConnectorSettings, and the token secret of Settings)."""
    env: dict[str, Json] = {
        "CG_TOKEN_SECRET": secret("TokenSecretId"),
        "CG_PAYMENTS_PROVIDER": ref("PaymentsProvider"),
        "CG_TAX_PROVIDER": ref("TaxProvider"),
        "CG_NEPTUNE_IAM": if_(NEPTUNE_IAM, "true", "false"),
    }
    for parameter, (variable, is_secret, _) in _OPTIONAL.items():
        value = secret(parameter) if is_secret else ref(parameter)
        env[variable] = if_(_has(parameter), value)
    return env
