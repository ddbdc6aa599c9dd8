"""CloudFormation's vocabulary: intrinsic functions, IAM statements, and the template being
built. Plain dicts in, plain dicts out: the template is JSON data, written as JSON or YAML."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

Json = Any

NO_VALUE: Json = {"Ref": "AWS::NoValue"}

_LOGICAL_ID = re.compile(r"^[A-Za-z0-9]{1,255}$")


def ref(name: str) -> Json:
    return {"Ref": name}


def get_att(resource: str, attribute: str) -> Json:
    return {"Fn::GetAtt": [resource, attribute]}


def sub(text: str) -> Json:
    return {"Fn::Sub": text}


def if_(condition: str, then: Json, otherwise: Json = NO_VALUE) -> Json:
    return {"Fn::If": [condition, then, otherwise]}


def equals(a: Json, b: Json) -> Json:
    return {"Fn::Equals": [a, b]}


def not_(condition: Json) -> Json:
    return {"Fn::Not": [condition]}


def secret(parameter: str) -> Json:
    """A Secrets Manager dynamic reference to the secret a parameter names (its whole
    SecretString), resolved by CloudFormation at deploy time."""
    return sub(f"{{{{resolve:secretsmanager:${{{parameter}}}:SecretString}}}}")


def pascal(value: Json) -> Json:
    """boto3's camelCase request shape as CloudFormation's PascalCase properties
    (`openIDConnectConfig` -> `OpenIDConnectConfig`, `iatTTL` -> `IatTTL`). Keys only: values
    are kept, so this is for shapes without free-form maps (tags are not)."""
    if isinstance(value, Mapping):
        return {key[:1].upper() + key[1:]: pascal(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [pascal(item) for item in value]
    return value


def logical_id(*parts: str) -> str:
    """A logical id from words (`("Resolver", "Query", "product")` -> `ResolverQueryProduct`)."""
    words = [w for part in parts for w in re.split(r"[^A-Za-z0-9]+", part) if w]
    name = "".join(w[:1].upper() + w[1:] for w in words)
    if not _LOGICAL_ID.match(name):
        raise ValueError(f"no logical id can be made of {parts!r}")
    return name


def statement(
    actions: Sequence[str],
    resources: Json,
    *,
    sid: str | None = None,
    condition: Mapping[str, Any] | None = None,
) -> dict[str, Json]:
    stmt: dict[str, Json] = {"Effect": "Allow", "Action": sorted(actions)}
    if sid:
        stmt = {"Sid": sid, **stmt}
    stmt["Resource"] = resources
    if condition:
        stmt["Condition"] = dict(condition)
    return stmt


def policy(name: str, statements: Sequence[Json]) -> dict[str, Json]:
    """An inline policy of a role."""
    return {
        "PolicyName": name,
        "PolicyDocument": {"Version": "2012-10-17", "Statement": list(statements)},
    }


def assume_role(service: str, *, same_account: bool = True) -> dict[str, Json]:
    """The trust policy of a role for an AWS service; `same_account` adds the confused-deputy
    guard (the service acts for this account only)."""
    trust: dict[str, Json] = {
        "Effect": "Allow",
        "Principal": {"Service": service},
        "Action": "sts:AssumeRole",
    }
    if same_account:
        trust["Condition"] = {"StringEquals": {"aws:SourceAccount": ref("AWS::AccountId")}}
    return {"Version": "2012-10-17", "Statement": [trust]}


@dataclass
class Template:
    """The template under construction; `add` refuses a logical id twice."""

    description: str
    parameters: dict[str, Json] = field(default_factory=dict)
    rules: dict[str, Json] = field(default_factory=dict)
    conditions: dict[str, Json] = field(default_factory=dict)
    resources: dict[str, Json] = field(default_factory=dict)
    outputs: dict[str, Json] = field(default_factory=dict)
    # Things the operator should know about this template (printed by the CLI).
    notes: list[str] = field(default_factory=list)

    def add(
        self, name: str, resource_type: str, properties: Mapping[str, Json], **attributes: Json
    ) -> str:
        if not _LOGICAL_ID.match(name) or name in self.resources:
            raise ValueError(f"logical id {name!r} is invalid or taken")
        self.resources[name] = {"Type": resource_type, **attributes, "Properties": dict(properties)}
        return name

    def output(self, name: str, value: Json, description: str) -> None:
        self.outputs[name] = {"Description": description, "Value": value}

    def to_dict(self) -> dict[str, Json]:
        body: dict[str, Json] = {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": self.description,
            "Parameters": self.parameters,
        }
        if self.rules:
            body["Rules"] = self.rules
        if self.conditions:
            body["Conditions"] = self.conditions
        body["Resources"] = self.resources
        body["Outputs"] = self.outputs
        return body
