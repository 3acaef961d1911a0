"""ETL steps: raw files -> snapshot -> validation -> graph, and each run's split of the target nodes."""
