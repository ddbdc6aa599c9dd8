"""The nine AWS scalars accept and reject exactly what APPSYNC.md §1 says, both as
variables and as inline literals, and serialize resolver results the AppSync way."""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import orjson
import pytest
import strawberry
from strawberry.schema.config import StrawberryConfig

from schema.scalars import (
    AWS_SCALAR_MAP,
    AWS_SCALAR_NAMES,
    AWS_SCALARS,
    AWSJSON,
    AWSURL,
    AWSDate,
    AWSDateTime,
    AWSEmail,
    AWSIPAddress,
    AWSPhone,
    AWSTime,
    AWSTimestamp,
    ScalarValueError,
)

ECHO_BY_VARIABLE = "query Echo($value: {scalar}!) {{ echo{scalar}(value: $value) }}"
ECHO_BY_LITERAL = "query Echo {{ echo{scalar}(value: {literal}) }}"
OUTPUT = "query Output {{ output{scalar} }}"
JSON_KIND = "query JsonKind($value: AWSJSON!) { jsonKind(value: $value) }"
JSON_IS_NONE = "query JsonIsNone($value: AWSJSON) { jsonIsNone(value: $value) }"
JSON_OBJECT_LITERAL = "query Echo { echoAWSJSON(value: {statusCode: 200}) }"
JSON_LIST_LITERAL = 'query Echo { echoAWSJSON(value: ["a"]) }'


def _from_context(info: strawberry.Info) -> Any:
    return info.context["value"]


@strawberry.type
class Query:
    @strawberry.field(name="echoAWSDate")
    def echo_date(self, value: AWSDate) -> AWSDate:
        return value

    @strawberry.field(name="echoAWSTime")
    def echo_time(self, value: AWSTime) -> AWSTime:
        return value

    @strawberry.field(name="echoAWSDateTime")
    def echo_date_time(self, value: AWSDateTime) -> AWSDateTime:
        return value

    @strawberry.field(name="echoAWSTimestamp")
    def echo_timestamp(self, value: AWSTimestamp) -> AWSTimestamp:
        return value

    @strawberry.field(name="echoAWSEmail")
    def echo_email(self, value: AWSEmail) -> AWSEmail:
        return value

    @strawberry.field(name="echoAWSJSON")
    def echo_json(self, value: AWSJSON) -> AWSJSON | None:
        return value

    @strawberry.field(name="echoAWSURL")
    def echo_url(self, value: AWSURL) -> AWSURL:
        return value

    @strawberry.field(name="echoAWSPhone")
    def echo_phone(self, value: AWSPhone) -> AWSPhone:
        return value

    @strawberry.field(name="echoAWSIPAddress")
    def echo_ip_address(self, value: AWSIPAddress) -> AWSIPAddress:
        return value

    @strawberry.field
    def json_kind(self, value: AWSJSON) -> str:
        return type(value).__name__

    @strawberry.field
    def json_is_none(self, value: AWSJSON | None) -> bool:
        return value is None

    @strawberry.field(name="outputAWSDate")
    def output_date(self, info: strawberry.Info) -> AWSDate | None:
        return _from_context(info)  # type: ignore[no-any-return]

    @strawberry.field(name="outputAWSTime")
    def output_time(self, info: strawberry.Info) -> AWSTime | None:
        return _from_context(info)  # type: ignore[no-any-return]

    @strawberry.field(name="outputAWSDateTime")
    def output_date_time(self, info: strawberry.Info) -> AWSDateTime | None:
        return _from_context(info)  # type: ignore[no-any-return]

    @strawberry.field(name="outputAWSTimestamp")
    def output_timestamp(self, info: strawberry.Info) -> AWSTimestamp | None:
        return _from_context(info)  # type: ignore[no-any-return]

    @strawberry.field(name="outputAWSJSON")
    def output_json(self, info: strawberry.Info) -> AWSJSON | None:
        return _from_context(info)  # type: ignore[no-any-return]

    @strawberry.field(name="outputAWSURL")
    def output_url(self, info: strawberry.Info) -> AWSURL | None:
        return _from_context(info)  # type: ignore[no-any-return]

    @strawberry.field(name="outputAWSIPAddress")
    def output_ip_address(self, info: strawberry.Info) -> AWSIPAddress | None:
        return _from_context(info)  # type: ignore[no-any-return]


