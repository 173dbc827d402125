"""The topics: PINs, licence, renewal, lost card, linkage readiness and hand-off.

``Guide(cfg, lang, today)`` builds the items of each topic from facts that
were already read.  Nothing here spends a PIN try or touches the card.
Where the card cannot know something (a move since the certificate was
issued, whether the resident also holds a conventional licence, whether
they linked Mynaportal), the item is phrased as a condition or a question.
"""

from __future__ import annotations

import datetime as dt

from kiosk.config import Config
from kiosk.guidance.items import Item, counter_tone
from kiosk.i18n import catalog
from kiosk.i18n.dates import shown_date
from kiosk.nfc.model import (IC_LICENCE, MYNA, MYNA_LICENCE, PIN_ORDER, CardStatus, LicenceData, PinCounter,
                             months_before)

# Which office unlocks which counter (leaflet: licence PIN at 試験場・警察署等; J-LIS: card PINs
# at the municipality).
POLICE_PINS = ("licence", "ic_pin1", "ic_pin2")
JPKI_PINS = ("jpki_auth", "jpki_sign")
CARD_PINS = ("jpki_auth", "jpki_sign", "kenhojo", "juki")
# Certificates and the card can be renewed from 3 months before they expire.
RENEW_FROM_MONTHS = 3
# 優良 / 一般 / 違反 / 新規 as the card writes them -> catalogue id.
COLOUR_IDS = {"優良": "excellent", "一般": "general", "違反": "violator", "新規": "new"}
# Licence conditions we translate (the card's Japanese text -> catalogue id); others stay as read.
CONDITION_IDS = {"眼鏡等": "glasses", "補聴器": "hearing_aid", "ＡＴ車に限る": "at_only",
                 "AT車に限る": "at_only", "準中型車はＡＴ車に限る": "junchu_at",
                 "中型車は中型車（８ｔ）に限る": "chugata_8t", "準中型車は準中型車（５ｔ）に限る": "junchu_5t",
                 "大型車はＡＴ車に限る": "ogata_at", "普通車はＡＴ車に限る": "futsu_at"}
# Steps of the official linkage (leaflet, back page) that ask for a PIN.
HANDOFF_PIN_STEPS = {4: "jpki_auth", 7: "jpki_sign"}
HANDOFF_STEPS = 9

TOPICS = ("pin_status", "licence", "renewal", "lost_card", "readiness", "handoff", "linkage_done")


