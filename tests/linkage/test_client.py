"""The client's retry policy and error mapping, against httpx's MockTransport.

Only the network call is repeated, always with the same request_id; a refusal
is never retried; every failure is its own error class and journald event.
"""

from __future__ import annotations

import json

import httpx
import pytest

from kiosk.config import LinkageSection
from kiosk.errors import ConfigError
from kiosk.linkage.client import GatewayClient
from kiosk.linkage.errors import (GatewayProtocolError, GatewayRefusedError, GatewayServerError,
                                  GatewaySlowError, GatewayUnreachableError, TermsChangedError)
from kiosk.linkage.protocol import b64e

URL = "https://gateway.test"


def scripted(*answers):
    """A client whose transport plays ``answers`` in order (a Response, or an exception to raise)."""
    seen: list[httpx.Request] = []
    queue = list(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        answer = queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    return GatewayClient(URL, retries=2, backoff=0, transport=httpx.MockTransport(handler)), seen


def ok(doc, status=200):
    return httpx.Response(status, json=doc)


def body(req: httpx.Request) -> dict:
    return json.loads(req.content)


def test_transient_network_errors_retry_the_call_with_the_same_request_id():
    c, seen = scripted(httpx.ConnectError("refused"), httpx.ReadError("reset"),
                       ok({"reference": "ML-0000000001"}, 201))
    assert c.submit_application("s1", b"cms") == "ML-0000000001"
    assert len(seen) == 3
    ids = {body(r)["request_id"] for r in seen}
    assert len(ids) == 1 and len(ids.pop()) == 32
    assert {body(r)["cms"] for r in seen} == {b64e(b"cms")}


def test_a_new_call_gets_a_new_request_id():
    c, seen = scripted(ok({"reference": "A"}, 201), ok({"reference": "B"}, 201))
    c.submit_application("s1", b"x")
    c.submit_application("s1", b"x")
    assert body(seen[0])["request_id"] != body(seen[1])["request_id"]


@pytest.mark.parametrize("exc, error, event", [
    (httpx.ConnectError("refused"), GatewayUnreachableError, "linkage_unreachable"),
    (httpx.ReadTimeout("slow"), GatewaySlowError, "linkage_slow"),
    (httpx.ConnectTimeout("slow"), GatewaySlowError, "linkage_slow"),
])
def test_retries_run_out(exc, error, event, records):
    c, seen = scripted(exc, exc, exc)
    with pytest.raises(error) as got:
        c.health()
    assert len(seen) == 3 and got.value.retryable and got.value.code == "gateway_error"
    assert got.value.exit_code == 50
    assert [r["EVENT"] for r in records] == [event]
    assert records[0]["ATTEMPTS"] == "3" and records[0]["ENDPOINT"] == "health"


def test_server_errors_are_retried():
    c, seen = scripted(ok({"error": {"code": "internal"}}, 500), ok({}, 503),
                       ok({"status": "ok"}))
    assert c.health() == {"status": "ok"}
    assert len(seen) == 3
    c, seen = scripted(ok({}, 502), ok({}, 502), ok({}, 500))
    with pytest.raises(GatewayServerError) as got:
        c.health()
    assert got.value.details["status"] == 500 and len(seen) == 3


def test_a_call_may_ask_for_less_but_never_more():
    c, seen = scripted(httpx.ConnectError("refused"), httpx.ConnectError("refused"))
    with pytest.raises(GatewayUnreachableError):
        c.health(timeout=1.0, retries=1)
    assert len(seen) == 2
    assert seen[0].extensions["timeout"]["read"] == 1.0
    c, seen = scripted(*[httpx.ConnectError("refused")] * 3)
    with pytest.raises(GatewayUnreachableError):
        c.health(timeout=60, retries=9)
    assert len(seen) == 3 and seen[0].extensions["timeout"]["read"] == 10.0


def test_no_retries_when_configured_so():
    c, seen = scripted(httpx.ConnectError("refused"))
    c.retries = 0
    with pytest.raises(GatewayUnreachableError):
        c.health()
    assert len(seen) == 1


def test_a_refusal_is_never_retried(records):
    c, seen = scripted(ok({"error": {"code": "bad_signature", "message": "no"}}, 401))
    with pytest.raises(GatewayRefusedError) as got:
        c.submit_auth("s1", b"sig", b"cert")
    assert len(seen) == 1
    assert got.value.details["refusal"] == "bad_signature" and not got.value.retryable
    assert got.value.message_key == "linkage.error.refused"
    assert [r["EVENT"] for r in records] == ["linkage_refused"]
    assert records[0]["REFUSAL"] == "bad_signature"


def test_terms_changed_carries_the_new_terms():
    c, seen = scripted(ok({"error": {"code": "terms_changed"}, "terms": {"version": "v2", "text": "T"}}, 409))
    with pytest.raises(TermsChangedError) as got:
        c.submit_application("s1", b"cms")
    assert got.value.terms == ("v2", "T") and len(seen) == 1
    assert got.value.message_key == "linkage.error.terms_changed"


@pytest.mark.parametrize("answer", [
    httpx.Response(200, text="<html>proxy login</html>"),
    ok({"session": "s", "challenge": b64e(b"short"), "expires_in": 300}, 201),
    ok({"session": "s", "challenge": "%%%", "expires_in": 300}, 201),
])
def test_protocol_violations(answer):
    c, _ = scripted(answer)
    with pytest.raises(GatewayProtocolError):
        c.new_challenge("kiosk-1")


def test_a_replayed_challenge_is_refused_before_any_pin():
    doc = {"session": "s", "challenge": b64e(bytes(32)), "expires_in": 300}
    c, _ = scripted(ok(doc, 201), ok(doc, 201))
    first = c.new_challenge("kiosk-1")
    assert first.value == bytes(32) and first.fresh()
    with pytest.raises(GatewayProtocolError) as got:
        c.new_challenge("kiosk-1")
    assert got.value.details["refusal"] == "challenge_replayed"


def test_from_config():
    assert GatewayClient.from_config(LinkageSection()) is None       # the default
    c = GatewayClient.from_config(LinkageSection(gateway="https://gw.example", timeout=3, retries=1))
    assert (c.url, c.timeout, c.retries) == ("https://gw.example", 3.0, 1)
    c.close()
    with pytest.raises(ConfigError):
        GatewayClient.from_config(LinkageSection(gateway="http://gw.example"))
    with pytest.raises(ConfigError):
        GatewayClient.from_config(LinkageSection(gateway="https://gw.example", ca="/nonexistent.pem"))
