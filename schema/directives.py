"""AppSync's authorization and subscription directives (APPSYNC.md §2.1).

AppSync defines these itself, so their definitions are never printed
(``print_definition=False``); only their usages appear in the exported SDL. Enforcement
lives in the AppSync edge, not here.
"""

import strawberry
from strawberry.schema_directive import Location


@strawberry.schema_directive(
    name="aws_api_key",
    locations=[Location.OBJECT, Location.FIELD_DEFINITION],
    print_definition=False,
)
class AwsApiKey:
    """Allows callers authenticated with an API key (``API_KEY``)."""


@strawberry.schema_directive(
    name="aws_iam",
    locations=[Location.OBJECT, Location.FIELD_DEFINITION, Location.INPUT_OBJECT],
    print_definition=False,
)
class AwsIam:
    """Allows callers signed with SigV4 (``AWS_IAM``)."""


@strawberry.schema_directive(
    name="aws_oidc",
    locations=[Location.OBJECT, Location.FIELD_DEFINITION],
    print_definition=False,
)
class AwsOidc:
    """Allows callers with an OpenID Connect token (``OPENID_CONNECT``)."""


@strawberry.schema_directive(
    name="aws_lambda",
    locations=[Location.FIELD_DEFINITION, Location.OBJECT],
    print_definition=False,
)
class AwsLambda:
    """Allows callers accepted by the Lambda authorizer (``AWS_LAMBDA``)."""


@strawberry.schema_directive(
    name="aws_cognito_user_pools",
    locations=[Location.OBJECT, Location.FIELD_DEFINITION, Location.INPUT_OBJECT],
    print_definition=False,
)
class AwsCognitoUserPools:
    """Allows Cognito user-pool callers, restricted to ``cognito_groups`` when given."""

    # Named explicitly: auto camel-casing would print ``cognitoGroups``.
    # UNSET, not None: an absent argument is left out of the printed SDL instead of `null`.
    cognito_groups: list[str | None] | None = strawberry.directive_field(
        name="cognito_groups", default=strawberry.UNSET
    )


@strawberry.schema_directive(
    name="aws_subscribe",
    locations=[Location.FIELD_DEFINITION],
    print_definition=False,
)
class AwsSubscribe:
    """Marks a subscription field as fed by the results of the named ``mutations``."""

    mutations: list[str | None] | None = strawberry.directive_field(name="mutations", default=None)
