"""The scaling policy: a pure function the operator and the simulator both call."""
