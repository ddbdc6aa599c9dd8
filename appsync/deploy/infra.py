"""`commerce-graph infra synth [--out PATH]`: the whole stack as a CloudFormation template.

The AppSync part is the plan `commerce-graph deploy` applies (`appsync/deploy/plan.py`), from
the same `CG_DEPLOY_*`, `CG_AUTH_*` and `CG_*` settings; the tables, bus and functions follow
`CG_TABLE_PREFIX` and `CG_EVENTS_*`. Use one or the other for a given API, not both: each
would manage its own. Deploy with, for example:

    commerce-graph infra synth --out stack.yaml
    aws cloudformation deploy --template-file stack.yaml --stack-name commerce-graph \
        --s3-bucket <bucket for templates over 51,200 bytes> --capabilities CAPABILITY_IAM \
        --parameter-overrides CodeBucket=<bucket> TokenSecretId=<secret> ...

Written as JSON, or YAML when PATH ends in .yaml/.yml; to stdout without --out. Imports are
inside the functions: server.py imports this module at start-up.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

# CloudFormation takes a template of up to this many bytes inline; beyond, from S3 (1 MB).
INLINE_TEMPLATE_BYTES = 51_200


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["synth"], help="write the CloudFormation template")
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="file to write (.json, or .yaml/.yml for YAML); default: JSON on stdout",
    )


def main(args: argparse.Namespace) -> int:
    from appsync.auth import AuthSettings
    from appsync.deploy.plan import PlanError, plan_api
    from appsync.deploy.settings import DeploySettings
    from appsync.deploy.template import synthesize
    from appsync.settings import EdgeSettings
    from datasources.events.settings import EventsSettings
    from datasources.settings import Settings

    try:
        plan = plan_api(DeploySettings(), auth=AuthSettings(), edge=EdgeSettings())
    except PlanError as exc:
        print(f"commerce-graph infra: {exc}", file=sys.stderr)
        return 2
    template = synthesize(plan, settings=Settings(), events=EventsSettings(), now=time.time())
    out: Path | None = args.out
    text = render(template.to_dict(), yaml=out is not None and out.suffix in (".yaml", ".yml"))
    if out is None:
        sys.stdout.write(text)
    else:
        out.write_text(text, encoding="utf-8")
        print(f"wrote {out} ({len(template.resources)} resources)", file=sys.stderr)
    notes = list(template.notes)
    if len(text.encode()) > INLINE_TEMPLATE_BYTES:
        notes.append(
            f"the template is over {INLINE_TEMPLATE_BYTES} bytes: deploy it from S3"
            " (aws cloudformation deploy --s3-bucket ...)."
        )
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


def render(body: dict[str, Any], *, yaml: bool) -> str:
    """The template as JSON, or as YAML with multi-line strings (SDL, code) as blocks."""
    if not yaml:
        return json.dumps(body, indent=2) + "\n"
    import yaml as pyyaml

    class _Dumper(pyyaml.SafeDumper):
        # CloudFormation rejects YAML anchors and aliases: write shared values out each time.
        def ignore_aliases(self, data: Any) -> bool:
            return True

    def _text(dumper: Any, value: str) -> Any:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    _Dumper.add_representer(str, _text)
    return str(pyyaml.dump(body, Dumper=_Dumper, sort_keys=False, width=100))
