"""`commerce-graph deploy`: converge an AppSync API on the plan (plan.py) with boto3.

Stages, in order; a stage that fails raises `DeployError` and nothing after it runs:

1. the API, found by name (the `managed-by` tag decides between namesakes): created, or
   updated when its auth modes, limits or logging differ;
2. the schema: uploaded and polled until SUCCESS/ACTIVE, skipped when the API's
   `commerce-graph:schema-sha256` tag (set only after a successful upload) matches;
3. the data sources: the graph's Lambda (AWS_LAMBDA) and NONE;
4. the resolvers: created, updated when different, and those of ours (on our data sources)
   that the plan no longer has deleted;
5. the API keys: one per description, created when missing or expired, extended when they
   expire within `api_key_renew_days`; never duplicated, never deleted (a head may use it);
6. the API cache: created, updated, replaced (encryption cannot change in place), deleted.

Every stage reads before it writes and reports one `Change` per object, so a re-run against
the same plan writes nothing. `--dry-run` only reads.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal, TextIO

from appsync.deploy.plan import MANAGED_BY_TAG, ApiPlan, PlanError, plan_api
from appsync.deploy.settings import DeploySettings
from datasources import frozen
from datasources.envsettings import SettingsError

if TYPE_CHECKING:
    from mypy_boto3_appsync import AppSyncClient

__all__ = ["AppSyncApi", "Change", "DeployError", "Deployment", "add_arguments", "main"]

SCHEMA_TAG = "commerce-graph:schema-sha256"
ROOT_TYPES = ("Query", "Mutation", "Subscription")
DAY = 86_400
# AppSync refuses keys valid for less than 1 day or more than 365 from *its* clock.
_KEY_MARGIN = 600

# What AppSync reports for a setting that was never set; 0 and 10000 resolvers mean the same.
_API_DEFAULTS: Mapping[str, Any] = {
    "additionalAuthenticationProviders": [],
    "queryDepthLimit": 0,
    "resolverCountLimit": 0,
    "introspectionConfig": "ENABLED",
    "xrayEnabled": False,
}
_MANAGED_API_KEYS = (
    "authenticationType",
    "additionalAuthenticationProviders",
    "userPoolConfig",
    "openIDConnectConfig",
    "lambdaAuthorizerConfig",
    "logConfig",
    "queryDepthLimit",
    "resolverCountLimit",
    "introspectionConfig",
    "xrayEnabled",
)
_RESOLVER_KEYS = (
    "dataSourceName",
    "kind",
    "maxBatchSize",
    "runtime",
    "code",
    "cachingConfig",
    "requestMappingTemplate",
    "responseMappingTemplate",
    "pipelineConfig",
)

Action = Literal["create", "update", "replace", "delete", "unchanged"]


class DeployError(Exception):
    """The deploy stopped; the message says where and why (AppSync's own words included)."""


@frozen.record
class Change:
    action: Action
    kind: str  # "api", "schema", "data source", "resolver", "api key", "api cache"
    name: str
    detail: str = ""

    def line(self, *, dry_run: bool) -> str:
        verb = self.action if self.action == "unchanged" or not dry_run else f"would {self.action}"
        text = f"{verb:<16} {self.kind:<12} {self.name}"
        return f"{text}  ({self.detail})" if self.detail else text


class AppSyncApi:
    """The AppSync calls a deploy makes, over one boto3 `appsync` client; absent objects
    are None, lists are whole (paginated)."""

    def __init__(self, client: AppSyncClient) -> None:
        self.client = client

    def apis_named(self, name: str) -> list[dict[str, Any]]:
        pages = self.client.get_paginator("list_graphql_apis").paginate()
        return [dict(api) for page in pages for api in page["graphqlApis"] if api["name"] == name]

    def data_source(self, api_id: str, name: str) -> dict[str, Any] | None:
        try:
            return dict(self.client.get_data_source(apiId=api_id, name=name)["dataSource"])
        except self.client.exceptions.NotFoundException:
            return None

    def resolvers(self, api_id: str, type_name: str) -> list[dict[str, Any]]:
        pages = self.client.get_paginator("list_resolvers").paginate(
            apiId=api_id, typeName=type_name
        )
        return [dict(resolver) for page in pages for resolver in page["resolvers"]]

    def api_keys(self, api_id: str) -> list[dict[str, Any]]:
        pages = self.client.get_paginator("list_api_keys").paginate(apiId=api_id)
        return [dict(key) for page in pages for key in page["apiKeys"]]

    def api_cache(self, api_id: str) -> dict[str, Any] | None:
        try:
            return dict(self.client.get_api_cache(apiId=api_id)["apiCache"])
        except self.client.exceptions.NotFoundException:
            return None


class Deployment:
    """One run: the stages in order, each a list of `Change`s (also kept in `changes`)."""

    def __init__(
        self,
        appsync: AppSyncApi,
        plan: ApiPlan,
        settings: DeploySettings,
        *,
        dry_run: bool = False,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.appsync, self.client = appsync, appsync.client
        self.plan, self.settings, self.dry_run = plan, settings, dry_run
        self._sleep, self._clock, self._now = sleep, clock, now
        self.changes: list[Change] = []
        self.api: dict[str, Any] | None = None

    def run(self) -> list[Change]:
        self._require_lambda()  # before any write, not half-way through
        for stage in (
            self.converge_api,
            self.converge_schema,
            self.converge_data_sources,
            self.converge_resolvers,
            self.converge_api_keys,
            self.converge_cache,
        ):
            stage()
        return self.changes

    @property
    def api_id(self) -> str | None:
        return None if self.api is None else str(self.api["apiId"])

    def _record(self, action: Action, kind: str, name: str, detail: str = "") -> bool:
        """Note a change; True when it should be written (not unchanged, not a dry run)."""
        self.changes.append(Change(action, kind, name, detail))
        return action != "unchanged" and not self.dry_run

    # --- 1. the API -----------------------------------------------------------------
    def converge_api(self) -> None:
        plan = self.plan
        named = self.appsync.apis_named(plan.name)
        ours = [api for api in named if _tags(api).get(MANAGED_BY_TAG[0]) == MANAGED_BY_TAG[1]]
        candidates = ours or named
        if len(candidates) > 1:
            ids = ", ".join(sorted(str(api["apiId"]) for api in candidates))
            raise DeployError(f"several AppSync APIs are named {plan.name!r} ({ids}); tag one")
        if not candidates:
            if self._record("create", "api", plan.name):
                response = self.client.create_graphql_api(
                    name=plan.name, tags=plan.tags, **plan.api
                )
                self.api = dict(response["graphqlApi"])
            return
        self.api = current = candidates[0]
        differing = [key for key in _MANAGED_API_KEYS if _api_differs(key, plan.api, current)]
        if self._record(
            "update" if differing else "unchanged", "api", plan.name, ", ".join(differing)
        ):
            response = self.client.update_graphql_api(
                apiId=str(current["apiId"]), name=plan.name, **plan.api
            )
            self.api = {**dict(response["graphqlApi"]), "tags": _tags(current)}
        missing = {k: v for k, v in plan.tags.items() if _tags(current).get(k) != v}
        if missing and self._record("update", "api tags", plan.name, ", ".join(sorted(missing))):
            self.client.tag_resource(resourceArn=str(current["arn"]), tags=missing)

    # --- 2. the schema --------------------------------------------------------------
    def converge_schema(self) -> None:
        digest = self.plan.schema_sha256
        current = _tags(self.api).get(SCHEMA_TAG) if self.api else None
        action: Action = "unchanged" if current == digest else ("update" if current else "create")
        if not self._record(action, "schema", f"sha256 {digest[:12]}"):
            return
        api_id, arn = str(self.api_id), str(self.api["arn"]) if self.api else ""
        self.client.start_schema_creation(apiId=api_id, definition=self.plan.schema_sdl.encode())
        deadline = self._clock() + self.settings.schema_timeout_seconds
        while True:
            status = self.client.get_schema_creation_status(apiId=api_id)
            if status["status"] in ("SUCCESS", "ACTIVE"):
                break
            if status["status"] == "FAILED":
                raise DeployError(f"AppSync refused the schema: {status.get('details')}")
            if self._clock() >= deadline:
                raise DeployError(
                    f"the schema is still {status['status']} after"
                    f" {self.settings.schema_timeout_seconds:g} s"
                    " (CG_DEPLOY_SCHEMA_TIMEOUT_SECONDS)"
                )
            self._sleep(self.settings.schema_poll_seconds)
        # Only now: a failed upload must not look deployed to the next run.
        self.client.tag_resource(resourceArn=arn, tags={SCHEMA_TAG: digest})

    # --- 3. data sources ------------------------------------------------------------
    def _require_lambda(self) -> None:
        if self.settings.lambda_function_arn is None or self.settings.service_role_arn is None:
            raise DeployError(
                "CG_DEPLOY_LAMBDA_FUNCTION_ARN and CG_DEPLOY_SERVICE_ROLE_ARN are required"
            )

    def converge_data_sources(self) -> None:
        self._require_lambda()
        settings = self.settings
        wanted: list[dict[str, Any]] = [
            {
                "name": self.plan.lambda_source,
                "description": "The graph's Lambda: Direct Lambda resolvers of every root field",
                "type": "AWS_LAMBDA",
                "serviceRoleArn": settings.service_role_arn,
                "lambdaConfig": {"lambdaFunctionArn": settings.lambda_function_arn},
            },
            {
                "name": self.plan.none_source,
                "description": "Resolvers that run in AppSync alone (APPSYNC_JS)",
                "type": "NONE",
            },
        ]
        api_id = self.api_id
        for source in wanted:
            current = self.appsync.data_source(api_id, source["name"]) if api_id else None
            if current is None:
                if self._record("create", "data source", source["name"]):
                    self.client.create_data_source(apiId=str(self.api_id), **source)
                continue
            differing = [k for k in source if not _same(source[k], current.get(k))]
            action: Action = "update" if differing else "unchanged"
            if self._record(action, "data source", source["name"], ", ".join(differing)):
                self.client.update_data_source(apiId=str(self.api_id), **source)

    # --- 4. resolvers ---------------------------------------------------------------
    def converge_resolvers(self) -> None:
        current: dict[str, dict[str, Any]] = {}
        if self.api_id is not None:
            for type_name in ROOT_TYPES:
                for resolver in self.appsync.resolvers(self.api_id, type_name):
                    current[f"{type_name}.{resolver['fieldName']}"] = resolver
        planned = {resolver.key: resolver.request() for resolver in self.plan.resolvers}
        for key, request in planned.items():
            existing = current.get(key)
            if existing is None:
                if self._record("create", "resolver", key):
                    self.client.create_resolver(apiId=str(self.api_id), **request)
                continue
            differing = [k for k in _RESOLVER_KEYS if _resolver_differs(k, request, existing)]
            action: Action = "update" if differing else "unchanged"
            if self._record(action, "resolver", key, ", ".join(differing)):
                self.client.update_resolver(apiId=str(self.api_id), **request)
        ours = {self.plan.lambda_source, self.plan.none_source}
        for key, existing in current.items():
            if key in planned or existing.get("dataSourceName") not in ours:
                continue
            if self._record("delete", "resolver", key, "no longer planned"):
                type_name, _, field_name = key.partition(".")
                self.client.delete_resolver(
                    apiId=str(self.api_id), typeName=type_name, fieldName=field_name
                )

    # --- 5. API keys ----------------------------------------------------------------
    def converge_api_keys(self) -> None:
        now = self._now()
        keys = self.appsync.api_keys(self.api_id) if self.api_id else []
        renew_before = now + self.settings.api_key_renew_days * DAY
        for planned in self.plan.api_keys:
            expires = _expiry(now, planned.days)
            live = [
                key
                for key in keys
                if key.get("description") == planned.description and int(key["expires"]) > now
            ]
            if not live:
                if self._record("create", "api key", planned.description, f"{planned.days} days"):
                    self.client.create_api_key(
                        apiId=str(self.api_id), description=planned.description, expires=expires
                    )
                continue
            longest = max(live, key=lambda key: int(key["expires"]))
            if int(longest["expires"]) >= renew_before:
                self._record("unchanged", "api key", planned.description)
            elif self._record("update", "api key", planned.description, "renewed"):
                self.client.update_api_key(
                    apiId=str(self.api_id), id=str(longest["id"]), expires=expires
                )

    # --- 6. the API cache -----------------------------------------------------------
    def converge_cache(self) -> None:
        wanted = self.plan.cache
        current = self.appsync.api_cache(self.api_id) if self.api_id else None
        name = self.plan.name
        if wanted is None:
            if current is not None and self._record("delete", "api cache", name):
                self.client.delete_api_cache(apiId=str(self.api_id))
            return
        if current is None:
            if self._record("create", "api cache", name, str(wanted["apiCachingBehavior"])):
                self.client.create_api_cache(apiId=str(self.api_id), **wanted)
            return
        differing = [key for key in wanted if not _same(wanted[key], current.get(key))]
        if {"transitEncryptionEnabled", "atRestEncryptionEnabled"} & set(differing):
            if self._record("replace", "api cache", name, ", ".join(differing)):
                self.client.delete_api_cache(apiId=str(self.api_id))
                self._wait_cache_gone()
                self.client.create_api_cache(apiId=str(self.api_id), **wanted)
            return
        if self._record(
            "update" if differing else "unchanged", "api cache", name, ", ".join(differing)
        ):
            in_place = ("ttl", "apiCachingBehavior", "type")
            self.client.update_api_cache(
                apiId=str(self.api_id), **{key: wanted[key] for key in in_place}
            )

    def _wait_cache_gone(self) -> None:
        deadline = self._clock() + self.settings.schema_timeout_seconds
        while self.appsync.api_cache(str(self.api_id)) is not None:
            if self._clock() >= deadline:
                raise DeployError("the old API cache is still being deleted; run deploy again")
            self._sleep(self.settings.schema_poll_seconds)


def _tags(api: Mapping[str, Any] | None) -> dict[str, str]:
    return dict((api or {}).get("tags") or {})


def _api_differs(key: str, desired: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    def normal(value: Any) -> Any:
        value = _API_DEFAULTS.get(key) if value is None else value
        return 0 if key == "resolverCountLimit" and value == 10_000 else value

    return not _same(normal(desired.get(key)), normal(current.get(key)))


def _resolver_differs(key: str, desired: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    want, have = desired.get(key), current.get(key)
    if key == "maxBatchSize":  # absent and 0 both mean no batching
        return (want or 0) != (have or 0)
    return not _same(want, have)


def _same(desired: Any, current: Any) -> bool:
    """`current` (as AppSync reports it) says what `desired` says; fields AppSync adds with
    an empty or default-false value (e.g. `iatTTL: 0`) do not count as differences."""
    if isinstance(desired, Mapping) and isinstance(current, Mapping):
        return all(_same(value, current.get(key)) for key, value in desired.items()) and not any(
            value for key, value in current.items() if key not in desired
        )
    if isinstance(desired, list) and isinstance(current, list):
        return len(desired) == len(current) and all(map(_same, desired, current))
    if desired is None or current is None:
        return not desired and not current
    return bool(desired == current)


def _expiry(now: float, days: int) -> int:
    wanted = int(now) + days * DAY
    return max(int(now) + DAY + _KEY_MARGIN, min(wanted, int(now) + 365 * DAY - _KEY_MARGIN))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="print the changes without making them"
    )


def main(
    args: argparse.Namespace,
    *,
    client: AppSyncClient | None = None,
    plan: ApiPlan | None = None,
    out: TextIO | None = None,
) -> int:
    """Deploy per the CG_DEPLOY_/CG_AUTH_/CG_ settings; 0 on success, 1 on failure.

    `client` and `plan` replace the boto3 client and the settings' plan (tests)."""
    out = out or sys.stdout
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        settings = DeploySettings()
        plan = plan if plan is not None else plan_api(settings)
        if client is None:
            import boto3

            client = boto3.client(
                "appsync", region_name=settings.region, endpoint_url=settings.endpoint_url
            )
        deployment = Deployment(AppSyncApi(client), plan, settings, dry_run=args.dry_run)
        try:
            deployment.run()
        finally:
            for change in deployment.changes:
                print(change.line(dry_run=args.dry_run), file=out)
    except (DeployError, PlanError, SettingsError) as exc:
        print(f"deploy failed: {exc}", file=sys.stderr)
        return 1
    except (ClientError, BotoCoreError) as exc:
        print(f"deploy failed: AppSync: {exc}", file=sys.stderr)
        return 1
    uris = (deployment.api or {}).get("uris") or {}
    for kind in sorted(uris):  # GRAPHQL and REALTIME: what the heads point at
        print(f"endpoint {kind:<8} {uris[kind]}", file=out)
    print(_summary(deployment.changes, dry_run=args.dry_run), file=out)
    return 0


def _summary(changes: list[Change], *, dry_run: bool) -> str:
    counts: dict[str, int] = {}
    for change in changes:
        counts[change.action] = counts.get(change.action, 0) + 1
    text = ", ".join(f"{count} {action}" for action, count in counts.items())
    return f"{'dry run: ' if dry_run else ''}{text or 'nothing to do'}"
