"""Reading a running model server's own API (its model configuration), not its metrics."""
