"""A real systemd (PID 1) in ``systemd-nspawn``, booted from an overlay of this machine's root.

The test bench for everything that only real systemd can show: Type=notify
and READY=1, STATUS=, the watchdog, the sandbox, the journal fields, install.sh
run for real.  The container's root is an overlayfs whose lower layer is the
host's ``/`` (read-only in effect) and whose upper layer is a scratch tmpfs, so
a test may install, break and delete anything: the host never changes and the
scratch vanishes with the container.

Why it is built this way (found on a Firecracker VM, cgroup v1 hybrid, PID 1
not systemd, systemd 252):

- ``machinectl``, ``systemd-run -M`` and ``systemctl -M`` need systemd-machined,
  i.e. systemd as the host's PID 1: not available.  Commands therefore enter the
  container's namespaces with ``nsenter -t LEADER -a`` (LEADER = the container's
  PID 1 seen from the host); the container's own systemctl and journalctl then
  talk to the container's systemd as usual.
- nspawn must be told ``--register=no --keep-unit`` (otherwise it asks the host's
  D-Bus for a scope and fails: "Failed to open system bus").
- overlayfs refuses an upper layer below its lower layer ("overlapping layers"),
  so the upper and work directories live on their own tmpfs.
- The container gets a fresh machine id (the host's would make journald refuse
  to link journals) and the host's own services (databases, exporters, ...) are
  masked in it so they neither start twice nor bind the host's ports: the
  container shares the host network unless ``private_network=True``.

- systemd's IP firewall (IPAddressDeny=/IPAddressAllow=) is BPF: nspawn's seccomp
  filter blocks bpf(2) unless the container is started with ``BPF_ARGS``
  (``--system-call-filter=bpf`` plus CAP_BPF/CAP_NET_ADMIN/CAP_PERFMON).
  Without them the unit starts but the firewall silently does nothing.

API (stable: other benches build on it)::

    from kiosk.testing.nspawn import Container, unavailable

    reason = unavailable()                  # None, or why no container can run here
    with Container("kiosk-bench", nspawn_args=BPF_ARGS) as c:     # boots; c.stop() on exit
        c.run(["deploy/install.sh", "--no-apt"], cwd="/work/...")  # CompletedProcess (check=True)
        c.write("/etc/systemd/system/x.service.d/t.conf", "[Service]\\n...")
        c.systemctl("daemon-reload")
        c.show("kiosk.service", "ActiveState", "StatusText")     # {"ActiveState": "active", ...}
        c.wait_property("kiosk.service", "StatusText", lambda v: v.startswith("ready"), timeout=60)
        c.wait_journal({"EVENT": "kiosk_started"}, timeout=60)   # first matching record (dict)
        c.journal("-u", "kiosk.service")                          # records as dicts
        c.host_path("/etc/kiosk/kiosk.toml")                      # the file as seen from the host
        c.main_pid("kiosk.service") -> int (inside the container); c.host_pid(pid) -> host pid

Every wait is a deadline on an observable (a unit property, a journal record,
a file), never a fixed sleep.  Needs root, ``systemd-nspawn``
(systemd-container), ``nsenter`` (util-linux) and overlayfs.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable

# Host services that must not start inside the bench (they would duplicate the host's
# daemons, bind its ports on the shared network, or just slow the boot down).
PROJECT_ROOT = Path(__file__).resolve().parents[2]      # the checkout the bench installs from

DEFAULT_MASK = (
    "postgresql.service", "postgresql@.service", "prometheus-node-exporter.service",
    "prometheus-node-exporter-apt.timer", "prometheus-node-exporter-ipmitool-sensor.timer",
    "prometheus-node-exporter-mellanox-hca-temp.timer", "prometheus-node-exporter-nvme.timer",
    "prometheus-node-exporter-smartmon.timer", "apt-daily.timer", "apt-daily-upgrade.timer",
    "man-db.timer", "e2scrub_all.timer", "dpkg-db-backup.timer", "fstrim.timer",
    "console-getty.service", "systemd-journal-upload.service", "systemd-journal-remote.socket",
    "ssh.service", "cron.service", "exim4.service", "nginx.service", "docker.service",
    "containerd.service", "systemd-timesyncd.service", "mender-client.service",
)


# nspawn options that let systemd in the container enforce IPAddressDeny= (see above).
BPF_ARGS = ("--system-call-filter=bpf", "--capability=CAP_BPF,CAP_NET_ADMIN,CAP_PERFMON")


class ContainerError(RuntimeError):
    pass


def unavailable() -> str | None:
    """None when a container can be booted here, else the reason (for pytest.skip)."""
    if os.geteuid() != 0:
        return "systemd-nspawn needs root"
    for tool in ("systemd-nspawn", "nsenter", "mount", "umount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (deploy/apt-dev.txt: systemd-container, util-linux)"
    if not os.path.ismount("/sys/fs/cgroup"):       # a chroot (the pi-bench root) has none
        return "no cgroup hierarchy is mounted at /sys/fs/cgroup (systemd-nspawn needs one)"
    if "overlay" not in Path("/proc/filesystems").read_text():
        try:
            subprocess.run(["modprobe", "overlay"], check=True, capture_output=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return "the kernel has no overlayfs"
    return None


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(p) for p in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def _nspid(pid: int) -> list[int]:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("NSpid:"):
                return [int(x) for x in line.split()[1:]]
    except OSError:
        pass
    return []


class Container:
    """One booted container; see the module docstring for the API."""

    def __init__(self, name: str = "kiosk-bench", *, mask: Iterable[str] = DEFAULT_MASK,
                 private_network: bool = False, binds: Iterable[str] = (),
                 nspawn_args: Iterable[str] = (), scratch_size: str = "4G"):
        self.name = name
        self.mask = tuple(mask)
        self.private_network = private_network
        self.binds = tuple(binds)                # "SRC[:DEST]" as for --bind
        self.nspawn_args = tuple(nspawn_args)
        self.scratch_size = scratch_size
        self.scratch: Path | None = None
        self.root: Path | None = None            # the merged overlay = the container's /
        self.leader: int | None = None           # the container's PID 1, as a host pid
        self._proc: subprocess.Popen | None = None
        self._log: Path | None = None
        self._mounts: list[Path] = []

    # -- life cycle ---------------------------------------------------------------------
    def __enter__(self) -> "Container":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self, timeout: float = 90) -> "Container":
        reason = unavailable()
        if reason:
            raise ContainerError(reason)
        self.scratch = Path(tempfile.mkdtemp(prefix=f"nspawn-{self.name}-"))
        try:
            self._mount_overlay()
            self._prepare_root()
            self._boot(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _mount_overlay(self) -> None:
        assert self.scratch is not None
        layer = self.scratch / "layer"
        layer.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={self.scratch_size},mode=0755",
                        "nspawn-scratch", str(layer)], check=True, capture_output=True)
        self._mounts.append(layer)
        for d in ("upper", "work"):
            (layer / d).mkdir()
        self.root = self.scratch / "root"
        self.root.mkdir()
        subprocess.run(["mount", "-t", "overlay", "nspawn-root", "-o",
                        f"lowerdir=/,upperdir={layer / 'upper'},workdir={layer / 'work'}",
                        str(self.root)], check=True, capture_output=True)
        self._mounts.append(self.root)

    def _prepare_root(self) -> None:
        assert self.root is not None
        (self.root / "etc/machine-id").write_text(uuid.uuid4().hex + "\n")
        units = self.root / "etc/systemd/system"
        units.mkdir(parents=True, exist_ok=True)
        for unit in self.mask:
            link = units / unit
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to("/dev/null")
        (self.root / "etc/hostname").write_text(self.name + "\n")

    def _boot(self, timeout: float) -> None:
        assert self.root is not None and self.scratch is not None
        argv = ["systemd-nspawn", "-D", str(self.root), "--boot", "--register=no", "--keep-unit",
                "--link-journal=no", "-M", self.name, "--console=read-only",
                "--kill-signal=SIGRTMIN+3"]
        if self.private_network:
            argv.append("--private-network")
        # The project is seen through the overlay of /, except where nspawn's own tmpfs hides
        # it: a checkout under /tmp (as a CI clone may be) is bound in at the same path.
        if PROJECT_ROOT.is_relative_to("/tmp"):
            argv += ["--bind", str(PROJECT_ROOT)]
        for b in self.binds:
            argv += ["--bind", b]
        argv += list(self.nspawn_args)
        self._log = self.scratch / "console.log"
        log = open(self._log, "wb")
        env = dict(os.environ, SYSTEMD_NSPAWN_TMPFS_TMP="1")
        self._proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                      env=env, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        self.leader = self._wait(self._find_leader, deadline, "the container's PID 1")
        # systemd's private socket appears once the manager runs; then let systemd itself wait.
        self._wait(lambda: self._exists_inside("/run/systemd/private"), deadline, "systemd in the container")
        left = max(1.0, deadline - time.monotonic())
        r = self.run(["systemctl", "is-system-running", "--wait"], check=False, timeout=left)
        state = r.stdout.strip()
        if state not in ("running", "degraded"):
            raise ContainerError(f"container boot ended in {state!r}:\n{self.console()[-3000:]}")

    def _find_leader(self) -> int | None:
        if self._proc is None:
            return None
        if self._proc.poll() is not None:
            raise ContainerError(f"systemd-nspawn exited with {self._proc.returncode}:\n{self.console()[-3000:]}")
        todo, seen = [self._proc.pid], set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            ns = _nspid(pid)
            if len(ns) >= 2 and ns[-1] == 1:
                return pid
            todo += _children(pid)
        return None

    def _exists_inside(self, path: str) -> bool:
        assert self.leader is not None
        return Path(f"/proc/{self.leader}/root{path}").exists()

    def _wait(self, probe: Callable[[], Any], deadline: float, what: str, interval: float = 0.05):
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                raise ContainerError(f"timed out waiting for {what}:\n{self.console()[-3000:]}")
            time.sleep(interval)              # polling an observable with a deadline

    def console(self) -> str:
        try:
            return self._log.read_text(errors="replace") if self._log else ""
        except OSError:
            return ""

    def stop(self, timeout: float = 30) -> None:
        """Power the container off (SIGRTMIN+4 to its systemd), kill it if it hangs, unmount."""
        if self._proc is not None and self._proc.poll() is None:
            try:
                if self.leader:
                    os.kill(self.leader, signal.SIGRTMIN + 4)
                self._proc.wait(timeout)
            except (subprocess.TimeoutExpired, ProcessLookupError):
                try:
                    os.killpg(self._proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self._proc.wait(10)
        self._proc = None
        self.leader = None
        for m in reversed(self._mounts):
            subprocess.run(["umount", "-l", str(m)], capture_output=True)
        self._mounts.clear()
        if self.scratch is not None:
            shutil.rmtree(self.scratch, ignore_errors=True)
            self.scratch = None

    # -- inside the container ----------------------------------------------------------------
    def command(self, argv: list[str], cwd: str | None = None, env: dict[str, str] | None = None) -> list[str]:
        """The host argv that runs ``argv`` inside the container (all its namespaces, clean env)."""
        if self.leader is None:
            raise ContainerError("the container is not running")
        # cd inside: nsenter's --wd leaves getcwd() outside the new root.
        chdir = ["/bin/sh", "-c", 'cd "$0" && exec "$@"', cwd] if cwd else []
        return ["nsenter", "-t", str(self.leader), "-m", "-u", "-i", "-n", "-p", "-C", "-r", "-w",
                "--", "/usr/bin/env", "-i",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "LANG=C.UTF-8", "HOME=/root", "SYSTEMD_PAGER=", "SYSTEMD_COLORS=0",
                *(f"{k}={v}" for k, v in (env or {}).items()), *chdir, *argv]

    def run(self, argv: list[str], *, check: bool = True, timeout: float = 120, input: str | None = None,
            cwd: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        """Run ``argv`` inside the container; text output captured.  check: raise on exit != 0."""
        result = subprocess.run(self.command(argv, cwd, env), capture_output=True, text=True,
                                timeout=timeout, input=input)
        if check and result.returncode != 0:
            raise ContainerError(f"{argv} exited {result.returncode}\nstdout:\n{result.stdout[-4000:]}\n"
                                 f"stderr:\n{result.stderr[-4000:]}")
        return result

    def sh(self, script: str, **kw) -> subprocess.CompletedProcess:
        return self.run(["/bin/sh", "-c", script], **kw)

    def systemctl(self, *args: str, check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
        return self.run(["systemctl", "--no-ask-password", *args], check=check, timeout=timeout)

    def show(self, unit: str, *props: str) -> dict[str, str]:
        argv = ["systemctl", "show", unit]
        for p in props:
            argv += ["-p", p]
        out = self.run(argv).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def main_pid(self, unit: str) -> int:
        return int(self.show(unit, "MainPID")["MainPID"])

    def host_pid(self, pid: int) -> int:
        """The host pid of the container's process ``pid``."""
        for proc in Path("/proc").iterdir():
            if proc.name.isdigit():
                ns = _nspid(int(proc.name))
                if len(ns) >= 2 and ns[-1] == pid and self._in_container(int(proc.name)):
                    return int(proc.name)
        raise ContainerError(f"no host pid for container pid {pid}")

    def _in_container(self, host_pid: int) -> bool:
        try:
            return os.readlink(f"/proc/{host_pid}/ns/pid") == os.readlink(f"/proc/{self.leader}/ns/pid")
        except OSError:
            return False

    def wait_property(self, unit: str, prop: str, predicate: Callable[[str], bool], timeout: float = 60,
                      interval: float = 0.1) -> str:
        """Wait until ``predicate(value of prop)``; returns the value.  Raises with the last value."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            last = self.show(unit, prop).get(prop, "")
            if predicate(last):
                return last
            if time.monotonic() > deadline:
                raise ContainerError(f"{unit} {prop} stayed {last!r} for {timeout} s\n"
                                     + self.run(["journalctl", "-n", "60", "--no-pager"], check=False).stdout)
            time.sleep(interval)

    def journal(self, *args: str) -> list[dict]:
        out = self.run(["journalctl", "--no-pager", "-o", "json", *args], check=False).stdout
        records = []
        for line in out.splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                pass
        return records

    def cursor(self) -> str:
        """The journal's current end: pass as ``after`` to see only newer records."""
        recs = self.journal("-n", "1")
        return recs[-1]["__CURSOR"] if recs else ""

    def wait_journal(self, match: dict[str, str] | Callable[[dict], bool], timeout: float = 60,
                     after: str = "") -> dict:
        """The first journal record (after cursor ``after``) matching ``match``; follows the journal."""
        pred = match if callable(match) else (lambda r: all(str(r.get(k)) == v for k, v in match.items()))
        argv = ["journalctl", "--no-pager", "-o", "json", "-f"]
        argv += [f"--after-cursor={after}"] if after else ["-n", "all"]
        proc = subprocess.Popen(self.command(argv), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        buf = b""
        try:
            out = proc.stdout
            assert out is not None, "stdout=PIPE"
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise ContainerError(f"no journal record matching {match} within {timeout} s")
                ready, _, _ = select.select([out], [], [], left)
                if not ready:
                    continue
                chunk = os.read(out.fileno(), 65536)
                if not chunk:
                    raise ContainerError("journalctl -f ended")
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    try:
                        record = json.loads(line)
                    except ValueError:
                        continue
                    if pred(record):
                        return record
        finally:
            proc.kill()
            proc.wait()

    # -- files -----------------------------------------------------------------------------------
    def host_path(self, path: str) -> Path:
        """``path`` inside the container, as a host path (through the container's mount namespace)."""
        if self.leader is None:
            raise ContainerError("the container is not running")
        return Path(f"/proc/{self.leader}/root") / path.lstrip("/")

    def write(self, path: str, text: str, mode: int = 0o644) -> None:
        target = self.host_path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        os.chmod(target, mode)

    def read(self, path: str) -> str:
        return self.host_path(path).read_text()
