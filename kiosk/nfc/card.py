"""What the kiosk reads from and signs with a card, with the PIN rules enforced.

The rules from DEVELOPERS.md live here, below every UI, so no UI bug can get
around them:

* a counter is read with an empty VERIFY right before any VERIFY with data,
  and a locked counter never receives a PIN;
* the PIN's format is checked when the ``Pin`` is built, before anything is sent;
* each call sends exactly one VERIFY with data, never retries, and wipes the
  PIN buffer whatever happens;
* each signature needs its own ``Pin`` (``JpkiKey`` signs once);
* the My Number EF and 照合番号A are refused by the APDU guard.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import re
from contextlib import contextmanager
from typing import Callable, Iterator, ParamSpec, TypeVar

from kiosk.errors import (CardError, CardProtocolError, FileNotFoundOnCard, ForbiddenOperation, NoLicenceError,
                          PinFormatError, PinLockedError, PinWrongError, SecurityStatusError,
                          UnsupportedCardError)
from kiosk.nfc import licence_tags
from kiosk.nfc.apdu import (AID_COMMON, AID_IC_DF1, AID_JPKI, AID_LICENCE, AID_TEXT,
                            DEFAULT_OPERATION_SECONDS, SW_AUTH_BLOCKED, SW_OK, SW_PIN_BLOCKED,
                            ApduChannel, TraceHook)
from kiosk.nfc.jis import JISError, ascii_date
from kiosk.nfc.model import (IC_LICENCE, MYNA, MYNA_LICENCE, UNSUPPORTED, CardStatus,
                             LicenceData, PinCheck, PinCounter)
from kiosk.nfc.pins import PIN_SPECS, Pin
from kiosk.nfc.reader import Connection
from kiosk.nfc.tlv import (TLVError, decode_licence_stream, decode_simple_tlv, der_header,
                           der_total_length)

# JPKI AP (card-protocol.md §3.1)
SFI_TOKEN = 0x06
SFI_CERT_AVAILABILITY = 0x08
SFI_AUTH_CERT = 0x0A
EF_AUTH_CERT = 0x000A
EF_SIGN_CERT = 0x0001
EF_AUTH_KEY = 0x0017
EF_SIGN_KEY = 0x001A
TOKEN_MY_NUMBER_CARD = "JPKIAPICCTOKEN2"
TOKEN_BYTES = 32               # the token label: first 32 bytes of EF 0006, space padded
# 共通AP record EF; licence AP WEF01/WEF02; IC licence files
SFI_COMMON_RECORDS = 0x01
SFI_LICENCE_WEF01 = 0x1A
EF_LICENCE_WEF02 = 0x001B
EF_IC_COMMON = 0x2F01
EF_IC_PIN_SETTING = 0x000A
EF_IC_MATTERS = 0x0001

# pin id -> (application, VERIFY P2).  P2 = 80|SFI verifies without a SELECT.
PIN_LOCATIONS: dict[str, tuple[bytes, int]] = {
    "licence": (AID_LICENCE, 0x86),
    "jpki_auth": (AID_JPKI, 0x98),
    "jpki_sign": (AID_JPKI, 0x9B),
    "kenhojo": (AID_TEXT, 0x91),
    "juki": (AID_COMMON, 0x9C),
    "ic_pin1": (b"MF", 0x81),
    "ic_pin2": (b"MF", 0x82),
}

# The most each file may hold (card-protocol.md): a READ loop refuses more, and
# its READ count is capped from these (apdu.read_cap).
MAX_CERT_BYTES = 8192          # real certificates: 1573 B (auth) to about 2.2 KB (sign)
MAX_WEF02_BYTES = 8192         # マイナ免許証 WEF02: 5845 B at most (S7)
MAX_IC_MATTERS_BYTES = 4096    # IC licence DF1/EF01: 880 B (some readers see 2005)
MAX_IC_COMMON_BYTES = 512      # IC licence EF 2F01: a few dozen bytes

DIGEST_INFO_SHA256 = bytes.fromhex("3031300d060960864801650304020105000420")
JST = dt.timezone(dt.timedelta(hours=9))
# What cert_not_after returns for RFC 5280's "no expiry"; CardStatus keeps None
# plus auth_cert_no_expiry, so no screen shows a made-up date.
NO_EXPIRY = dt.date.max
_UTC_TIME = re.compile(r"[0-9]{12}Z")
_GENERALIZED_TIME = re.compile(r"[0-9]{14}Z")


def digest_info_sha256(message: bytes) -> bytes:
    """The DER DigestInfo the card pads and signs (PKCS#1 v1.5)."""
    return DIGEST_INFO_SHA256 + hashlib.sha256(message).digest()


def interpret_counter(pin_id: str, sw: int) -> PinCounter:
    """An empty VERIFY's status word as a counter (63C0, 6983 and 6984 all mean locked)."""
    spec = PIN_SPECS[pin_id]
    if sw >> 4 == 0x63C:
        left = sw & 0x0F
        return PinCounter(pin_id, left, spec.max_tries, locked=left == 0)
    if sw in (SW_AUTH_BLOCKED, SW_PIN_BLOCKED):
        return PinCounter(pin_id, 0, spec.max_tries, locked=True)
    if sw == SW_OK:                       # already verified in this card session
        return PinCounter(pin_id, None, spec.max_tries, locked=False)
    if sw == 0x6300:                      # no retry limit
        return PinCounter(pin_id, None, spec.max_tries, locked=False)
    raise CardError(f"unexpected answer to a PIN counter query for {pin_id}", sw=sw)


def cert_not_after(prefix: bytes) -> dt.date | None:
    """notAfter (as a JST date) from the first bytes of a DER certificate.

    Returns None while ``prefix`` is too short to reach the validity field;
    raises TLVError when the bytes are not a certificate.
    """
    pos = 0
    for _ in range(2):                     # Certificate, tbsCertificate: step inside
        h = der_header(prefix, pos)
        if h is None:
            return None
        if h[0] != 0x30:
            raise TLVError("not a certificate")
        pos += h[1]
    h = der_header(prefix, pos)
    if h is None:
        return None
    if h[0] == 0xA0:                       # [0] version
        pos += h[1] + h[2]
    for _ in range(3):                     # serial, signature algorithm, issuer
        h = der_header(prefix, pos)
        if h is None:
            return None
        pos += h[1] + h[2]
    h = der_header(prefix, pos)            # validity
    if h is None:
        return None
    if h[0] != 0x30:
        raise TLVError("validity is not a SEQUENCE")
    if len(prefix) < pos + h[1] + h[2]:
        return None
    pos += h[1]
    nb = der_header(prefix, pos)
    if nb is None:
        raise TLVError("validity has no notBefore")
    pos += nb[1] + nb[2]
    na = der_header(prefix, pos)
    if na is None:
        raise TLVError("validity has no notAfter")
    return der_time_to_jst_date(na[0], bytes(prefix[pos + na[1]: pos + na[1] + na[2]]))


def der_time_to_jst_date(tag: int, raw: bytes) -> dt.date:
    """A DER UTCTime/GeneralizedTime as a JST date; total: a date, NO_EXPIRY or TLVError.

    RFC 5280 §4.1.2.5: GeneralizedTime 99991231235959Z means "no well-defined
    expiration date"; any instant whose JST date would pass 9999-12-31 is that too.
    """
    text = raw.decode("ascii", "replace")
    if tag == 0x17:                        # UTCTime YYMMDDHHMMSSZ
        if not _UTC_TIME.fullmatch(text):
            raise TLVError("notAfter is not a UTCTime")
        text = ("19" if int(text[:2]) >= 50 else "20") + text
    elif tag == 0x18:                      # GeneralizedTime YYYYMMDDHHMMSSZ
        if not _GENERALIZED_TIME.fullmatch(text):
            raise TLVError("notAfter is not a GeneralizedTime")
    else:
        raise TLVError("notAfter is not a time")
    if text.startswith("99991231235959"):
        return NO_EXPIRY
    try:
        stamp = dt.datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=dt.timezone.utc)
    except ValueError:
        raise TLVError("notAfter is not a real date and time") from None
    if stamp.date() == dt.date.max:
        return NO_EXPIRY                    # 9999-12-31 UTC is 10000-01-01 in JST for part of the day
    return stamp.astimezone(JST).date()


