"""promotion steps."""
