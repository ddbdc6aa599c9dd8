"""`make bench`: the standard operations on DynamoDB Local, beside their baselines.

    python -m bench                  product page, category listing, add-to-cart (~3.5 min)
    python -m bench.dynamo_clients   aiobotocore vs boto3 in a thread pool

Results: `bench/results/latest.json` and a markdown table on stdout (docs/performance.md).
"""

import os

# The apps benched here write their events to the outbox but do not publish them: there is no
# EventBridge in these runs, and a relay retrying against none would be background noise.
os.environ.setdefault("CG_EVENTS_RELAY_ENABLED", "false")
