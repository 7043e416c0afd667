"""Versions are pinned once: pyspark in pyproject.toml must equal spark_version in group_vars."""

import tomllib
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]


def test_pyspark_pin_matches_the_spark_connector_version():
    pins = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pyspark = next(p.split("==")[1] for p in pins if p.startswith("pyspark=="))
    group_vars = yaml.safe_load((REPO / "ansible/group_vars/all.yml").read_text())
    assert pyspark == group_vars["spark_version"]
