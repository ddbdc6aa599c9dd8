"""The two Lambda functions, one package: the graph behind AppSync's resolvers
(`appsync.lambda_handler.handler`) and the outbox drain (`datasources.events.stream.handler`),
each with its log group and a role that allows what its code calls, on the resources it calls.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from appsync.deploy.template import parameters as p
from appsync.deploy.template.cfn import (
    Json,
    Template,
    assume_role,
    get_att,
    if_,
    policy,
    ref,
    statement,
    sub,
)
from appsync.deploy.template.tables import TableRef
from datasources.dynamodb.tables import CARTS, CATALOG, CUSTOMERS, INVENTORY, ORDERS, OUTBOX

RUNTIME: Final = "python3.11"
RESOLVER_HANDLER: Final = "appsync.lambda_handler.handler"
DRAIN_HANDLER: Final = "datasources.events.stream.handler"

# What the resolvers call, table by table (datasources/dynamodb/*.py). A TransactWriteItems is
# authorised per item, by the item's own action: placeOrder's Puts (orders, outbox) and
# Updates (carts, inventory), a cart write's Put (carts, outbox). `apikeys` is absent: behind
# AppSync, AppSync checks the API keys.
RESOLVER_TABLE_ACTIONS: Final[Mapping[str, tuple[str, ...]]] = {
    CATALOG.name: ("BatchGetItem", "Query"),  # catalog and list prices
    INVENTORY.name: ("BatchGetItem", "Query", "UpdateItem"),  # stock; reservations
    CUSTOMERS.name: ("BatchGetItem",),
    CARTS.name: ("BatchGetItem", "GetItem", "PutItem", "UpdateItem"),
    ORDERS.name: ("BatchGetItem", "GetItem", "PutItem", "Query"),  # orders, idempotency keys
    OUTBOX.name: ("PutItem",),  # the events of a write, in its transaction
}
# The drain: the stream's records, the marks (BatchWriteItem) and reschedules (PutItem), and
# the sweeping relay's reads of the pending index.
STREAM_ACTIONS: Final = (
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
)
DRAIN_OUTBOX_ACTIONS: Final = ("dynamodb:BatchWriteItem", "dynamodb:PutItem", "dynamodb:Query")

_VPC_ACCESS = "arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"


def _log_group(template: Template, name: str) -> str:
    return template.add(
        f"{name}LogGroup",
        "AWS::Logs::LogGroup",
        {"RetentionInDays": ref(p.LOG_RETENTION)},
        DeletionPolicy="Delete",
        UpdateReplacePolicy="Delete",
    )


def _function(
    description: str,
    handler: str,
    *,
    role: str,
    memory: Json,
    timeout: Json,
    environment: Mapping[str, Json],
    log_group: str,
) -> dict[str, Json]:
    """An `AWS::Lambda::Function`'s properties: the package's code, runtime and architecture."""
    return {
        "Description": description,
        "Runtime": RUNTIME,
        "Handler": handler,
        "Code": {"S3Bucket": ref(p.CODE_BUCKET), "S3Key": ref(p.CODE_KEY)},
        "Architectures": [ref(p.ARCHITECTURE)],
        "Role": get_att(role, "Arn"),
        "MemorySize": memory,
        "Timeout": timeout,
        "Environment": {"Variables": dict(environment)},
        "LoggingConfig": {"LogGroup": ref(log_group)},
    }


def _logging(log_group: str) -> dict[str, Json]:
    return statement(
        ["logs:CreateLogStream", "logs:PutLogEvents"], get_att(log_group, "Arn"), sid="Logs"
    )


def resolver_table_statements(tables: Mapping[str, TableRef]) -> list[dict[str, Json]]:
    statements = []
    for name, actions in RESOLVER_TABLE_ACTIONS.items():
        table = tables[name]
        resources = [table.arn()]
        if "Query" in actions:
            resources += table.index_arns()
        statements.append(
            statement(
                [f"dynamodb:{a}" for a in actions],
                resources,
                sid=f"{name.capitalize()}Table",
            )
        )
    return statements


def add_resolver_function(
    template: Template, tables: Mapping[str, TableRef], *, environment: Mapping[str, Json]
) -> str:
    """The graph's function; its logical id."""
    log_group = _log_group(template, "Resolver")
    statements = [_logging(log_group), *resolver_table_statements(tables)]
    statements.append(
        if_(
            p.NEPTUNE_IAM,
            statement(
                [
                    "neptune-db:connect",
                    "neptune-db:ReadDataViaQuery",
                    "neptune-db:WriteDataViaQuery",  # viewed-product upserts
                ],
                sub(
                    "arn:${AWS::Partition}:neptune-db:${AWS::Region}:${AWS::AccountId}:"
                    f"${{{p.NEPTUNE_CLUSTER}}}/*"
                ),
                sid="Neptune",
            ),
        )
    )
    role = template.add(
        "ResolverRole",
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": assume_role("lambda.amazonaws.com"),
            "Policies": [policy("resolver", statements)],
            # Attaching network interfaces in the VPC takes ec2 actions AWS defines on "*";
            # AWS's managed policy is the documented way to grant them.
            "ManagedPolicyArns": if_(p.IN_VPC, [sub(_VPC_ACCESS)]),
        },
    )
    return template.add(
        "ResolverFunction",
        "AWS::Lambda::Function",
        {
            **_function(
                "commerce-graph: the graph behind AppSync's Direct Lambda resolvers",
                RESOLVER_HANDLER,
                role=role,
                memory=ref(p.RESOLVER_MEMORY),
                timeout=ref(p.RESOLVER_TIMEOUT),
                environment=environment,
                log_group=log_group,
            ),
            "VpcConfig": if_(
                p.IN_VPC,
                {"SubnetIds": ref(p.SUBNETS), "SecurityGroupIds": ref(p.SECURITY_GROUPS)},
            ),
        },
    )


def add_drain_function(
    template: Template,
    outbox: TableRef,
    *,
    bus: str,
    failure_queue: str,
    environment: Mapping[str, Json],
) -> str:
    """The outbox drain's function; its logical id."""
    log_group = _log_group(template, "Drain")
    statements = [
        _logging(log_group),
        statement(STREAM_ACTIONS, outbox.stream_arn(), sid="OutboxStream"),
        statement(DRAIN_OUTBOX_ACTIONS, [outbox.arn(), *outbox.index_arns()], sid="Outbox"),
        statement(["events:PutEvents"], get_att(bus, "Arn"), sid="Bus"),
        # The event source mapping's on-failure destination sends with the function's role.
        statement(["sqs:SendMessage"], get_att(failure_queue, "Arn"), sid="FailureQueue"),
    ]
    role = template.add(
        "DrainRole",
        "AWS::IAM::Role",
        {
            "AssumeRolePolicyDocument": assume_role("lambda.amazonaws.com"),
            "Policies": [policy("drain", statements)],
        },
    )
    return template.add(
        "DrainFunction",
        "AWS::Lambda::Function",
        {
            **_function(
                "commerce-graph: publishes the outbox's events to the bus",
                DRAIN_HANDLER,
                role=role,
                memory=ref(p.DRAIN_MEMORY),
                # A batch of 100 is ten PutEvents and four mark writes; a sweep is up to 20
                # relay rounds.
                timeout=120,
                environment=environment,
                log_group=log_group,
            ),
        },
    )
