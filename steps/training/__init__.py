"""Training steps: the teacher per run, and each student over all runs."""
