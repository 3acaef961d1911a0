"""ZenML steps: thin wrappers that call `hg2m`, log to MLflow and return named, typed artifacts."""
