"""Orchestration: turn a field into calls on data sources. No GraphQL types live here."""
