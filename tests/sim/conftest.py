"""Fixtures of the simulator's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

AZURE_TRACE = (
    Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "azure-llm-2023-conv.csv"
)


@pytest.fixture
def azure_trace() -> Path:
    if not AZURE_TRACE.exists():
        pytest.skip(f"shared Azure trace not found at {AZURE_TRACE} (needs /work/shared/data)")
    return AZURE_TRACE
