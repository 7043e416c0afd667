"""Provision this host with the Ansible playbook (connection local), when it changed.

Standard library only: `./lab up` runs this with the system Python before the lab's
virtual environment exists (`python3 -m labctl.provision`).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

# The checkout to provision from: the one `./lab` was run from, else the one installed.
REPO = Path(os.environ.get("LAB_REPO") or Path(__file__).resolve().parent.parent)
ANSIBLE_DIR = REPO / "ansible"
STAMP = Path("/var/lib/ecommerce-lab/provisioned.sha256")
ANSIBLE_VENV = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ecommerce-lab" / "ansible-venv"


def fingerprint() -> str:
    """A hash of the checkout's location and of everything the playbook reads from it."""
    digest = hashlib.sha256(str(REPO).encode())
    inputs = sorted(p for p in ANSIBLE_DIR.rglob("*") if p.is_file()) + [REPO / "pyproject.toml"]
    for path in inputs:
        digest.update(str(path.relative_to(REPO)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def is_current() -> bool:
    return STAMP.exists() and STAMP.read_text().strip() == fingerprint()


def ansible_playbook() -> Path:
    """ansible-playbook from a private venv (pinned in ansible/requirements.txt)."""
    executable = ANSIBLE_VENV / "bin" / "ansible-playbook"
    if not executable.exists():
        subprocess.run(["/usr/bin/python3", "-m", "venv", str(ANSIBLE_VENV)], check=True)
        pip = [str(ANSIBLE_VENV / "bin" / "pip"), "install", "--quiet", "-r", str(ANSIBLE_DIR / "requirements.txt")]
        subprocess.run(pip, check=True)
    return executable


def provision(force: bool = False) -> bool:
    """Run the playbook unless the host already matches this checkout. True when it ran."""
    if not force and is_current():
        return False
    if os.geteuid() != 0:
        raise PermissionError("provisioning needs root: run `sudo ./lab up`")
    command = [str(ansible_playbook()), "-i", "inventories/local/hosts.yml", "site.yml"]
    subprocess.run(command, cwd=ANSIBLE_DIR, check=True)
    STAMP.parent.mkdir(parents=True, exist_ok=True)
    STAMP.write_text(fingerprint() + "\n")
    return True


if __name__ == "__main__":
    try:
        provision(force="--force" in sys.argv)
    except (subprocess.CalledProcessError, PermissionError) as error:
        sys.exit(f"provisioning failed: {error}")
