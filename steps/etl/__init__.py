"""etl steps."""
