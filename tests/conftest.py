"""Shared test fixtures: where ../shared/fixtures is, and skipping cleanly without it."""

import json
import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MIMO_SHARED_DIR", REPO_ROOT.parent / "shared"))
FIXTURES = SHARED / "fixtures"


def fixtures_available() -> bool:
    return (FIXTURES / "manifest.json").is_file()


requires_fixtures = pytest.mark.skipif(
    not fixtures_available(),
    reason=f"golden fixtures not found at {FIXTURES} (set MIMO_SHARED_DIR or place shared/ beside the checkout)",
)


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    if not fixtures_available():
        pytest.skip(f"golden fixtures not found at {FIXTURES}")
    return FIXTURES


@pytest.fixture(scope="session")
def manifest(fixtures_dir) -> dict:
    return json.loads((fixtures_dir / "manifest.json").read_text())
