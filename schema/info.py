"""The typed `info` every resolver receives."""

from typing import TypeAlias

import strawberry

from resolvers.context import Context

Info: TypeAlias = strawberry.Info[Context, None]
