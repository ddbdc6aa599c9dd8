"""The DynamoDB tables of `datasources/dynamodb/tables.py`, named `<CG_TABLE_PREFIX><name>`.

Every table keys on `pk`/`sk`, each index `gsiN` on `gsiNpk`/`gsiNsk` (all attributes
projected), on demand, with point-in-time recovery and the spec's TTL attribute. The outbox
streams NEW_IMAGE: its drain reads the events from the stream. Tables are retained when the
stack is deleted or a change would replace them: they hold the shop's data.
"""

from __future__ import annotations

from appsync.deploy.template.cfn import Json, Template, get_att, logical_id, sub
from datasources import frozen
from datasources.dynamodb.tables import ALL_TABLES, OUTBOX, TableSpec, table_definition


@frozen.record
class TableRef:
    """A table of the template, for the policies that name it."""

    spec: TableSpec
    logical_id: str
    name: str

    def arn(self) -> Json:
        return get_att(self.logical_id, "Arn")

    def index_arns(self) -> list[Json]:
        return [sub(f"${{{self.logical_id}.Arn}}/index/{index}") for index in self.spec.indexes]

    def stream_arn(self) -> Json:
        return get_att(self.logical_id, "StreamArn")


def table_properties(spec: TableSpec, table_name: str) -> dict[str, Json]:
    # CreateTable's request and the CloudFormation resource share these property names, so
    # the key schema is the one `create_tables` sends, not a copy of it.
    properties: dict[str, Json] = {
        **table_definition(spec, table_name),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
    }
    if spec.ttl_attribute:
        properties["TimeToLiveSpecification"] = {
            "AttributeName": spec.ttl_attribute,
            "Enabled": True,
        }
    if spec is OUTBOX:
        properties["StreamSpecification"] = {"StreamViewType": "NEW_IMAGE"}
    return properties


def add_tables(template: Template, prefix: str) -> dict[str, TableRef]:
    """Every table of ALL_TABLES; the refs by logical table name (`catalog`, `outbox`...)."""
    tables: dict[str, TableRef] = {}
    for spec in ALL_TABLES:
        ref = TableRef(spec, logical_id(spec.name, "table"), f"{prefix}{spec.name}")
        template.add(
            ref.logical_id,
            "AWS::DynamoDB::Table",
            table_properties(spec, ref.name),
            DeletionPolicy="Retain",
            UpdateReplacePolicy="Retain",
        )
        tables[spec.name] = ref
    return tables
