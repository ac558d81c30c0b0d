"""Plugin hooks."""