class Guide:
    """The advice for one resident's language, config and (trusted) date."""

    def __init__(self, cfg: Config, lang: str, today: dt.date | None):
        self.cfg, self.lang, self.today = cfg, lang, today
        self.t = catalog("ui", lang)

    # -- building blocks ---------------------------------------------------------
    def item(self, kind: str, key: str, tone: str = "", *, url: str = "", with_previous: bool = False,
             **values: str | int) -> Item:
        return Item(kind, key, self.t(key, **values), url, tone, with_previous)

    def date(self, d: dt.date | None, *, era: bool = False) -> str:
        """The one way a date reaches a resident (screen, slip): CLDR's form for the language.
        ``era``: the card stores this date in a Japanese era (licence dates, card-protocol.md
        §5.4), so Japanese shows it in that era; certificate and card dates are Gregorian.
        A date is never split over two lines (``shown_date``)."""
        if d is None:
            return self.t("fmt.unknown")
        return shown_date(d, self.lang, era=era)

    def pin_name(self, pin_id: str) -> str:
        """The one name of a PIN in this language (the same on screen, slip and in the docs)."""
        return self.t(f"pin.name.{pin_id}")

    def pin_label(self, pin_id: str) -> str:
        """The name with what the PIN is for, so the two 4-digit PINs cannot be confused."""
        return self.t("pin.label", pin_title=self.pin_name(pin_id), use=self.t(f"pin.use.{pin_id}"))

    def tries(self, c: PinCounter | None) -> str:
        if c is None:
            return self.t("fmt.unknown")
        if c.locked:
            return self.t("pin.locked")
        if c.tries_left is None:
            return self.t("pin.unknown_tries")
        return self.t("pin.tries_left", left=c.tries_left, max=c.max_tries)

    def office(self, which: str) -> str:
        """The configured office in this language; see docs/config.md for the fallback."""
        o = getattr(self.cfg.offices, which)
        text = o.for_language(self.lang)
        if text is None:            # this language has no office data: the generic term, then the Japanese
            generic = self.t(f"office.{which}")
            named = self.t("office.hours", office_name=o.name, hours=o.hours) if o.hours else o.name
            return self.t("office.fallback", generic=generic, japanese=named) if o.name else generic
        out = self.t("office.hours", office_name=text.name, hours=text.hours) if text.hours else text.name
        if text.address:
            out += self.t("office.address", office_address=text.address)
        if text.phone:
            out += self.t("office.phone", phone=text.phone)
        return out

    def contact(self, which: str) -> Item:
        return self.item("contact", f"guide.where.{which}", office=self.office(which))

    def clock_unknown(self) -> Item:
        return self.item("statement", "guide.clock_unknown", "warn")

    # -- dates of the card and its certificates ----------------------------------------
    def card_dates(self, st: CardStatus) -> list[Item]:
        """Certificate and card expiry, and (with a trusted date) what follows from them."""
        out: list[Item] = []
        dated = [(what, day) for what, day in (("cert", st.auth_cert_not_after), ("card", st.card_expiry))
                 if day is not None]
        if st.card_type == IC_LICENCE or not dated:
            return out
        act = False
        for what, day in dated:
            if self.today is None:
                out.append(self.item("statement", f"guide.dates.{what}", date=self.date(day)))
            elif day < self.today:
                out.append(self.item("warning", f"guide.dates.{what}_expired", "danger", date=self.date(day)))
                act = True
            elif self.today >= months_before(day, RENEW_FROM_MONTHS):
                out.append(self.item("warning", f"guide.dates.{what}_soon", "warn", date=self.date(day)))
                act = True
            else:
                out.append(self.item("statement", f"guide.dates.{what}", date=self.date(day)))
        if self.today is None:
            out.append(self.clock_unknown())
        elif act:
            out.append(self.contact("municipality"))
        if st.sign_cert_present is False:
            out.append(self.item("statement", "guide.dates.no_sign_cert", "warn"))
        elif st.sign_cert_present:
            out.append(self.item("statement", "guide.dates.sign_cert"))
            if st.sign_cert_not_after is not None or st.sign_cert_no_expiry:    # known after a PIN check
                out += [i for i in self.sign_cert_expiry(st) if i.key != "guide.clock_unknown"]
        return out

    # -- topics ---------------------------------------------------------------------------
    def pin_status(self, st: CardStatus) -> list[Item]:
        out = [self.item("heading", "guide.pins.heading"),
               self.item("statement", "guide.pins.checked", "ok")]
        for pin_id in PIN_ORDER:
            c = st.pins.get(pin_id)
            if c is None:
                continue
            out.append(self.item("statement", "guide.pins.row", counter_tone(c), label=self.pin_label(pin_id),
                                 state=self.tries(c)))
            if c.last_try:
                out.append(self.item("warning", "guide.pins.last_try", "danger", pin_name=self.pin_name(pin_id)))
        if st.licence_pin_set is False:
            out.append(self.item("statement", "guide.pins.licence_not_set"))
        if "licence" in st.pins:
            out.append(self.item("statement", "guide.pins.licence_rule"))
        locked = st.locked_pins
        if not locked:
            out.append(self.item("statement", "guide.pins.none_locked", "ok"))
        else:
            out += self.unlock(locked)
        out += self.card_dates(st)
        return out

    def unlock(self, locked: list[str]) -> list[Item]:
        """Where and how each locked PIN is unlocked."""
        out = [self.item("heading", "guide.unlock.heading")]
        if "licence" in locked:
            out.append(self.item("step", "guide.unlock.licence", "danger", pin_name=self.pin_name("licence")))
            out.append(self.contact("police"))
        if any(p in ("ic_pin1", "ic_pin2") for p in locked):
            out.append(self.item("step", "guide.unlock.ic_licence", "danger"))
            out.append(self.contact("police"))
        card = [p for p in CARD_PINS if p in locked]
        if card:
            names = self.t("fmt.list_sep").join(self.pin_name(p) for p in card)
            out.append(self.item("step", "guide.unlock.card", "danger", pin_names=names))
            out.append(self.contact("municipality"))
        jpki = [p for p in JPKI_PINS if p in locked]
        if len(jpki) == 1:           # the reset app needs the other JPKI PIN
            other = "jpki_sign" if jpki[0] == "jpki_auth" else "jpki_auth"
            out.append(self.item("statement", "guide.unlock.jpki_reset", pin_name=self.pin_name(jpki[0]),
                                 other=self.pin_name(other)))
        if "kenhojo" in locked:
            out.append(self.item("statement", "guide.unlock.kenhojo_counter_only"))
        return out

    def licence(self, lic: LicenceData, st: CardStatus | None = None) -> list[Item]:
        out = [self.item("heading", "guide.licence.heading")]
        out.append(self.item("statement", "guide.licence.expiry", date=self.date(lic.expiry, era=True)))
        w = lic.renewal_window
        if w and lic.expiry is not None:
            out.append(self.item("statement", "guide.licence.window", start=self.date(w[0], era=True),
                                 end=self.date(w[1], era=True)))
            if self.today is None:
                out.append(self.clock_unknown())
            elif lic.expiry < self.today:
                out.append(self.item("warning", "guide.licence.expired", "danger"))
            elif lic.in_renewal_window(self.today):
                out.append(self.item("warning", "guide.licence.in_window", "warn"))
            else:
                out.append(self.item("statement", "guide.licence.before_window"))
        if lic.colour_class:
            raw = lic.colour_class.strip()
            cid = COLOUR_IDS.get(raw)
            colour = self.t(f"colour.{cid}") if cid else raw
            out.append(self.item("statement", "guide.licence.colour", colour=colour))
        classes = self.t("fmt.list_sep").join(
            self.t("fmt.term", term=self.t(f"class.{c.code}"), ja=c.name) if self.lang != "ja" else c.name
            for c in lic.held_classes) or self.t("fmt.none")
        out.append(self.item("statement", "guide.licence.classes", classes=classes))
        conditions = self.t("fmt.list_sep").join(self.condition(c) for c in lic.conditions) or self.t("fmt.none")
        out.append(self.item("statement", "guide.licence.conditions", conditions=conditions))
        # The online lecture is a condition, never a fact about this card (leaflet front page).
        out.append(self.item("statement", "guide.licence.online_lecture"))
        if lic.source == IC_LICENCE:
            out.append(self.item("statement", "guide.licence.ic_card"))
        out.append(self.item("statement", "guide.licence.renew_where"))
        out.append(self.contact("police"))
        return out

    def condition(self, text: str) -> str:
        cid = CONDITION_IDS.get(text.strip())
        if cid is None or self.lang == "ja":
            return text
        return self.t("fmt.term", term=self.t(f"condition.{cid}"), ja=text)

    def renewal(self, st: CardStatus) -> list[Item]:
        out = [self.item("heading", "guide.renewal.heading")]
        out += self.card_dates(st)
        if st.card_type == MYNA_LICENCE or st.licence_present:
            out += [self.item("heading", "guide.renewal.keep_heading"),
                    self.item("step", "guide.renewal.cond_online"),
                    self.item("step", "guide.renewal.cond_sign"),
                    self.item("statement", "guide.renewal.online_site"),
                    self.item("warning", "guide.renewal.otherwise", "warn"),
                    self.contact("police")]
            if st.sign_cert_present is False:
                out.append(self.item("statement", "guide.renewal.no_sign_cert_now", "warn"))
        else:
            out.append(self.item("statement", "guide.renewal.plain"))
        out.append(self.item("statement", "guide.renewal.details"))
        out.append(self.item("link", "guide.link.card_site", url=self.cfg.receipt.qr_card_site))
        return out

    def lost_card(self) -> list[Item]:
        r = self.cfg.receipt
        out = [self.item("heading", "guide.lost.heading"),
               self.item("step", "guide.lost.suspend_step", "danger"),
               self.item("statement", "guide.lost.suspend")]
        if r.hotline:
            out.append(self.item("contact", "guide.lost.hotline", "danger", number=r.hotline))
        if r.hotline_foreign:
            out.append(self.item("contact", "guide.lost.hotline_foreign", number=r.hotline_foreign))
        out += [self.item("step", "guide.lost.reissue_step"),
                self.item("statement", "guide.lost.reissue"),
                self.contact("municipality"),
                self.item("heading", "guide.lost.keep_heading"),
                self.item("statement", "guide.lost.keep"),
                self.contact("police"),
                self.item("heading", "guide.lost.switch_heading"),
                self.item("statement", "guide.lost.switch"),
                self.item("link", "guide.link.card_site", url=r.qr_card_site)]
        return out

    def readiness(self, st: CardStatus) -> list[Item]:
        """Will the linkage work on the resident's phone?  From facts already read: no PIN try."""
        out = [self.item("heading", "guide.ready.heading"),
               self.item("statement", "guide.ready.no_try", "ok")]
        problems = 0

        def bad(key: str, where: str | None, tone: str = "danger", **values: str | int) -> None:
            nonlocal problems
            problems += 1
            out.append(Item("warning", key, self.t(key, **values), tone=tone))
            if where:
                out.append(self.contact(where))

        if st.card_type not in (MYNA, MYNA_LICENCE):
            bad("guide.ready.not_my_number_card", None)
            return out + [self.item("statement", "guide.ready.problems", "danger", n=problems)]
        if st.licence_present:
            out.append(self.item("statement", "guide.ready.licence_ok", "ok"))
        else:
            bad("guide.ready.no_licence", "police")
        if st.sign_cert_present is False:
            bad("guide.ready.no_sign_cert", "municipality")
        elif st.sign_cert_present:
            out.append(self.item("statement", "guide.ready.sign_cert_ok", "ok"))
        day = st.auth_cert_not_after
        if day is not None:
            if self.today is None:
                out.append(self.item("statement", "guide.ready.cert_until", date=self.date(day)))
                out.append(self.clock_unknown())
            elif day < self.today:
                bad("guide.ready.cert_expired", "municipality", date=self.date(day))
            else:
                out.append(self.item("statement", "guide.ready.cert_until", "ok", date=self.date(day)))
        if st.sign_cert_present:
            found = self.sign_cert_expiry(st)
            problems += sum(1 for i in found if i.kind == "warning" and i.tone == "danger")
            out += found
        for pin_id in JPKI_PINS:
            c = st.pins.get(pin_id)
            if c is None:
                continue
            if c.locked:
                bad("guide.ready.pin_locked", "municipality", pin_name=self.pin_label(pin_id))
            elif c.last_try:
                out.append(self.item("warning", "guide.ready.pin_last_try", "warn", pin_name=self.pin_label(pin_id)))
            else:
                out.append(self.item("statement", "guide.ready.pin_ok", "ok", pin_name=self.pin_label(pin_id),
                                     state=self.tries(c)))
        if st.card_expiry is not None and self.today is not None and st.card_expiry < self.today:
            bad("guide.ready.card_expired", "municipality", date=self.date(st.card_expiry))
        out.append(self.item("statement", "guide.ready.problems" if problems else "guide.ready.all_ok",
                             "danger" if problems else "ok", n=problems))
        # What the card cannot tell: ask, and say what follows from each answer.
        out += [self.item("heading", "guide.ready.questions"),
                self.item("statement", "guide.ready.q_moved"),
                self.item("statement", "guide.ready.q_moved_yes", "warn"),
                self.item("statement", "guide.ready.q_new_cert"),
                self.item("statement", "guide.ready.q_new_cert_yes"),
                self.item("statement", "guide.ready.q_pins"),
                self.item("statement", "guide.ready.q_pins_no", "warn"),
                self.item("statement", "guide.ready.q_both_licences")]
        return out

    def sign_cert_expiry(self, st: CardStatus) -> list[Item]:
        """The signature certificate's expiry: known only after a signature-password check the
        resident confirmed (JPKI EF 0001 is unreadable before it); until then, said conditionally."""
        day = st.sign_cert_not_after
        if st.sign_cert_no_expiry:
            return [self.item("statement", "guide.sign_cert.no_expiry", "ok")]
        if day is None:
            return [self.item("statement", "guide.sign_cert.unknown", "warn")]
        if self.today is None:              # the clock warning once, after the auth certificate's date if shown
            said = st.auth_cert_not_after is not None
            return [self.item("statement", "guide.sign_cert.until", date=self.date(day))] + \
                ([] if said else [self.clock_unknown()])
        if day < self.today:
            return [self.item("warning", "guide.sign_cert.expired", "danger", date=self.date(day)),
                    self.contact("municipality")]
        return [self.item("statement", "guide.sign_cert.until", "ok", date=self.date(day))]

    def handoff(self, st: CardStatus | None) -> list[Item]:
        """The official linkage on the resident's phone: the nine steps of the leaflet's back page."""
        out = [self.item("heading", "guide.handoff.heading"),
               self.item("statement", "guide.handoff.device"),
               self.item("statement", "guide.handoff.benefits"),
               self.item("statement", "guide.handoff.benefit_onestop")]
        for n in range(1, HANDOFF_STEPS + 1):
            out.append(self.item("step", f"guide.handoff.step{n}"))
            pin_id = HANDOFF_PIN_STEPS.get(n)
            if pin_id:
                c = st.pins.get(pin_id) if st else None
                out.append(self.item("statement", f"guide.handoff.step{n}_pin", "warn", with_previous=True,
                                     pin_name=self.pin_label(pin_id), state=self.tries(c)))
        out += [self.item("heading", "guide.handoff.fail_heading"),
                self.item("statement", "guide.handoff.fail_pin"),
                self.item("statement", "guide.handoff.fail_read"),
                self.item("statement", "guide.handoff.fail_cert"),
                self.contact("municipality"),
                self.item("link", "guide.link.mynaportal", url=self.cfg.receipt.qr_mynaportal)]
        return out

    def linkage_done(self) -> list[Item]:
        return [self.item("heading", "guide.done.heading"),
                self.item("statement", "guide.done.body", "ok"),
                self.item("statement", "guide.handoff.benefits"),
                self.item("link", "guide.link.mynaportal", url=self.cfg.receipt.qr_mynaportal)]


def topic_items(topic: str, cfg: Config, lang: str, today: dt.date | None, *,
                status: CardStatus | None = None, licence: LicenceData | None = None) -> list[Item]:
    """The items of ``topic`` for this card: what both the screen and the slip show."""
    g = Guide(cfg, lang, today)
    if topic == "lost_card":
        return g.lost_card()
    if topic == "linkage_done":
        return g.linkage_done()
    if topic == "licence":
        return g.licence(licence, status) if licence is not None else []
    if status is None:
        return []
    if topic == "pin_status":
        return g.pin_status(status)
    if topic == "renewal":
        return g.renewal(status)
    if topic == "readiness":
        return g.readiness(status)
    if topic == "handoff":
        return g.readiness(status) + g.handoff(status)
    raise ValueError(f"unknown guidance topic {topic!r}; one of {', '.join(TOPICS)}")