SCHEMA = strawberry.Schema(Query, config=StrawberryConfig(scalar_map=AWS_SCALAR_MAP))


ACCEPTED: dict[str, list[Any]] = {
    "AWSDate": [
        "1970-01-01",
        "1970-01-01Z",
        "1970-01-01-07:00",
        "1970-01-01+05:30",
        "1970-01-01+05:30:15",  # offset seconds
        "2020-02-29",  # leap year
        "2000-02-29",  # divisible by 400
        "-2017-01-01",  # negative year
        "9999-12-31",
        "2020-04-30",
    ],
    "AWSTime": [
        "12:30",  # seconds optional
        "12:30Z",
        "12:30:24",
        "12:30:24-07:00",
        "12:30:24.5+05:30",
        "12:30:24.123456789Z",  # nine fraction digits
        "23:59:59.999",
        "00:00:00+05:30:15",  # offset seconds
        "12:30+05:30",
    ],
    "AWSDateTime": [
        "2026-01-01T00:00:00.000Z",
        "2020-01-01T00:00+00:00",  # no seconds (amplify-cli#13210)
        "1970-01-01T12:30Z",
        "1970-01-01T12:30:24-07:00",
        "2020-02-29T23:59:59.123456789+05:30",
        "-2017-01-01T00:00Z",  # negative year
        "2020-01-01T00:00:00+05:30:15",  # offset seconds
        "2020-01-01T00:00:00.1Z",  # one fraction digit
        "1999-12-31T23:59:59-00:00",
    ],
    "AWSTimestamp": [
        0,
        1_700_000_000,
        -1,
        1_700_000_000_000,  # milliseconds by mistake: still a 64-bit integer
        2**31,
        2**63 - 1,
        -(2**63),
    ],
    "AWSEmail": [
        "username@example.com",
        "a@b",
        "first.last+tag@sub.example.co.uk",
        "user_name@example-domain.com",
        "o'reilly@example.com",
        "!#$%&'*+/=?^_`{|}~-@example.com",
        "USER@EXAMPLE.COM",
        "x@123.45.67.89",
    ],
    "AWSJSON": [
        '{"a": 1}',
        "[1, 2, 3]",
        '"text"',
        "42",
        "3.5",
        "true",
        '{"nested": {"list": [1, "two", null]}}',
        ' { "padded" : true } ',
    ],
    "AWSURL": [
        "https://www.amazon.com/dp/B000NZW3KC/",
        "mailto:example@example.com",
        "http://localhost:4000/graphql",
        "ftp://ftp.example.com/pub/file.txt",
        "urn:isbn:0451450523",
        "https://example.com/a?b=//c#d",  # `//` outside the path is fine
        "file:///etc/hosts",
        "https://example.com",
        "HTTP://Example.COM/Path",  # kept as given, not normalised
    ],
    "AWSPhone": [
        "+1 206-266-1000",
        "+1 206-555-0100",
        "206-266-1000",
        "2062661000",
        "+12062661000",
        "+44 20 7946 0958",
        "1 206 266 1000",
        "+1-650-253-0000",
    ],
    "AWSIPAddress": [
        "123.45.67.89",
        "123.45.67.89/16",
        "0.0.0.0",
        "255.255.255.255/32",
        "::1",
        "2001:db8::1",
        "2001:db8::/32",
        "fe80::1/64",
        "::ffff:192.0.2.1",
    ],
}

