"""training steps."""
