"""Synthetic-data generation as plain code: tasks (prompt in, parsed and verified rows out) and teacher backends
behind one interface. Nothing here imports `pipeline/`; tasks import no Ray (only the `vllm-ray` backend does)."""