REJECTED: dict[str, list[Any]] = {
    "AWSDate": [
        "2021-02-29",  # not a leap year
        "1900-02-29",  # divisible by 100, not 400
        "2020-13-01",
        "2020-00-10",
        "2020-04-31",
        "2020-01-00",
        "2020-1-01",
        "20200101",
        "2020-01-01T00:00Z",
        "2020-01-01+5:30",
        "2020-01-01+05:60",
        "2020-01-01 ",
        "\u0662\u0660\u0662\u0660-01-01",  # Arabic-Indic digits
        "12020-01-01",
        "",
        20200101,
        True,
    ],
    "AWSTime": [
        "24:00",
        "12:60",
        "12:30:60",
        "12:30:24.1234567890",  # ten fraction digits
        "12:30.5",  # fraction needs seconds
        "12:30:24.",
        "1:30",
        "12:30:24+0530",
        "12:30:24+05:30:60",
        "T12:30",
        "12:30:24 Z",
        1230,
    ],
    "AWSDateTime": [
        "2020-01-01T00:00:00",  # offset is mandatory
        "2020-01-01T24:00Z",
        "2020-01-01T00:00:00.1234567890Z",  # ten fraction digits
        "2021-02-29T00:00Z",
        "2020-01-01 00:00Z",
        "2020-01-01t00:00z",
        "2020-05-19T11:5:29.000Z",  # amplify-js#5963
        "2019",  # aws-cli#7078
        "2020-01-01T00:00:60Z",
        "2020-01-01",
        "2020-01-01T00:00:00.Z",
        1577836800,
    ],
    "AWSTimestamp": [
        1.5,
        1.0,
        True,
        "1700000000",
        2**63,
        -(2**63) - 1,
    ],
    "AWSEmail": [
        "username",
        "@example.com",
        "user@",
        "user@-example.com",
        "user@example-.com",
        "user name@example.com",
        "user@exa_mple.com",
        "user@@example.com",
        "us\u00e9r@example.com",
        "user@example..com",
        "",
        42,
    ],
    "AWSJSON": [
        "{a: 1}",
        "{'a': 1}",
        "unquoted",
        "",
        "{",
        "NaN",
        '{"a": 1,}',
        42,
        True,
    ],
    "AWSURL": [
        "www.amazon.com/dp",
        "example.com",
        "/relative/path",
        "https://example.com//double",
        "https://example.com/a//b",
        "",
        "://missing-scheme",
        "http://[::1",
        "1http://example.com",
        42,
    ],
    "AWSPhone": [
        "1110004444",  # amplify-flutter#822
        "(206) 266-1000",  # only spaces and hyphens separate digit groups
        "206.266.1000",
        "+1 206 266 100",
        "phone",
        "",
        "+",
        "1-800-FLOWERS",
        "+999 123 456",
        2062661000,
    ],
    "AWSIPAddress": [
        "[::1]",
        "[2001:db8::1]/64",
        "256.1.1.1",
        "1.2.3",
        "1.2.3.4/33",
        "1.2.3.4/255.255.0.0",  # netmask, not CIDR
        "2001:db8::g",
        "01.2.3.4",
        "1.2.3.4/",
        "example.com",
        " 1.2.3.4",
        "",
        16909060,
    ],
}


def _cases(table: dict[str, list[Any]]) -> list[Any]:
    return [
        pytest.param(scalar, value, id=f"{scalar}-{value!r}")
        for scalar, values in table.items()
        for value in values
    ]


def _graphql_literal(value: object) -> str:
    # json.dumps renders str/int/float/bool as valid GraphQL literals too.
    return json.dumps(value)


def _run(scalar: str, value: object, *, via: str) -> Any:
    if via == "variable":
        document = ECHO_BY_VARIABLE.format(scalar=scalar)
        return SCHEMA.execute_sync(document, variable_values={"value": value})
    document = ECHO_BY_LITERAL.format(scalar=scalar, literal=_graphql_literal(value))
    return SCHEMA.execute_sync(document)


def _expected_output(scalar: str, value: object) -> object:
    if scalar == "AWSJSON":
        assert isinstance(value, str)
        return orjson.dumps(orjson.loads(value)).decode()
    return value


def test_all_nine_scalars_are_exported() -> None:
    # given / when
    names = {definition.name for definition in AWS_SCALAR_MAP.values()}

    # then
    assert len(AWS_SCALARS) == 9
    assert (
        names
        == AWS_SCALAR_NAMES
        == {
            "AWSDate",
            "AWSTime",
            "AWSDateTime",
            "AWSTimestamp",
            "AWSEmail",
            "AWSJSON",
            "AWSURL",
            "AWSPhone",
            "AWSIPAddress",
        }
    )


@pytest.mark.parametrize("via", ["variable", "literal"])
@pytest.mark.parametrize(("scalar", "value"), _cases(ACCEPTED))
def test_accepted_value_round_trips(scalar: str, value: object, via: str) -> None:
    # given
    expected = _expected_output(scalar, value)

    # when
    result = _run(scalar, value, via=via)

    # then
    assert result.errors is None
    assert result.data == {f"echo{scalar}": expected}


