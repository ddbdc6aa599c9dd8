"""`make bench`: the standard operations on DynamoDB Local, beside their baselines.

    python -m bench                  product page, category listing, add-to-cart (~3.5 min)
    python -m bench.dynamo_clients   aiobotocore vs boto3 in a thread pool

Results: `bench/results/latest.json` and a markdown table on stdout (docs/performance.md).
"""
