"""What the query selects below the current field, as dotted field paths.

Parents use it to fetch in one batch what their list elements will need, so that element
fields stay synchronous (an `async` resolver per list element doubles execution time).
"""

from collections.abc import Iterable

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

from schema.info import Info


def _walk(selections: Iterable[Selection], prefix: str, out: set[str]) -> None:
    for node in selections:
        if isinstance(node, SelectedField):
            path = f"{prefix}{node.name}"
            out.add(path)
            _walk(node.selections, f"{path}.", out)
        elif isinstance(node, FragmentSpread | InlineFragment):
            _walk(node.selections, prefix, out)


def selected_paths(info: Info) -> frozenset[str]:
    """Dotted paths selected under the current field (fragments flattened, aliases ignored)."""
    out: set[str] = set()
    for field in info.selected_fields:
        _walk(field.selections, "", out)
    return frozenset(out)


def under(paths: frozenset[str], prefix: str) -> frozenset[str]:
    """The paths below `prefix` (e.g. the `items` of a connection), relative to it."""
    start = f"{prefix}."
    return frozenset(p[len(start) :] for p in paths if p.startswith(start))