@pytest.mark.parametrize("via", ["variable", "literal"])
@pytest.mark.parametrize(("scalar", "value"), _cases(REJECTED))
def test_rejected_value_is_an_error_naming_the_value(scalar: str, value: object, via: str) -> None:
    # given
    shown = value if isinstance(value, str) else json.dumps(value)

    # when
    result = _run(scalar, value, via=via)

    # then
    assert result.data is None
    assert result.errors is not None
    assert len(result.errors) == 1
    message = result.errors[0].message
    assert "Unable to parse `" in message
    assert shown in message


@pytest.mark.parametrize(
    ("scalar", "literal", "message"),
    [
        ("AWSPhone", '"1110004444"', "Unable to parse `1110004444` as a valid phone number."),
        ("AWSDateTime", '"2019"', "Unable to parse `2019` as a valid DateTime Object."),
        ("AWSDate", '"2021-02-29"', "Unable to parse `2021-02-29` as a valid Date Object."),
        ("AWSTime", '"24:00"', "Unable to parse `24:00` as a valid Time Object."),
        ("AWSTimestamp", "1.5", "Unable to parse `1.5` as a valid timestamp."),
        ("AWSEmail", '"user@"', "Unable to parse `user@` as a valid email address."),
        ("AWSJSON", '"{a: 1}"', "Unable to parse `{a: 1}` as valid JSON."),
        ("AWSURL", '"example.com"', "Unable to parse `example.com` as a valid URL."),
        ("AWSIPAddress", '"[::1]"', "Unable to parse `[::1]` as a valid IP address."),
    ],
)
def test_literal_error_uses_appsync_wording(scalar: str, literal: str, message: str) -> None:
    # given
    document = ECHO_BY_LITERAL.format(scalar=scalar, literal=literal)

    # when
    result = SCHEMA.execute_sync(document)

    # then
    assert result.errors is not None
    assert [error.message for error in result.errors] == [message]


def test_variable_error_names_the_variable_and_the_value() -> None:
    # given
    document = ECHO_BY_VARIABLE.format(scalar="AWSPhone")

    # when
    result = SCHEMA.execute_sync(document, variable_values={"value": "1110004444"})

    # then
    assert result.errors is not None
    message = result.errors[0].message
    assert "$value" in message
    assert message.endswith("Unable to parse `1110004444` as a valid phone number.")


def test_awsjson_resolver_receives_the_parsed_value() -> None:
    # given
    variables = {"value": '{"statusCode": 200}'}

    # when
    result = SCHEMA.execute_sync(JSON_KIND, variable_values=variables)

    # then
    assert result.errors is None
    assert result.data == {"jsonKind": "dict"}


def test_awsjson_json_null_reaches_a_nullable_argument_as_none() -> None:
    # given
    variables = {"value": "null"}

    # when
    result = SCHEMA.execute_sync(JSON_IS_NONE, variable_values=variables)

    # then
    assert result.errors is None
    assert result.data == {"jsonIsNone": True}


def test_awsjson_json_null_is_rejected_for_a_non_null_argument() -> None:
    # given
    document = ECHO_BY_VARIABLE.format(scalar="AWSJSON")

    # when
    result = SCHEMA.execute_sync(document, variable_values={"value": "null"})

    # then
    assert result.errors is not None
    assert "non-null type 'AWSJSON!'" in result.errors[0].message


@pytest.mark.parametrize("document", [JSON_OBJECT_LITERAL, JSON_LIST_LITERAL])
def test_awsjson_object_and_list_literals_are_rejected(document: str) -> None:
    # given / when
    result = SCHEMA.execute_sync(document)

    # then
    assert result.data is None
    assert result.errors is not None
    assert "as valid JSON." in result.errors[0].message


def test_awsjson_object_variable_is_rejected() -> None:
    # given
    document = ECHO_BY_VARIABLE.format(scalar="AWSJSON")

    # when
    result = SCHEMA.execute_sync(document, variable_values={"value": {"statusCode": 200}})

    # then
    assert result.errors is not None
    assert 'Unable to parse `{"statusCode":200}` as valid JSON.' in result.errors[0].message