class _StreamTotal:
    """A READ BINARY ``total`` for a licence TLV stream: stop at padding.

    Resumes at the last item boundary, so each byte is decoded once however
    small the card's chunks are (a 1-byte-per-READ card stays linear).
    """

    def __init__(self, style: str):
        self.style = style
        self.resume = 0

    def __call__(self, data: bytes | bytearray) -> int | None:
        res = decode_licence_stream(data, self.style, start=self.resume)
        if res.complete:
            return res.end
        if res.error in (None, "truncated header", "truncated value"):
            self.resume = res.end          # the incomplete item's start, or the end
            return None
        return len(data)                   # undecodable: stop here, keep what decoded


def _stream_total(style: str) -> _StreamTotal:
    return _StreamTotal(style)


P = ParamSpec("P")
R = TypeVar("R")


def _bounded(method: Callable[P, R]) -> Callable[P, R]:
    """Run a CardSession method under the session's operation deadline."""
    @functools.wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        session = args[0]
        assert isinstance(session, CardSession)
        with session.apdu.operation(session.deadline):
            return method(*args, **kwargs)
    return wrapper


class CardSession:
    """One resident's card, from connect to unpower.

    ``deadline``: seconds each operation may take (None: unbounded); past it
    the operation raises CardNotRespondingError and sends nothing more.
    """

    def __init__(self, connection: Connection, trace: TraceHook | None = None,
                 deadline: float | None = DEFAULT_OPERATION_SECONDS):
        self.connection = connection
        self.deadline = deadline
        self.apdu = ApduChannel(connection, trace)
        self.counters: dict[str, PinCounter] = {}
        self.status: CardStatus | None = None
        self._licence_pin_set: bool | None = None

    # -- lifecycle --------------------------------------------------------
    def close(self) -> None:
        """Unpower the card: a verified PIN must not reach the next resident."""
        self.counters.clear()
        self.status = None
        self.connection.close(unpower=True)

    def __enter__(self) -> "CardSession":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- PIN-free reads ----------------------------------------------------
    @_bounded
    def read_counter(self, pin_id: str) -> PinCounter:
        """Empty VERIFY (case 1): the counter, without spending a try."""
        app, p2 = PIN_LOCATIONS[pin_id]
        self._select(app)
        counter = interpret_counter(pin_id, self.apdu.verify(p2, None).sw)
        self.counters[pin_id] = counter
        return counter

    def _select(self, app: bytes) -> None:
        if self.apdu.current_df == app:
            return
        if app == b"MF":
            if not self.apdu.select_mf():
                raise CardError("the card refused SELECT MF")
        else:
            self.apdu.select_aid(app)

    @_bounded
    def read_status(self) -> CardStatus:
        """Card type, every counter, expiries, licence presence.  Spends no try."""
        if self.apdu.select_aid(AID_JPKI, required=False):
            status = self._myna_status()
        elif self.apdu.select_mf() and self._is_ic_licence():
            status = self._ic_status()
        else:
            status = CardStatus(card_type=UNSUPPORTED)
        self.status = status
        return status

    def _myna_status(self) -> CardStatus:
        token_raw = self.apdu.read_binary(lambda _data: TOKEN_BYTES, SFI_TOKEN, limit=TOKEN_BYTES)
        token = token_raw[:TOKEN_BYTES].decode("ascii", "replace").strip(" \x00")
        if token != TOKEN_MY_NUMBER_CARD:
            return CardStatus(card_type=UNSUPPORTED, token=token or None)
        st = CardStatus(card_type=MYNA, token=token)
        st.pins["jpki_auth"] = self.read_counter("jpki_auth")
        st.pins["jpki_sign"] = self.read_counter("jpki_sign")
        avail, _ = self.apdu.read_chunk(0, SFI_CERT_AVAILABILITY)
        st.sign_cert_present = bool(avail) and avail[0] == 0x8F
        not_after = self._auth_cert_not_after()
        st.auth_cert_no_expiry = not_after == NO_EXPIRY
        st.auth_cert_not_after = None if st.auth_cert_no_expiry else not_after
        st.pins["kenhojo"] = self.read_counter("kenhojo")
        st.pins["juki"] = self.read_counter("juki")
        st.card_expiry = self._card_expiry()
        if self.apdu.select_aid(AID_LICENCE, required=False):
            st.card_type = MYNA_LICENCE
            st.licence_present = True
            st.licence_pin_set = self._read_licence_pin_set()
            st.pins["licence"] = self.read_counter("licence")
        return st

    def _auth_cert_not_after(self) -> dt.date | None:
        """Only the certificate's first bytes, up to the validity field."""
        return self._cert_prefix_not_after(SFI_AUTH_CERT)

    def _cert_prefix_not_after(self, sfi: int | None) -> dt.date | None:
        """notAfter from the first bytes of the current EF (or of EF ``sfi``)."""
        data = bytearray()
        for _ in range(4):
            chunk, eof = self.apdu.read_chunk(len(data), sfi)
            data += chunk
            sfi = None if len(data) > 0xFF else sfi
            found = cert_not_after(bytes(data))
            if found is not None:
                return found
            if eof or not chunk:
                break
        raise CardProtocolError("certificate ended before its validity")

    def _card_expiry(self) -> dt.date | None:
        self._select(AID_COMMON)
        record = self.apdu.read_record(1, SFI_COMMON_RECORDS)
        for tag, value in decode_simple_tlv(record):
            if tag == 0x01 and len(value) >= 28:
                try:
                    return ascii_date(value[20:28])
                except JISError:
                    raise CardProtocolError("card expiry is not a date") from None
        raise CardProtocolError("card information record has no expiry")

    def _read_licence_pin_set(self) -> bool:
        chunk, _ = self.apdu.read_chunk(0, SFI_LICENCE_WEF01)
        if len(chunk) >= 3 and chunk[0] == 0xC1 and chunk[1] == 0x01:
            self._licence_pin_set = chunk[2] != 0x00
            return self._licence_pin_set
        raise CardProtocolError("licence PIN-setting file is malformed")

    def _is_ic_licence(self) -> bool:
        try:
            self.apdu.select_ef(EF_IC_COMMON)
        except CardError:
            return False
        return True

    def _ic_status(self) -> CardStatus:
        st = CardStatus(card_type=IC_LICENCE, licence_present=True)
        common = self.apdu.read_binary(der_total_length, limit=MAX_IC_COMMON_BYTES)
        items = decode_licence_stream(common, "ic").items
        for tag, value in items:
            if tag == 0x45:
                try:
                    dates = licence_tags.decode_ic_common(value)
                except JISError:
                    raise CardProtocolError("IC licence common data is malformed") from None
                st.ic_issue_date, st.ic_expiry = dates["issue_date"], dates["expiry"]
        self.apdu.select_ef(EF_IC_PIN_SETTING)
        setting, _ = self.apdu.read_chunk(0)
        st.licence_pin_set = not (len(setting) >= 3 and setting[2] == 0x00)
        self._licence_pin_set = st.licence_pin_set
        st.pins["ic_pin1"] = self.read_counter("ic_pin1")
        st.pins["ic_pin2"] = self.read_counter("ic_pin2")
        return st

    @_bounded
    def read_auth_certificate(self) -> bytes:
        """The JPKI user-authentication certificate (public, EF 000A)."""
        self._select(AID_JPKI)
        self.apdu.select_ef(EF_AUTH_CERT)
        return self.apdu.read_binary(der_total_length, limit=MAX_CERT_BYTES)

    # -- VERIFY: the one place a PIN is sent --------------------------------
    def _verify(self, pin_id: str, pin: Pin) -> PinCounter:
        """Exactly one VERIFY with data, after a fresh counter read; wipes the PIN."""
        try:
            if not isinstance(pin, Pin) or pin.pin_id != pin_id:
                raise PinFormatError("PIN does not belong to this counter", pin_id=pin_id)
            app, p2 = PIN_LOCATIONS[pin_id]
            counter = self.read_counter(pin_id)
            if counter.locked:
                raise PinLockedError("PIN is locked", pin_id=pin_id)
            buf = pin.take()
            self.connection.set_exclusive(True)
            self.counters.pop(pin_id, None)        # unknown until the card answers
            resp = self.apdu.verify(p2, buf)
        finally:
            if isinstance(pin, Pin):
                pin.wipe()
        spec = PIN_SPECS[pin_id]
        if resp.sw == SW_OK:
            counter = PinCounter(pin_id, spec.max_tries, spec.max_tries, locked=False)
            self.counters[pin_id] = counter
            return counter
        if not (resp.sw >> 4 == 0x63C or resp.sw in (SW_AUTH_BLOCKED, SW_PIN_BLOCKED)):
            raise CardError("unexpected answer to VERIFY", sw=resp.sw, pin_id=pin_id)
        counter = interpret_counter(pin_id, resp.sw)
        self.counters[pin_id] = counter
        if counter.locked or counter.tries_left is None:
            raise PinLockedError("PIN is now locked", pin_id=pin_id)
        raise PinWrongError("wrong PIN", pin_id=pin_id, tries_left=counter.tries_left)

    # -- the resident's optional PIN check (issue 12) -------------------------
    CHECKABLE_PINS = ("jpki_auth", "jpki_sign")

    @_bounded
    def check_pin(self, pin_id: str, pin: Pin) -> PinCheck:
        """Does the resident know this JPKI PIN?  One VERIFY, on their explicit confirmation.

        Every rule of ``_verify`` applies (fresh counter first, never to a locked
        counter, one VERIFY, no retry, buffer wiped).  A right signature password
        also reads the signature certificate's notAfter, which only this verified
        state allows; nothing is signed and the PIN is kept nowhere.  The verified
        state itself ends when the card is unpowered at the end of the session
        (card-protocol.md §2.3: only a power-down clears it); every later signature
        needs its own VERIFY (``jpki_key``), so it is never used.
        """
        try:
            if pin_id not in self.CHECKABLE_PINS:
                raise ForbiddenOperation("only the two JPKI PINs can be checked", pin_id=pin_id)
            self._select(AID_JPKI)
            try:
                counter = self._verify(pin_id, pin)
            except PinWrongError as exc:
                return self._learn(PinCheck(pin_id, ok=False, tries_left=exc.tries_left, locked=False))
            except PinLockedError:
                return self._learn(PinCheck(pin_id, ok=False, tries_left=0, locked=True))
        finally:
            if isinstance(pin, Pin):
                pin.wipe()
        not_after: dt.date | None = None
        has_cert = self.status is None or self.status.sign_cert_present is not False
        if pin_id == "jpki_sign" and has_cert:
            # The password was right whatever this read finds: a missing certificate (an
            # under-15s card) or a refused read leaves its date unknown, never a card error.
            try:
                self._select(AID_JPKI)
                self.apdu.select_ef(EF_SIGN_CERT)
                not_after = self._cert_prefix_not_after(None)
            except (FileNotFoundOnCard, SecurityStatusError):
                not_after = None          # the date stays unknown; the session journals the check (pin_checked)
        return self._learn(PinCheck(pin_id, ok=True, tries_left=counter.tries_left, locked=False,
                                    signature_not_after=None if not_after == NO_EXPIRY else not_after,
                                    signature_no_expiry=not_after == NO_EXPIRY))

    def _learn(self, check: PinCheck) -> PinCheck:
        """The card's own status learns the check too: a later preflight sees the new counter."""
        if self.status is not None:
            self.status = self.status.with_pin_check(check)
        return check

    # -- licence -------------------------------------------------------------
    @_bounded
    def read_licence(self, pin: Pin | None) -> LicenceData:
        """The licence after one VERIFY.  ``pin`` is None only when no PIN is set."""
        try:
            return self._read_licence(pin)
        finally:
            if isinstance(pin, Pin):
                pin.wipe()           # on every path, including failures before the VERIFY

    def _read_licence(self, pin: Pin | None) -> LicenceData:
        status = self.status or self.read_status()
        if status.card_type == MYNA_LICENCE:
            return self._read_myna_licence(pin)
        if status.card_type == IC_LICENCE:
            return self._read_ic_licence(pin)
        if pin is not None:
            pin.wipe()
        if status.card_type == MYNA:
            raise NoLicenceError("this My Number Card carries no licence data")
        raise UnsupportedCardError("not a supported card")

    def _licence_pin(self, pin: Pin | None, pin_id: str) -> Pin:
        if self._licence_pin_set is False:
            if pin is not None:
                pin.wipe()
            return Pin.no_pin_set() if pin_id == "licence" else _ic_no_pin(pin_id)
        if pin is None:
            if self.read_counter(pin_id).locked:
                raise PinLockedError("PIN is locked", pin_id=pin_id)
            raise PinFormatError("a PIN is needed", pin_id=pin_id)
        return pin

    def _read_myna_licence(self, pin: Pin | None) -> LicenceData:
        self._select(AID_LICENCE)
        if self._licence_pin_set is None:
            self._read_licence_pin_set()
        self._verify("licence", self._licence_pin(pin, "licence"))
        self.apdu.select_ef(EF_LICENCE_WEF02)
        raw = self.apdu.read_binary(_stream_total("myna"), limit=MAX_WEF02_BYTES)
        return licence_tags.decode_myna_licence(decode_licence_stream(raw, "myna"))

    def _read_ic_licence(self, pin: Pin | None) -> LicenceData:
        self._select(b"MF")
        self._verify("ic_pin1", self._licence_pin(pin, "ic_pin1"))
        self.apdu.select_aid(AID_IC_DF1)
        self.apdu.select_ef(EF_IC_MATTERS)
        raw = self.apdu.read_binary(_stream_total("ic"), limit=MAX_IC_MATTERS_BYTES)
        return licence_tags.decode_ic_licence(decode_licence_stream(raw, "ic"))

    # -- JPKI ------------------------------------------------------------------
    @contextmanager
    def jpki_key(self, key: str, pin: Pin) -> Iterator["JpkiKey"]:
        """VERIFY once for ``key`` ("auth" or "sign"); the block may read the
        certificate and sign exactly once."""
        try:
            if key not in ("auth", "sign"):
                raise ForbiddenOperation("key must be 'auth' or 'sign'")
            pin_id = "jpki_auth" if key == "auth" else "jpki_sign"
            with self.apdu.operation(self.deadline):
                self._select(AID_JPKI)
                self._verify(pin_id, pin)
        finally:
            if isinstance(pin, Pin):
                pin.wipe()
        handle = JpkiKey(self, key)
        try:
            yield handle
        finally:
            handle._spent = True

    def jpki_sign(self, key: str, pin: Pin, message: bytes) -> bytes:
        """One VERIFY, one signature over SHA-256(message)."""
        with self.jpki_key(key, pin) as k:
            return k.sign(message)


