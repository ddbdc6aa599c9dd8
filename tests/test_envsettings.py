"""datasources.envsettings: how every `*Settings` class reads, converts and checks its values."""

from __future__ import annotations

import os
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import ClassVar, Literal

import pytest

from appsync.auth import AuthMode, AuthSettings
from appsync.auth.settings import IamCredential
from datasources.envsettings import EnvSettings, Model, SecretStr, SettingsError, setting
from datasources.settings import Settings


class Colour(Enum):
    RED = "red"
    BLUE = "blue"


class Part(Model):
    name: str
    weight: float = setting(default=1.0, gt=0)


class Knobs(EnvSettings):
    env_prefix: ClassVar[str] = "KNOB_"

    text: str = "plain"
    count: int = setting(default=3, ge=0, le=10)
    ratio: float = setting(default=0.5, gt=0, lt=1)
    price: Decimal = setting(default=Decimal("1.00"), ge=0)
    flag: bool = False
    key: SecretStr = SecretStr("s3cret")
    mode: Literal["fast", "safe"] = "safe"
    colour: Colour = Colour.RED
    limit: int | None = None
    label: str | None = None
    code: str = setting(default="AB", min_length=2, max_length=2, pattern=r"^[A-Z]+$")
    names: list[str] = setting(factory=list)
    colours: list[Colour] = setting(factory=lambda: [Colour.BLUE])
    tags: dict[str, str] = setting(factory=dict)
    parts: dict[str, Part] = setting(factory=dict)
    region: str = setting(default="us-east-1", env=("KNOB_REGION", "AWS_REGION"))

    def validate(self) -> None:
        if self.flag and self.limit is None:
            raise ValueError("flag needs limit")


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No KNOB_/AWS_REGION from the machine, and no .env from the checkout."""
    for name in list(os.environ):
        if name.upper().startswith("KNOB_") or name.upper() == "AWS_REGION":
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def test_defaults_without_environment() -> None:
    knobs = Knobs()
    assert (knobs.text, knobs.count, knobs.ratio, knobs.price) == ("plain", 3, 0.5, Decimal("1.00"))
    assert (knobs.mode, knobs.colour, knobs.limit, knobs.names) == ("safe", Colour.RED, None, [])
    # a factory makes a new value each time: instances never share a mutable default
    assert Knobs().colours == [Colour.BLUE]
    assert Knobs().colours is not Knobs().colours


def test_environment_text_is_converted_to_each_type(monkeypatch: pytest.MonkeyPatch) -> None:
    # given: the prefixed, upper-cased field names, as text
    for name, value in {
        "KNOB_TEXT": "hello",
        "KNOB_COUNT": "7",
        "KNOB_RATIO": "0.25",
        "KNOB_PRICE": "19.99",
        "KNOB_FLAG": "yes",
        "KNOB_KEY": "from-env",
        "KNOB_MODE": "fast",
        "KNOB_COLOUR": "blue",
        "KNOB_LIMIT": "5",
        "KNOB_NAMES": "a, b,,c",
        "KNOB_COLOURS": '["red", "blue"]',
        "KNOB_TAGS": '{"team": "checkout"}',
        "KNOB_PARTS": '{"wheel": {"name": "Wheel", "weight": "2.5"}}',
    }.items():
        monkeypatch.setenv(name, value)
    # when
    knobs = Knobs()
    # then
    assert (knobs.text, knobs.count, knobs.ratio, knobs.price) == (
        "hello",
        7,
        0.25,
        Decimal("19.99"),
    )
    assert knobs.flag is True
    assert knobs.key.get_secret_value() == "from-env"
    assert (knobs.mode, knobs.colour, knobs.limit) == ("fast", Colour.BLUE, 5)
    assert knobs.names == ["a", "b", "c"]
    assert knobs.colours == [Colour.RED, Colour.BLUE]
    assert knobs.tags == {"team": "checkout"}
    assert knobs.parts == {"wheel": Part(name="Wheel", weight=2.5)}


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1", True), ("TRUE", True), ("on", True), ("0", False), ("False", False), ("off", False)],
)
def test_booleans_read_as_shells_write_them(
    monkeypatch: pytest.MonkeyPatch, text: str, expected: bool
) -> None:
    monkeypatch.setenv("KNOB_FLAG", text)
    monkeypatch.setenv("KNOB_LIMIT", "1")
    assert Knobs().flag is expected


def test_variable_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("knob_count", "9")
    assert Knobs().count == 9


def test_an_empty_variable_unsets_an_optional_number_but_not_text(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("KNOB_LIMIT", "")
    monkeypatch.setenv("KNOB_LABEL", "")
    knobs = Knobs()
    assert knobs.limit is None
    assert knobs.label == ""


def test_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KNOB_COUNT", "7")
    assert Knobs(count=2).count == 2
    # arguments are converted and checked like variables
    assert Knobs(count="4").count == 4  # type: ignore[arg-type]
    with pytest.raises(SettingsError, match="count"):
        Knobs(count=11)


def test_listed_variables_replace_the_prefixed_name_first_set_wins(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    assert Knobs().region == "eu-west-1"
    monkeypatch.setenv("KNOB_REGION", "eu-central-1")
    assert Knobs().region == "eu-central-1"
    assert Knobs.env_names()["region"] == ("KNOB_REGION", "AWS_REGION")
    assert Knobs.env_names()["count"] == ("KNOB_COUNT",)


def test_dotenv_is_read_below_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # given: a .env in the working directory, with the forms python-dotenv accepts
    (tmp_path / ".env").write_text(
        "# local overrides\n"
        "export KNOB_TEXT='quoted # not a comment'\n"
        'KNOB_LABEL="double"\n'
        "KNOB_COUNT=6  # a comment\n"
        "not a line\n"
        "KNOB_MODE = fast\n"
    )
    monkeypatch.setenv("KNOB_COUNT", "8")
    # when
    knobs = Knobs()
    # then
    assert knobs.text == "quoted # not a comment"
    assert knobs.label == "double"
    assert knobs.mode == "fast"
    assert knobs.count == 8  # the environment wins


def test_every_problem_is_reported_with_its_field_and_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # given
    monkeypatch.setenv("KNOB_COUNT", "twelve")
    monkeypatch.setenv("KNOB_RATIO", "1")
    monkeypatch.setenv("KNOB_MODE", "reckless")
    monkeypatch.setenv("KNOB_COLOUR", "green")
    monkeypatch.setenv("KNOB_CODE", "abc")
    monkeypatch.setenv("KNOB_TAGS", "{not json")
    # when
    with pytest.raises(SettingsError) as caught:
        Knobs()
    # then
    problems = caught.value.problems
    assert problems == [
        "count (KNOB_COUNT): must be an integer (got 'twelve')",
        "ratio (KNOB_RATIO): must be < 1 (got 1.0)",
        "mode (KNOB_MODE): must be one of fast, safe (got 'reckless')",
        "colour (KNOB_COLOUR): must be one of red, blue (got 'green')",
        "code (KNOB_CODE): must have at most 2 characters or items",
        "tags (KNOB_TAGS): is not valid JSON (Expecting property name enclosed in double"
        " quotes at 1)",
    ]
    assert str(caught.value).startswith("invalid Knobs: count (KNOB_COUNT)")
    assert isinstance(caught.value, ValueError)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"count": -1}, "count: must be >= 0 (got -1)"),
        ({"ratio": 0}, "ratio: must be > 0 (got 0.0)"),
        ({"price": "-0.01"}, "price: must be >= 0 (got Decimal('-0.01'))"),
        ({"price": "NaN"}, "price: must be a decimal number (got 'NaN')"),
        ({"code": "A"}, "code: must have at least 2 characters or items"),
        ({"code": "ab"}, "code: must match ^[A-Z]+$ (got 'ab')"),
        ({"flag": "maybe"}, "flag: must be true or false (got 'maybe')"),
        ({"count": True}, "count: must be an integer (got True)"),
        ({"text": 5}, "text: must be text (got 5)"),
        ({"names": 5}, "names: must be a list (got 5)"),
        ({"parts": {"p": {"name": "P", "weight": 0}}}, "weight: must be > 0 (got 0.0)"),
        ({"flag": True}, "flag needs limit"),
    ],
)
def test_arguments_that_break_a_rule_are_refused(changes: dict[str, object], problem: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Knobs(**changes)  # type: ignore[arg-type]
    assert any(problem in reported for reported in caught.value.problems), caught.value.problems


def test_a_required_field_must_be_given() -> None:
    with pytest.raises(SettingsError, match="name: required"):
        Part()  # type: ignore[call-arg]


def test_unknown_arguments_are_an_error_not_ignored() -> None:
    with pytest.raises(TypeError, match="no field cuont"):
        Knobs(cuont=1)  # type: ignore[call-arg]


def test_replace_checks_again_and_does_not_read_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    knobs = Knobs(count=2)
    monkeypatch.setenv("KNOB_TEXT", "changed later")
    copy = knobs.replace(count=5)
    assert (copy.count, copy.text, knobs.count) == (5, "plain", 2)
    assert copy != knobs
    assert copy.replace(count=2) == knobs
    with pytest.raises(SettingsError, match="count"):
        knobs.replace(count=99)


def test_values_are_immutable_and_secrets_stay_out_of_reprs() -> None:
    knobs = Knobs(key=SecretStr("hunter2"))
    with pytest.raises(AttributeError, match="immutable"):
        knobs.count = 4  # type: ignore[misc]
    assert "hunter2" not in repr(knobs)
    assert "hunter2" not in str(knobs.key)
    assert "SecretStr('**********')" in repr(knobs)
    assert knobs.key == SecretStr("hunter2") != SecretStr("other")


def test_field_types_are_resolved_on_first_use_not_at_import() -> None:
    # given: a class whose annotation names something that does not exist (yet)
    class Late(EnvSettings):
        env_prefix: ClassVar[str] = "KNOB_"
        thing: Missing = None  # type: ignore[name-defined]  # noqa: F821

    # then: defining it cost nothing and raised nothing; the first instance resolves it
    assert Late.__dict__.get("_model_fields") is None
    with pytest.raises(NameError, match="Missing"):
        Late()


def test_an_unsupported_type_is_a_programming_error() -> None:
    class Odd(Model):
        when: complex = 1j

    with pytest.raises(TypeError, match="unsupported setting type"):
        Odd()


# --- the project's settings ---------------------------------------------------------------


def test_the_project_settings_read_their_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CG_AUTH_ADDITIONAL_MODES", "AWS_IAM, AMAZON_COGNITO_USER_POOLS")
    monkeypatch.setenv("CG_AUTH_USER_POOL_ID", "eu-west-1_abc")
    monkeypatch.setenv(
        "CG_AUTH_IAM_CREDENTIALS",
        '{"AKIDEXAMPLE": {"secret_access_key": "k",'
        ' "user_arn": "arn:aws:iam::123456789012:user/pos"}}',
    )
    monkeypatch.setenv("CG_LOYALTY_POINT_VALUE", "0.05")
    auth = AuthSettings()
    assert auth.additional_modes == [AuthMode.AWS_IAM, AuthMode.AMAZON_COGNITO_USER_POOLS]
    assert auth.iam_credentials["AKIDEXAMPLE"] == IamCredential(
        secret_access_key=SecretStr("k"), user_arn="arn:aws:iam::123456789012:user/pos"
    )
    assert auth.iam_credentials["AKIDEXAMPLE"].account_id == "123456789012"
    assert Settings().loyalty_point_value == Decimal("0.05")
