from __future__ import annotations

from pathlib import Path

import pytest

from .render import chart_for_tests


@pytest.fixture(scope="session")
def chart_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return chart_for_tests(tmp_path_factory.mktemp("chart"))