class JpkiKey:
    """A JPKI key unlocked by one VERIFY; signs once."""

    def __init__(self, session: CardSession, key: str):
        self._session = session
        self.key = key
        self._spent = False
        self._signed = False

    def _check(self) -> None:
        if self._spent:
            raise ForbiddenOperation("this VERIFY has been used; ask the resident again")

    def certificate(self) -> bytes:
        """The key's certificate; the signature one is readable only now."""
        self._check()
        s = self._session
        with s.apdu.operation(s.deadline):
            s._select(AID_JPKI)
            s.apdu.select_ef(EF_AUTH_CERT if self.key == "auth" else EF_SIGN_CERT)
            return s.apdu.read_binary(der_total_length, limit=MAX_CERT_BYTES)

    def sign_digest_info(self, digest_info: bytes) -> bytes:
        self._check()
        if self._signed:
            raise ForbiddenOperation("one signature per PIN entry")
        self._signed = True
        s = self._session
        with s.apdu.operation(s.deadline):
            s._select(AID_JPKI)
            s.apdu.select_ef(EF_AUTH_KEY if self.key == "auth" else EF_SIGN_KEY)
            resp = s.apdu.send(0x80, 0x2A, 0x00, 0x80, digest_info, 256)
        s.apdu.check(resp, "COMPUTE DIGITAL SIGNATURE")
        if len(resp.data) != 256:
            raise CardProtocolError("signature is not 256 bytes")
        return resp.data

    def sign(self, message: bytes) -> bytes:
        return self.sign_digest_info(digest_info_sha256(message))


def _ic_no_pin(pin_id: str) -> Pin:
    p = Pin.no_pin_set()
    p.pin_id = pin_id
    return p
