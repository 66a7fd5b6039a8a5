from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tenku.runtime.setups import SetupPerformer
from tests.addons.support import partner, real_resources_cleanup
from tests.conftest import ApiClient
from tests.resources.app_setup.support import TarballServer, performer_for, serving

__all__ = ["partner", "real_resources_cleanup"]


@pytest.fixture
def tarballs(tmp_path: Path) -> Iterator[TarballServer]:
    with serving(tmp_path / "served") as server:
        yield server


@pytest.fixture
def performer(api: ApiClient) -> SetupPerformer:
    return performer_for(api)
