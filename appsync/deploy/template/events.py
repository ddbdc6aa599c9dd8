"""The events' wiring (docs/events.md): the custom bus, the outbox drained by its stream, the
sweeping schedule, and the inbound path from other systems' events to AppSync.

Inbound: one EventBridge rule per internal mutation, on the bus, matching the sources of
`CG_EVENTS_INBOUND_SOURCE_PREFIXES` and the detail-types `appsync/inbound.py` routes to that
mutation. Its target is the AppSync API itself, called with IAM by a role allowed to call only
the `publish*` fields, running the same operation the local consumer runs, with an input
transformer that builds its `input` from the event: each input field from the payload's field
of that name, `occurredAt` from the envelope. What AppSync refuses is retried by EventBridge,
then kept in a dead-letter queue.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Final

from graphql import (
    GraphQLInputObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    get_named_type,
    parse,
    type_from_ast,
)
from graphql.language import FieldNode

from appsync.deploy.template import parameters as p
from appsync.deploy.template.cfn import (
    Template,
    assume_role,
    get_att,
    logical_id,
    policy,
    ref,
    statement,
    sub,
)
from appsync.deploy.template.tables import TableRef
from appsync.inbound import ROUTES
from datasources import frozen

# docs/events.md: batches of 100 records, INSERTs only (a mark or a reschedule is a MODIFY).
STREAM_BATCH_SIZE: Final = 100
INSERT_FILTER: Final = json.dumps({"eventName": ["INSERT"]})
# Past these, a record goes to the failure queue; its event is still pending for the sweeper.
STREAM_MAX_RETRIES: Final = 10
STREAM_MAX_RECORD_AGE_SECONDS: Final = 6 * 3600
QUEUE_RETENTION_SECONDS: Final = 14 * 86400
INBOUND_MAX_EVENT_AGE_SECONDS: Final = 86400


def add_bus(template: Template, name: str) -> str:
    bus = template.add("Bus", "AWS::Events::EventBus", {"Name": name})
    template.output("BusName", ref(bus), "The EventBridge bus of domain events.")
    template.output("BusArn", get_att(bus, "Arn"), "The bus's ARN.")
    return bus


def add_queue(template: Template, name: str, description: str) -> str:
    queue = template.add(
        name,
        "AWS::SQS::Queue",
        {"MessageRetentionPeriod": QUEUE_RETENTION_SECONDS, "SqsManagedSseEnabled": True},
        # What they hold is only a pointer: the events themselves stay in the retained outbox.
        DeletionPolicy="Delete",
        UpdateReplacePolicy="Delete",
    )
    template.output(f"{name}Url", ref(queue), description)
    return queue


def add_outbox_drain(
    template: Template, outbox: TableRef, *, function: str, failure_queue: str
) -> None:
    """The stream -> drain mapping, and the schedule that runs the drain's sweep."""
    template.add(
        "OutboxStreamMapping",
        "AWS::Lambda::EventSourceMapping",
        {
            "EventSourceArn": outbox.stream_arn(),
            "FunctionName": ref(function),
            # From the oldest record kept (24 h): publishing twice is allowed, missing is not.
            "StartingPosition": "TRIM_HORIZON",
            "BatchSize": STREAM_BATCH_SIZE,
            "FilterCriteria": {"Filters": [{"Pattern": INSERT_FILTER}]},
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "BisectBatchOnFunctionError": True,
            "MaximumRetryAttempts": STREAM_MAX_RETRIES,
            "MaximumRecordAgeInSeconds": STREAM_MAX_RECORD_AGE_SECONDS,
            "DestinationConfig": {"OnFailure": {"Destination": get_att(failure_queue, "Arn")}},
        },
    )
    template.output("OutboxStreamArn", outbox.stream_arn(), "The outbox table's stream.")
    sweep = template.add(
        "SweepRule",
        "AWS::Events::Rule",
        {
            "Description": "Runs the polling relay over the outbox's pending index.",
            "ScheduleExpression": ref(p.SWEEP_SCHEDULE),
            "State": "ENABLED",
            "Targets": [{"Id": "drain", "Arn": get_att(function, "Arn")}],
        },
    )
    template.add(
        "SweepPermission",
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": ref(function),
            "Principal": "events.amazonaws.com",
            "SourceArn": get_att(sweep, "Arn"),
        },
    )


