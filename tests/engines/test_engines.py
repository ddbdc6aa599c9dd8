"""Both engines really serve DynamoDB: CRUD and a cancelled transaction through boto3."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

from .dynamodb_local import DynamoDBLocalError, dynamodb_client, start_dynamodb_local
from .moto_server import reset_moto, start_moto_server

pytestmark = pytest.mark.engine


@pytest.fixture(scope="module", params=["dynamodb-local", "moto"])
def endpoint(request: pytest.FixtureRequest) -> Iterator[str]:
    start = start_dynamodb_local if request.param == "dynamodb-local" else start_moto_server
    with start() as url:
        yield url


def test_crud_and_cancelled_transaction(endpoint: str) -> None:
    ddb = dynamodb_client(endpoint)
    table = f"t-{uuid.uuid4().hex[:8]}"
    try:
        ddb.create_table(
            TableName=table,
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        ddb.put_item(TableName=table, Item={"pk": {"S": "sku-1"}, "stock": {"N": "3"}})
        got = ddb.get_item(TableName=table, Key={"pk": {"S": "sku-1"}}, ConsistentRead=True)
        assert got["Item"] == {"pk": {"S": "sku-1"}, "stock": {"N": "3"}}

        with pytest.raises(ClientError) as info:
            ddb.transact_write_items(
                TransactItems=[
                    {"Put": {"TableName": table, "Item": {"pk": {"S": "order-1"}}}},
                    {
                        "Update": {
                            "TableName": table,
                            "Key": {"pk": {"S": "sku-1"}},
                            "UpdateExpression": "SET stock = stock - :n",
                            "ConditionExpression": "stock >= :n",
                            "ExpressionAttributeValues": {":n": {"N": "5"}},
                        }
                    },
                ]
            )
        err = info.value.response
        assert err["Error"]["Code"] == "TransactionCanceledException"
        codes = [r["Code"] for r in err["CancellationReasons"]]
        assert codes == ["None", "ConditionalCheckFailed"]
        # All or nothing: the Put of the cancelled transaction was not applied.
        assert "Item" not in ddb.get_item(TableName=table, Key={"pk": {"S": "order-1"}})
    finally:
        ddb.delete_table(TableName=table)
        ddb.close()


def test_missing_jars_say_how_to_fetch(tmp_path: Path) -> None:
    with (
        pytest.raises(DynamoDBLocalError, match="make engines-ddb"),
        start_dynamodb_local(tmp_path),
    ):
        pass


def test_moto_reset_drops_state() -> None:
    with start_moto_server() as url:
        ddb = dynamodb_client(url)
        ddb.create_table(
            TableName="gone",
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
        )
        reset_moto(url)
        assert ddb.list_tables()["TableNames"] == []
        ddb.close()
