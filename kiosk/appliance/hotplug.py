"""Wake the no-display wait when a DRM device appears: a uevent, not a poll.

A monitor switched on late or a re-seated HDMI cable makes the kernel add
``/dev/dri/card*`` and send a uevent on netlink.  ``HotplugWatch`` listens for
those (pyudev on libudev): from udevd when it runs (``/run/udev/control``;
the device node then has its group and ACLs) and straight from the kernel
otherwise.  The unit's ``RestrictAddressFamilies`` keeps AF_NETLINK for this.

Where no monitor can be opened (no pyudev, no netlink, a container without
uevents) ``live`` is False and the caller polls as before: polling is only
the fallback.  Even with a monitor the caller keeps a slow safety retry,
because not every change is a uevent (plymouth letting go of the screen).
"""

from __future__ import annotations

import select
from pathlib import Path

UDEV_CONTROL = Path("/run/udev/control")


class HotplugWatch:
    """Uevents of one subsystem (``drm`` for displays); ``wait`` returns when one arrives."""

    def __init__(self, subsystem: str = "drm", *, source: str | None = None):
        self.subsystem = subsystem
        self.source = ""                  # "udev" | "kernel" once live
        self.why_not = ""                 # why there is no monitor (journaled by the caller)
        self._monitor = None
        try:
            import pyudev
        except ImportError:
            self.why_not = "pyudev not installed"
            return
        chosen = source or ("udev" if UDEV_CONTROL.exists() else "kernel")
        try:
            monitor = pyudev.Monitor.from_netlink(pyudev.Context(), source=chosen)
            monitor.filter_by(subsystem)
            monitor.start()
        except (OSError, ValueError, pyudev.DeviceNotFoundError) as exc:   # no netlink in this sandbox
            self.why_not = f"no uevent monitor ({type(exc).__name__})"
            return
        self._monitor, self.source = monitor, chosen

    @property
    def live(self) -> bool:
        return self._monitor is not None

    @property
    def mode(self) -> str:
        """For the journal: udev | kernel | poll."""
        return self.source or "poll"

    def wait(self, timeout: float, stop: object = None) -> bool:
        """True when a device of the subsystem was added or changed within ``timeout`` seconds.

        Returns early (False) when ``stop`` is set, if it has a ``fileno()`` to wait on
        (kiosk.display.cli.StopRequest has one).
        """
        if self._monitor is None:
            return False
        fds: list[int] = [self._monitor.fileno()]
        fileno = getattr(stop, "fileno", None)
        if callable(fileno):
            fds.append(fileno())
        try:
            ready, _, _ = select.select(fds, [], [], max(0.0, timeout))
        except (OSError, ValueError):     # a closed stop pipe: nothing more to wait for
            return False
        if self._monitor.fileno() not in ready:
            return False
        woke = False
        while True:                        # drain: one plug can send several uevents
            device = self._monitor.poll(timeout=0)
            if device is None:
                return woke
            woke = woke or device.action in ("add", "change", "bind", "online")

    def close(self) -> None:
        self._monitor = None               # libudev closes the netlink socket with its last reference

    def __enter__(self) -> "HotplugWatch":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
