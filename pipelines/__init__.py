"""ZenML pipelines: wiring only. The logic lives in `hg2m`, the step wrappers in `steps`."""