@frozen.record
class InboundRoute:
    """The events one internal mutation is called for, and how."""

    field_name: str  # the Mutation field, e.g. publishStockChanged
    document: str  # the operation appsync/inbound.py runs for these events
    detail_types: tuple[str, ...]
    input_paths: dict[str, str]  # input field -> JSON path in the event

    def input_template(self) -> str:
        # Unquoted placeholders: EventBridge writes each value as JSON (strings quoted).
        fields = ", ".join(f'"{name}": <{name}>' for name in self.input_paths)
        return f'{{"input": {{{fields}}}}}'


def inbound_routes(schema: GraphQLSchema) -> list[InboundRoute]:
    """appsync/inbound.py's ROUTES, grouped by the mutation they call, with each input's
    fields read from the deployed schema."""
    by_document: dict[str, list[str]] = {}
    for detail_type, (document, _) in ROUTES.items():
        by_document.setdefault(document, []).append(detail_type)
    routes = []
    for document, detail_types in by_document.items():
        operation = parse(document).definitions[0]
        assert isinstance(operation, OperationDefinitionNode)
        (selection,) = operation.selection_set.selections
        assert isinstance(selection, FieldNode)
        (variable,) = operation.variable_definitions or ()
        input_type = get_named_type(type_from_ast(schema, variable.type))
        if not isinstance(input_type, GraphQLInputObjectType):
            raise ValueError(f"{selection.name.value}'s input is not an input object")
        paths = {
            name: "$.detail.occurredAt" if name == "occurredAt" else f"$.detail.payload.{name}"
            for name in input_type.fields
        }
        routes.append(InboundRoute(selection.name.value, document, tuple(detail_types), paths))
    return routes


def add_inbound(
    template: Template,
    routes: Sequence[InboundRoute],
    *,
    bus: str,
    api: str,
    source_prefixes: Sequence[str],
) -> None:
    """A rule per route on the bus, targeting the AppSync API with IAM."""
    field_arns = [
        sub(f"${{{api}.Arn}}/types/Mutation/fields/{route.field_name}") for route in routes
    ]
    role = template.add(
        "InboundRole",
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": assume_role("events.amazonaws.com"),
            "Policies": [
                policy("inbound", [statement(["appsync:GraphQL"], field_arns, sid="Publish")])
            ],
        },
    )
    dead_letters = add_queue(
        template, "InboundDeadLetterQueue", "Inbound events AppSync did not take."
    )
    rules: list[str] = []
    for route in routes:
        rule = template.add(
            logical_id("Inbound", route.field_name, "rule"),
            "AWS::Events::Rule",
            {
                "Description": f"Other systems' events -> Mutation.{route.field_name}",
                "EventBusName": ref(bus),
                "EventPattern": {
                    "source": [{"prefix": prefix} for prefix in source_prefixes],
                    "detail-type": list(route.detail_types),
                },
                "State": "ENABLED",
                "Targets": [
                    {
                        "Id": "appsync",
                        "Arn": get_att(api, "GraphQLEndpointArn"),
                        "RoleArn": get_att(role, "Arn"),
                        "AppSyncParameters": {"GraphQLOperation": route.document},
                        "InputTransformer": {
                            "InputPathsMap": route.input_paths,
                            "InputTemplate": route.input_template(),
                        },
                        "RetryPolicy": {
                            "MaximumEventAgeInSeconds": INBOUND_MAX_EVENT_AGE_SECONDS,
                        },
                        "DeadLetterConfig": {"Arn": get_att(dead_letters, "Arn")},
                    }
                ],
            },
        )
        rules.append(rule)
    template.add(
        "InboundDeadLetterQueuePolicy",
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [ref(dead_letters)],
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"Service": "events.amazonaws.com"},
                        "Action": "sqs:SendMessage",
                        "Resource": get_att(dead_letters, "Arn"),
                        "Condition": {
                            "ArnEquals": {"aws:SourceArn": [get_att(r, "Arn") for r in rules]}
                        },
                    }
                ],
            },
        },
    )
