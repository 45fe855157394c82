"""Wait for a condition instead of sleeping: the one polling helper of the tests.

It lives in the dev tools, which poll the same way and may not import the tests; see
:mod:`gpufleet_devtools.waiting`.
"""

from gpufleet_devtools.waiting import wait_for, wait_for_async

__all__ = ["wait_for", "wait_for_async"]
