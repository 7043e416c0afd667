"""Integration fixtures: a fresh namespace per test on the running stack, removed afterwards (the readers of
what the stages wrote are in pipeline/readback.py)."""

from __future__ import annotations

import pytest

from pipeline import readback

KAFKA_STAGES = ("kafka", "hbase-thrift", "namenode", "datanode")


@pytest.fixture
def namespace(require, unique):
    """Settings for a namespace no other run uses; its topics, groups, tables and HDFS tree are dropped after."""
    for name in KAFKA_STAGES:
        require(name)
    with readback.scratch_namespace(unique) as lab:
        yield lab
