"""[master] low_percent: the «% выполнения» threshold below which the master shows red."""

from __future__ import annotations

from pathlib import Path

import pytest

from sync.config import ConfigError, load_config
from tests.fixtures import municipality


def with_master(tmp_path: Path, text: str) -> Path:
    config = municipality(tmp_path)
    config.path.write_text(config.path.read_text(encoding="utf-8") + text, encoding="utf-8")
    return config.path


def test_default_and_configured_threshold(tmp_path: Path) -> None:
    assert municipality(tmp_path).low_percent == 0.5
    path = with_master(tmp_path, "\n[master]\nlow_percent = 30\n")
    assert load_config(path).low_percent == 0.3


@pytest.mark.parametrize("value", ["150", "-1", '"пятьдесят"'])
def test_a_wrong_threshold_is_explained(tmp_path: Path, value: str) -> None:
    path = with_master(tmp_path, f"\n[master]\nlow_percent = {value}\n")
    with pytest.raises(ConfigError) as e:
        load_config(path)
    assert "low_percent" in str(e.value)
