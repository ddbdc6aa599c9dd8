"""Deploying the graph to AWS: the AppSync API with boto3 (`apply`), the whole stack as a
CloudFormation template (`infra`)."""
