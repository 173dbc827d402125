"""Status LEDs and buzzer: what the kiosk does, visible across the room.

    lights = StatusLights.from_config(cfg.leds, bus)

subscribes to the bus ('state', 'service' and 'staff' topics) and plays the pattern
of the current state from ``kiosk.leds.patterns.PATTERNS``; an active
service condition blinks through every state until it is cleared.  Pins
come from the config; gpiozero picks lgpio / RPi.GPIO on the Pi, and
``pin_factory = "mock"`` uses gpiozero's MockFactory (tests, desktops).
With ``leds.enabled = false`` (or no GPIO) it is a no-op with the same API.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Callable

from kiosk import journal
from kiosk.config import LedsSection
from kiosk.leds.patterns import PATTERNS, STAFF_CALLED, WALK, Frame, with_service
from kiosk.signals import Bus, KioskState, ServiceCondition

CHANNELS = ("red", "green", "blue", "buzzer")


class _Player:
    """One thread that steps through frames on an absolute schedule (no drift)."""

    def __init__(self, apply: Callable[[Frame], None], timescale: float):
        self._apply = apply
        self.timescale = timescale
        self._cond = threading.Condition()
        self._program: tuple[tuple[Frame, ...], tuple[Frame, ...]] | None = None
        self._generation = 0
        self._stopped = False
        self.frames_started = 0
        self.finished = False
        self._thread = threading.Thread(target=self._run, name="status-leds", daemon=True)
        self._thread.start()

    def play(self, intro: tuple[Frame, ...], loop: tuple[Frame, ...]) -> None:
        with self._cond:
            self._program = (intro, loop)
            self._generation += 1
            self.frames_started = 0
            self.finished = False
            self._cond.notify_all()

    def wait(self, predicate: Callable[[], bool], timeout: float | None) -> bool:
        with self._cond:
            return self._cond.wait_for(predicate, timeout)

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._cond.notify_all()
        self._thread.join(2.0)

    def _run(self) -> None:
        with self._cond:
            while not self._stopped:
                if self._program is None:
                    self._cond.wait()
                    continue
                generation = self._generation
                intro, loop = self._program
                changed = lambda gen=generation: self._stopped or self._generation != gen  # noqa: E731
                deadline = time.monotonic()
                for frame in itertools.chain(intro, itertools.cycle(loop) if loop else ()):
                    try:
                        self._apply(frame)
                    except Exception as exc:  # noqa: BLE001 - a GPIO error must not kill the thread; journaled
                        journal.log_swallowed("leds.apply", exc)
                    self.frames_started += 1
                    self._cond.notify_all()
                    if frame.seconds is None:
                        self._cond.wait_for(changed)
                        break
                    deadline += frame.seconds * self.timescale
                    if self._cond.wait_for(changed, max(0.0, deadline - time.monotonic())):
                        break
                else:
                    self.finished = True        # an intro-only program (the walk) ran to its end
                    self._program = None
                    self._cond.notify_all()


class StatusLights:
    """Drives the LEDs (and buzzer) from the bus.  ``devices`` maps channel -> gpiozero device."""

    enabled = True

    def __init__(self, devices: dict, bus: Bus | None = None, *, timescale: float = 1.0):
        self.devices = devices
        self.state = KioskState.BOOTING
        self.conditions: set[ServiceCondition] = set()
        self.staff_called = False          # a resident asked for staff: its pattern until the session ends
        self._lock = threading.Lock()
        self._closed = False
        self._player = _Player(self._apply, timescale)
        if bus is not None:
            bus.subscribe("state", self._on_state)
            bus.subscribe("service", self._on_service)
            bus.subscribe("staff", self._on_staff)
        self._show(intro=True)

    @classmethod
    def from_config(cls, leds: LedsSection, bus: Bus | None = None, *,
                    timescale: float = 1.0) -> "StatusLights | NullLights":
        """The lights for ``cfg.leds``; a NullLights when disabled or when the GPIO cannot be opened."""
        if not leds.enabled:
            return NullLights()
        try:
            devices = open_devices(leds)
        except Exception as exc:  # noqa: BLE001 - journaled below; no GPIO chip, pin in use, bad factory: keep the kiosk up
            journal.log_event("service_needed", "status LEDs unavailable", journal.ERR,
                              ERROR_CODE="leds_unavailable", DETAIL=type(exc).__name__)
            return NullLights()
        return cls(devices, bus, timescale=timescale)

    # -- bus --------------------------------------------------------------------------
    def _on_state(self, _topic: str, payload: dict) -> None:
        self.set_state(payload["state"])

    def _on_service(self, _topic: str, payload: dict) -> None:
        self.set_service(payload["condition"], bool(payload["active"]))

    def _on_staff(self, _topic: str, payload: dict) -> None:
        self.set_staff_called(bool(payload["active"]))

    def set_staff_called(self, active: bool) -> None:
        with self._lock:
            changed, self.staff_called = self.staff_called != active, active
        if changed:
            self._show(intro=active)

    def set_state(self, state: KioskState) -> None:
        with self._lock:
            self.state = KioskState(state)
        self._show(intro=True)

    def set_service(self, condition: ServiceCondition, active: bool) -> None:
        with self._lock:
            before = bool(self.conditions)
            if active:
                self.conditions.add(ServiceCondition(condition))
            else:
                self.conditions.discard(ServiceCondition(condition))
            changed = before != bool(self.conditions)
        if changed:
            self._show(intro=False)        # the state's beep is not repeated

    def _show(self, intro: bool) -> None:
        if self._closed:
            return
        with self._lock:
            pattern = PATTERNS[STAFF_CALLED if self.staff_called else self.state.value]
            frames = with_service(pattern, bool(self.conditions), intro)
        self._player.play(*frames)

    def _apply(self, frame: Frame) -> None:
        for name in CHANNELS:
            device = self.devices.get(name)
            if device is not None:
                device.value = 1 if getattr(frame, name) else 0

    # -- tests and the technician ----------------------------------------------------------
    def pin(self, channel: str):
        """The gpiozero pin behind a channel (a MockPin under MockFactory)."""
        device = self.devices.get(channel)
        return device.pin if device is not None else None

    def wait_frames(self, count: int, timeout: float = 5.0) -> bool:
        """Block until the current pattern has started ``count`` frames (tests wait on this)."""
        return self._player.wait(lambda: self._player.frames_started >= count, timeout)

    def walk(self, timeout: float = 10.0) -> bool:
        """Light each LED in turn and sound the buzzer (``kiosk selftest``); then resume."""
        self._player.play(WALK.intro, ())
        done = self._player.wait(lambda: self._player.finished, timeout)
        self._show(intro=False)
        return done

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._player.stop()
        for device in self.devices.values():
            try:
                device.off()
                device.close()
            except Exception as exc:  # noqa: BLE001 - shutting down: every LED gets its close, journaled
                journal.log_swallowed("leds.close", exc)


class NullLights:
    """Same API, does nothing: LEDs disabled in the config or unavailable."""

    enabled = False
    devices: dict = {}

    def __init__(self):
        self.state = KioskState.BOOTING
        self.conditions: set[ServiceCondition] = set()
        self.staff_called = False

    def set_state(self, state: KioskState) -> None:
        self.state = KioskState(state)

    def set_service(self, condition: ServiceCondition, active: bool) -> None:
        (self.conditions.add if active else self.conditions.discard)(ServiceCondition(condition))

    def set_staff_called(self, active: bool) -> None:
        self.staff_called = active

    def pin(self, channel: str):
        return None

    def wait_frames(self, count: int, timeout: float = 5.0) -> bool:
        return True

    def walk(self, timeout: float = 10.0) -> bool:
        return False

    def close(self) -> None:
        pass


def pin_factory(name: str):
    """The gpiozero pin factory for ``leds.pin_factory`` (None = gpiozero's own choice)."""
    if name == "mock":
        from gpiozero.pins.mock import MockFactory
        return MockFactory()
    if name == "lgpio":
        from gpiozero.pins.lgpio import LGPIOFactory
        return LGPIOFactory()
    if name == "rpigpio":
        from gpiozero.pins.rpigpio import RPiGPIOFactory
        return RPiGPIOFactory()
    return None


def open_devices(leds: LedsSection) -> dict:
    """gpiozero devices for the configured pins (closed again if one of them fails)."""
    from gpiozero import LED, Buzzer

    factory = pin_factory(leds.pin_factory)
    devices: dict = {}
    try:
        for name in ("red", "green", "blue"):
            devices[name] = LED(getattr(leds, name), active_high=leds.active_high,
                                initial_value=False, pin_factory=factory)
        if leds.buzzer:
            devices["buzzer"] = Buzzer(leds.buzzer, initial_value=False, pin_factory=factory)
    except Exception:
        for device in devices.values():
            device.close()
        raise
    return devices
