"""SaaS connectors: payments and tax (Stripe, or the built-in sandbox)."""
