"""The playbook itself: syntax, ansible-lint's production profile, idempotence, and the log directories it makes."""

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from labctl.provision import ANSIBLE_DIR, ansible_playbook

pytestmark = pytest.mark.stack


def ansible(tool: str, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    executable = ansible_playbook().with_name(tool)
    env = {**os.environ, "PATH": f"{executable.parent}:{os.environ['PATH']}"}
    return subprocess.run([str(executable), *args], cwd=ANSIBLE_DIR, capture_output=True, text=True,
                          timeout=timeout, check=False, env=env)


def test_syntax_check_passes():
    result = ansible("ansible-playbook", "--syntax-check", "site.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_syntax_check_passes_for_the_vagrant_inventory():
    result = ansible("ansible-playbook", "--syntax-check", "-i", "inventories/vagrant/hosts.yml", "site.yml")
    assert result.returncode == 0, result.stdout + result.stderr


# Where each inventory's daemons (lab_bind_address) and web UIs (lab_web_bind_address) listen: loopback on a
# bare host; in the VM the UIs listen on every guest interface, for Vagrant's forwarded ports, which the
# Vagrantfile binds to the host's loopback.
EXPECTED_BINDS = {"local": ("127.0.0.1", "127.0.0.1"), "vagrant": ("127.0.0.1", "0.0.0.0")}


@pytest.mark.parametrize("inventory", sorted(EXPECTED_BINDS))
def test_each_inventory_binds_the_daemons_to_loopback_and_the_web_uis_where_they_are_reached(inventory):
    """The two addresses the roles bind to, rendered with the inventory and the playbook's group_vars as
    ansible-playbook renders them (no host needed): an inventory's group variables would lose to the
    playbook's group_vars/all.yml, so the VM's must be host variables."""
    result = ansible("ansible", "-i", f"inventories/{inventory}/hosts.yml", "all", "--playbook-dir", ".",
                     "-m", "ansible.builtin.debug", "-a", "msg={{ [lab_bind_address, lab_web_bind_address] }}",
                     timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    addresses = yaml.safe_load(result.stdout.split("=>", 1)[1])["msg"]
    assert tuple(addresses) == EXPECTED_BINDS[inventory]


def test_the_vagrantfile_forwards_ports_to_the_hosts_loopback_only():
    forwards = re.findall(r'forwarded_port".*', (ANSIBLE_DIR.parent / "Vagrantfile").read_text())
    assert forwards and all('host_ip: "127.0.0.1"' in line for line in forwards), forwards


def test_no_role_binds_to_every_interface():
    """Every bind address of the roles comes from those two variables: none is written out as the any-address."""
    found = [f"{path.relative_to(ANSIBLE_DIR)}:{number}: {line.strip()}"
             for path in sorted((ANSIBLE_DIR / "roles").rglob("*")) if path.is_file() and path.suffix != ".rb"
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
             if "0.0.0.0" in line or re.search(r"[\[=\s]::[\]\s]", line)]
    assert not found, "\n".join(found)


def test_ansible_lint_production_profile_passes():
    result = ansible("ansible-lint", "--profile", "production", "--offline", "site.yml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_second_run_reports_no_changes():
    """Molecule's idempotence step: rerunning the playbook on a provisioned host changes nothing."""
    result = ansible("ansible-playbook", "site.yml")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr
    recap = re.search(r"ok=\d+\s+changed=(\d+)\s+unreachable=0\s+failed=0", result.stdout)
    assert recap, result.stdout[-2000:]
    header = re.compile(r"(?:TASK|RUNNING HANDLER) \[(.+?)\]")  # a handler's output is not its notifier's
    blocks = re.split(r"\n(?=(?:TASK|RUNNING HANDLER) \[)", result.stdout)
    changed = [block for block in blocks if header.match(block) and re.search(r"^changed:", block, re.MULTILINE)]
    changed_tasks = [header.match(block).group(1) for block in changed]
    # The blocks name the changed loop items (e.g. which package the deploy found different).
    assert recap.group(1) == "0", f"changed={recap.group(1)}; changed tasks: {changed_tasks}\n" + "\n".join(changed)[:3000]


def test_the_service_account_cannot_plant_a_link_where_supervisor_logs(services):
    """Supervisor (root) opens every program's log: a symlink the service account put in its place
    would make root write wherever it points."""
    for service in services.values():
        planted = Path(service.log).with_name(f"planted-by-{service.user}")
        result = subprocess.run(["runuser", "-u", service.user, "--", "ln", "-s", "/etc/passwd", str(planted)],
                                capture_output=True, text=True, check=False)
        assert result.returncode != 0 and not planted.is_symlink(), f"{service.name}: {planted} was created"
        assert "Permission denied" in result.stderr, result.stderr
