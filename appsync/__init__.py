"""The AppSync edge: what a client of AWS AppSync sees, served by Strawberry + Starlette."""
