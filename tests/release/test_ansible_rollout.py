"""The fleet playbook against a container host: --check --diff on a fresh kiosk, rollout, rollback.

ansible-playbook runs inside a fresh container (no network) with the local
connection, so the play meets a root that has never seen the kiosk.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.release.conftest import container, BROKEN, GOOD, ROOT, UNIT, current, need_containers, prepare_kiosk, push

pytestmark = [pytest.mark.systemd, pytest.mark.timeout(1200)]
ANSIBLE = ROOT / "deploy" / "ansible"
INVENTORY = """\
[kiosks]
kiosk-t ansible_connection=local ansible_become=false ansible_python_interpreter=/usr/bin/python3
[journal_remote]
"""


@pytest.fixture(scope="module")
def host(releases):
    need_containers()
    with container("kiosk-ansible") as c:
        prepare_kiosk(c)
        for version in (GOOD, BROKEN):
            push(c, releases.deb(version))
        c.write("/root/inventory.ini", INVENTORY)
        yield c


def playbook(c, version, *args):
    bin_dir = Path(sys.executable).parent
    argv = [str(bin_dir / "ansible-playbook"), "-i", "/root/inventory.ini", "site.yml",
            "-e", f"kiosk_release_version={version}", "-e", "kiosk_release_dist=/var/cache/kiosk-test",
            "-e", "kiosk_reader_uri=", "-e", "kiosk_printer_backend=none", "-e", "kiosk_leds_enabled=false",
            "-e", "kiosk_display_driver=auto", "-e", "kiosk_health_retries=3", *args]
    env = {"PATH": f"{bin_dir}:/usr/sbin:/usr/bin:/sbin:/bin", "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_HOST_KEY_CHECKING": "false", "ANSIBLE_LOCAL_TEMP": "/root/.ansible/tmp"}
    return c.run(argv, cwd=str(ANSIBLE), env=env, check=False, timeout=900)


def recap(out: str) -> str:
    return out[out.rindex("PLAY RECAP"):]


def test_check_diff_on_a_fresh_kiosk_changes_nothing(host):
    result = playbook(host, GOOD, "--check", "--diff")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "must be an existing dir" not in result.stdout
    assert f"would install myna-kiosk_{GOOD}_" in result.stdout
    assert 'id = "kiosk-t"' in result.stdout                 # --diff shows the config it would write
    assert "failed=0" in recap(result.stdout)
    assert not host.host_path("/opt/kiosk/current").is_symlink()
    assert host.run(["dpkg-query", "-W", "myna-kiosk"], check=False).returncode != 0


def test_rollout_installs_and_is_idempotent_and_a_broken_release_rolls_back(host):
    result = playbook(host, GOOD)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert current(host) == GOOD and host.show(UNIT, "ActiveState")["ActiveState"] == "active"
    again = playbook(host, GOOD)
    assert again.returncode == 0 and "changed=0" in recap(again.stdout), again.stdout[-4000:]
    check = playbook(host, GOOD, "--check", "--diff")
    assert check.returncode == 0 and "changed=0" in recap(check.stdout), check.stdout[-4000:]

    broken = playbook(host, BROKEN, "-e", "kiosk_release_health_timeout=60")
    assert broken.returncode != 0
    assert f"{BROKEN} is not running on kiosk-t" in broken.stdout
    assert current(host) == GOOD and host.show(UNIT, "ActiveState")["ActiveState"] == "active"
