"""PIN identities, formats and the wipeable PIN buffer.

A PIN lives only in a ``Pin``: a bytearray that the card layer overwrites after
its single use.  ``Pin`` has no ``__str__``/``__repr__`` that reveals digits,
cannot be pickled or copied, and is consumed by the one VERIFY it is handed to,
so no caller can cache it for a second try.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kiosk.errors import PinFormatError


@dataclass(frozen=True)
class PinSpec:
    id: str                 # stable id used in JSON, logs and the UI catalogue
    max_tries: int
    pattern: re.Pattern
    kind: str               # "digits4" | "password"
    uppercase: bool = False


_DIGITS4 = re.compile(r"[0-9]{4}")
_PASSWORD = re.compile(r"[A-Z0-9]{6,16}")

PIN_SPECS: dict[str, PinSpec] = {
    "licence": PinSpec("licence", 10, _DIGITS4, "digits4"),
    "jpki_auth": PinSpec("jpki_auth", 3, _DIGITS4, "digits4"),
    "jpki_sign": PinSpec("jpki_sign", 5, _PASSWORD, "password", uppercase=True),
    "kenhojo": PinSpec("kenhojo", 3, _DIGITS4, "digits4"),
    "juki": PinSpec("juki", 3, _DIGITS4, "digits4"),
    "ic_pin1": PinSpec("ic_pin1", 3, _DIGITS4, "digits4"),
    "ic_pin2": PinSpec("ic_pin2", 3, _DIGITS4, "digits4"),
}

# The licence AP's default PIN when the holder set none (WEF01 C1 01 00).
NO_PIN_SET_DEFAULT = b"****"


class Pin:
    """A PIN held in a bytearray and wiped after use.

    Build it from what the resident typed; the format is checked here, before
    anything can reach a card.  ``take()`` hands the bytes to the card layer
    exactly once.
    """

    __slots__ = ("_buf", "pin_id", "_used")

    def __init__(self, pin_id: str, typed: bytes | bytearray | str):
        spec = PIN_SPECS.get(pin_id)
        if spec is None:
            raise PinFormatError("unknown PIN id", pin_id=pin_id)
        buf = bytearray(typed.encode("ascii", "replace") if isinstance(typed, str) else typed)
        if isinstance(typed, bytearray):
            typed[:] = b"\x00" * len(typed)     # the caller's copy is wiped too
        if spec.uppercase:
            for i, b in enumerate(buf):
                if 0x61 <= b <= 0x7A:
                    buf[i] = b - 0x20
        try:
            ok = spec.pattern.fullmatch(buf.decode("ascii")) is not None
        except UnicodeDecodeError:
            ok = False
        if not ok:
            buf[:] = b"\x00" * len(buf)
            raise PinFormatError(
                "PIN has the wrong format (4 digits)" if spec.kind == "digits4"
                else "password has the wrong format (6-16 of A-Z, 0-9)",
                pin_id=pin_id,
            )
        self._buf = buf
        self.pin_id = pin_id
        self._used = False

    @classmethod
    def no_pin_set(cls) -> "Pin":
        """The licence AP's '****' for cards whose holder set no PIN."""
        p = object.__new__(cls)
        p._buf = bytearray(NO_PIN_SET_DEFAULT)
        p.pin_id = "licence"
        p._used = False
        return p

    def take(self) -> bytearray:
        """The bytes, once.  The caller must ``wipe()`` after sending."""
        if self._used:
            raise PinFormatError("a PIN is used for exactly one VERIFY", pin_id=self.pin_id)
        self._used = True
        return self._buf

    def wipe(self) -> None:
        self._buf[:] = b"\x00" * len(self._buf)
        self._used = True

    @property
    def wiped(self) -> bool:
        return self._used and not any(self._buf)

    def __len__(self) -> int:
        return len(self._buf)

    def __repr__(self) -> str:
        return f"<Pin {self.pin_id} ****>"

    __str__ = __repr__

    def __reduce__(self) -> str:
        raise TypeError("a Pin cannot be pickled")

    def __copy__(self) -> "Pin":
        raise TypeError("a Pin cannot be copied")

    def __deepcopy__(self, memo: object) -> "Pin":
        raise TypeError("a Pin cannot be copied")

    def __del__(self) -> None:
        try:
            self._buf[:] = b"\x00" * len(self._buf)
        except AttributeError:
            pass                    # __init__ refused the PIN before _buf existed (it wiped its own copy)
