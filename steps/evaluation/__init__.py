"""Evaluation step: teacher and students scored per run, the results and summary tables."""
