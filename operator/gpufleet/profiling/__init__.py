"""``gpufleet profile``: measure a running model server and write a simulator profile."""
