"""Every command of every lab README runs, as a student who solved the labs would type it, and prints
what the README says it prints."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from pipeline import seams, settings, topics
from tests.labs.readme_commands import commands, missing

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]
READMES = [REPO / "labs" / "README.md", *sorted((REPO / "labs").glob("*/README.md"))]


@pytest.mark.parametrize("readme", READMES, ids=[str(r.parent.relative_to(REPO)) for r in READMES])
def test_every_command_prints_what_the_readme_says(readme, tmp_path, services):
    steps = commands(readme)
    assert steps, f"{readme} has no ```console commands"
    user = f"s{uuid.uuid4().hex[:10]}"
    home = tmp_path / "home"
    home.mkdir()
    # HADOOP_USER_NAME: Spark (Hadoop's client) acts in HDFS as the login user, WebHDFS as $USER; a student's
    # login is $USER, so both write the namespace's files as that user.
    env = {**os.environ, "HOME": str(home), "USER": user, "LOGNAME": user, "HADOOP_USER_NAME": user,
           "LAB_LABS_DIR": str(seams.write_reference_labs(tmp_path / "labs")),
           "PATH": f"/opt/ecommerce-lab/venv/bin:/usr/local/bin:{os.environ['PATH']}", "COLUMNS": "160"}
    env.pop("LAB_NAMESPACE", None)
    try:
        for step in steps:
            result = subprocess.run(["bash", "-c", step.text], cwd=REPO, env=env, capture_output=True, text=True,
                                    timeout=900, check=False)
            output = result.stdout + result.stderr
            where = f"{readme.relative_to(REPO)}:{step.line}: $ {step.text}"
            assert result.returncode == 0, f"{where}\nexited {result.returncode}:\n{output[-3000:]}"
            absent = missing(step.expected, output)
            assert absent is None, f"{where}\ndid not print {absent!r}; it printed:\n{output[-3000:]}"
    finally:
        topics.drop_namespace(settings.load(namespace=user))
