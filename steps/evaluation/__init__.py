"""evaluation steps."""
