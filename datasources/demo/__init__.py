"""Demo data: a deterministic commerce set (`generate_demo`) and its loader (`load_demo`)."""
