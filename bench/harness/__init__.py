"""The benchmark harness: processes, load generators, measures and the report (bench/README.md)."""
