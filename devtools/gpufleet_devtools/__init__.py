"""gpufleet's development rig: the API emulator, real-server helpers and the local fleet.

A separate distribution (``gpufleet-devtools``, ``devtools/`` in the repository): the
operator's package imports nothing from here.
"""