PLUS_0530 = timezone(timedelta(hours=5, minutes=30))
MINUS_0700 = timezone(timedelta(hours=-7))


@pytest.mark.parametrize(
    ("scalar", "value", "expected"),
    [
        ("AWSDateTime", datetime(2026, 1, 1, tzinfo=UTC), "2026-01-01T00:00:00.000Z"),
        (
            "AWSDateTime",
            datetime(2026, 1, 1, 12, 30, 5, 123000, tzinfo=PLUS_0530),
            "2026-01-01T12:30:05.123+05:30",
        ),
        (
            "AWSDateTime",
            datetime(2026, 1, 1, 12, 30, 5, 123456, tzinfo=MINUS_0700),
            "2026-01-01T12:30:05.123456-07:00",
        ),
        ("AWSDateTime", "2020-01-01T00:00+00:00", "2020-01-01T00:00+00:00"),
        ("AWSDate", date(2020, 2, 29), "2020-02-29"),
        ("AWSTime", time(12, 30), "12:30:00.000"),
        ("AWSTime", time(12, 30, 1, 500, tzinfo=UTC), "12:30:01.000500Z"),
        ("AWSTimestamp", 1_700_000_000, 1_700_000_000),
        ("AWSJSON", {"statusCode": 200}, '{"statusCode":200}'),
        ("AWSJSON", [1, "two", None], '[1,"two",null]'),
        ("AWSJSON", "hello", '"hello"'),
        ("AWSJSON", 3, "3"),
        ("AWSURL", "HTTP://Example.COM", "HTTP://Example.COM"),
        ("AWSIPAddress", ipaddress.ip_address("2001:db8::1"), "2001:db8::1"),
        ("AWSIPAddress", ipaddress.ip_interface("10.0.0.1/8"), "10.0.0.1/8"),
    ],
)
def test_output_is_serialized(scalar: str, value: object, expected: object) -> None:
    # given
    document = OUTPUT.format(scalar=scalar)

    # when
    result = SCHEMA.execute_sync(document, context_value={"value": value})

    # then
    assert result.errors is None
    assert result.data == {f"output{scalar}": expected}


@pytest.mark.parametrize(
    ("scalar", "value", "message"),
    [
        (
            "AWSDateTime",
            "2020-05-19T11:5:29.000Z",
            "Unable to serialize `2020-05-19T11:5:29.000Z` as a valid DateTime Object.",
        ),
        (
            "AWSDateTime",
            datetime(2026, 1, 1),  # naive: no offset to print
            "Unable to serialize `2026-01-01T00:00:00` as a valid DateTime Object.",
        ),
        (
            "AWSDateTime",
            date(2026, 1, 1),
            "Unable to serialize `2026-01-01` as a valid DateTime Object.",
        ),
        (
            "AWSDate",
            datetime(2026, 1, 1, tzinfo=UTC),
            "Unable to serialize `2026-01-01T00:00:00+00:00` as a valid Date Object.",
        ),
        ("AWSTimestamp", 1.5, "Unable to serialize `1.5` as a valid timestamp."),
        ("AWSTimestamp", True, "Unable to serialize `true` as a valid timestamp."),
        ("AWSTimestamp", "1700000000", "Unable to serialize `1700000000` as a valid timestamp."),
        ("AWSJSON", {1, 2}, "Unable to serialize `{1, 2}` as valid JSON."),
        ("AWSURL", "example.com", "Unable to serialize `example.com` as a valid URL."),
    ],
)
def test_invalid_output_is_a_field_error(scalar: str, value: object, message: str) -> None:
    # given
    document = OUTPUT.format(scalar=scalar)

    # when
    result = SCHEMA.execute_sync(document, context_value={"value": value})

    # then
    assert result.data == {f"output{scalar}": None}
    assert result.errors is not None
    assert [(error.message, error.path) for error in result.errors] == [
        (message, [f"output{scalar}"])
    ]


def test_scalar_value_error_is_a_value_error() -> None:
    # given
    parse_value = AWS_SCALAR_MAP[AWSPhone].parse_value
    assert parse_value is not None

    # when / then
    with pytest.raises(ValueError, match="valid phone number") as caught:
        parse_value("1110004444")
    assert isinstance(caught.value, ScalarValueError)
