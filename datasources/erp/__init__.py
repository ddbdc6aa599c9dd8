"""Systems of record behind adapters: the ERP over OData v4, loyalty on PostgreSQL."""
