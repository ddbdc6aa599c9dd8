"""Deploy settings from the environment (`CG_DEPLOY_` prefix): where and how the AppSync API
is created, beside the auth (`CG_AUTH_`) and edge (`CG_`) settings that say what it serves.

- `api_name`: the API is found by this name (and the `managed-by` tag) on every run.
- `region`, `endpoint_url`: the AppSync endpoint; unset, boto3's own resolution applies
  (`AWS_REGION`/`AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL_APPSYNC`, `AWS_ENDPOINT_URL`).
- `lambda_function_arn`, `service_role_arn`: the graph's Lambda (`make lambda-package`) and
  the role AppSync assumes to invoke it; both required to deploy, not to plan.
- `max_batch_size`: BatchInvoke size of the Query resolvers (see the field's comment).
- `api_keys`, `api_key_days`, `api_key_renew_days`: one key per head, by description.
- `cache_type`, `cache_transit_encryption`, `cache_at_rest_encryption`: the API cache's
  instance (behaviour and TTL are `CG_CACHING`, `CG_CACHE_TTL_SECONDS`).
- `schema_timeout_seconds`, `schema_poll_seconds`: waiting for `start_schema_creation`.
- `xray_enabled`, `log_role_arn`, `log_level`, `log_exclude_verbose_content`: `logConfig`
  is sent only when `log_role_arn` is set.
- `tags`: extra tags on the API (env: JSON object).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from datasources.envsettings import EnvSettings, setting

__all__ = ["CacheInstanceType", "DeploySettings", "FieldLogLevel"]

# The current instance names; the T2_*/R4_* ones are deprecated (APPSYNC.md §6.3).
CacheInstanceType = Literal[
    "SMALL", "MEDIUM", "LARGE", "XLARGE", "LARGE_2X", "LARGE_4X", "LARGE_8X", "LARGE_12X"
]
FieldLogLevel = Literal["NONE", "ERROR", "ALL", "INFO", "DEBUG"]

_ROLE_ARN = r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$"
_LAMBDA_ARN = r"^arn:aws[a-z-]*:lambda:[a-z0-9-]+:\d{12}:function:[\w-]+(:[\w$-]+)?$"


class DeploySettings(EnvSettings):
    env_prefix: ClassVar[str] = "CG_DEPLOY_"

    api_name: str = setting(default="commerce-graph", min_length=1, max_length=65_536)
    region: str | None = None
    endpoint_url: str | None = None

    lambda_function_arn: str | None = setting(default=None, pattern=_LAMBDA_ARN)
    service_role_arn: str | None = setting(default=None, pattern=_ROLE_ARN)
    # AppSync batches sibling calls of one Query field (aliased repeats) into one invocation.
    # 100 is the loaders' batch (resolvers/loaders.py BATCH) and DynamoDB BatchGetItem's key
    # cap, so a full batch costs one read per loader; larger batches only risk Lambda's 6 MB
    # response limit with product-page selections. Mutations never batch (see plan.py).
    max_batch_size: int = setting(default=100, ge=0, le=2000)

    api_keys: list[str] = setting(factory=lambda: ["web", "mobile", "pos"])
    api_key_days: int = setting(default=365, ge=1, le=365)
    # A re-run extends keys that expire within this many days; 0: never.
    api_key_renew_days: int = setting(default=30, ge=0, le=364)

    cache_type: CacheInstanceType = "SMALL"
    cache_transit_encryption: bool = True
    cache_at_rest_encryption: bool = True

    schema_timeout_seconds: float = setting(default=300.0, gt=0)
    schema_poll_seconds: float = setting(default=2.0, gt=0)

    xray_enabled: bool = False
    log_role_arn: str | None = setting(default=None, pattern=_ROLE_ARN)
    log_level: FieldLogLevel = "ERROR"
    log_exclude_verbose_content: bool = True

    tags: dict[str, str] = setting(factory=dict)

    def validate(self) -> None:
        # The description is how a re-run recognises a key: two equal ones would be one key.
        if len(set(self.api_keys)) != len(self.api_keys):
            raise ValueError("api_keys has duplicates")
        if len(self.api_keys) > 50:
            raise ValueError("AppSync allows at most 50 API keys per API")
