"""Bad input is answered with a clear JSON error, never stored, never crashes a
process: malformed JSON, wrong types, missing or invalid fields, oversized
bodies, wrong content types, unknown ids and methods."""

import datetime
import json

import pytest

import hc

MAX_BODY = 4096


@pytest.fixture
def system(make_system):
    s = make_system(HC_MAX_BODY_BYTES=str(MAX_BODY))
    s.start_all()
    return s


def clients(system):
    """The order service directly and through the gateway."""
    return [("order", system.order), ("gateway", system.gateway)]


def assert_error(r, status, code=None, codes=None):
    assert r.status == status, r
    assert isinstance(r.json, dict), "error body is not JSON: %r" % r
    assert "json" in (r.headers.get("Content-Type") or ""), r.headers.get("Content-Type")
    if code is not None:
        assert r.json.get("error") == code, r
    if codes is not None:
        assert r.json.get("error") in codes, r
    assert isinstance(r.json.get("error"), str) and r.json["error"], r
    assert isinstance(r.json.get("message"), str) and r.json["message"], r
    assert isinstance(r.json.get("fields"), list), "no fields list (the contract's error shape): %r" % r
    return r.json


def field_names(err):
    fields = err.get("fields")
    assert isinstance(fields, list) and fields, "no fields in %r" % err
    names = set()
    for f in fields:
        assert isinstance(f, dict) and isinstance(f.get("field"), str), fields
        assert isinstance(f.get("message"), str) and f["message"], fields
        names.add(f["field"])
    return names


def assert_nothing_stored(system):
    """Nothing reached any service's storage, and every process still lives."""
    for name in hc.SERVICES:
        assert system.live(name), "%s died" % name
    system.wait_idle()
    for path, coll in (("/orders", "orders"), ("/paymentHistories", "paymentHistories"),
                       ("/reservations", "reservations"), ("/mypages", "mypages"),
                       ("/notifications", "notifications")):
        r = system.gateway.get(path)
        assert r.status == 200, r
        assert hc.page_total(r) == 0, "%s: %r" % (path, r)
        assert (r.json.get("_embedded") or {}).get(coll, []) == [], r


@pytest.mark.parametrize("raw", [
    b'{"name": ',
    b"not json",
    b'{"name": "x",}',
    b'{"name": "x"} trailing',
    b"",
])
def test_malformed_json_is_400(system, raw):
    for where, c in clients(system):
        r = c.post("/orders", raw=raw, content_type="application/json")
        assert_error(r, 400, "malformed_json")
    assert_nothing_stored(system)


@pytest.mark.parametrize("raw", [b"[1, 2]", b'"text"', b"42", b"null", b'{"name": "\xff\xfe"}'])
def test_non_object_or_bad_utf8_is_400(system, raw):
    for where, c in clients(system):
        r = c.post("/orders", raw=raw, content_type="application/json")
        assert_error(r, 400, codes=("malformed_json", "validation_failed"))
    assert_nothing_stored(system)


def test_wrong_types_are_400_with_fields(system):
    for where, c in clients(system):
        r = c.post("/orders", hc.booking(orderType=5, centerId="x"))
        err = assert_error(r, 400, "validation_failed")
        names = field_names(err)
        assert {"orderType", "centerId"} <= names, names
        assert "name" not in names and "phone" not in names, names

        r = c.post("/orders", hc.booking(name=["홍", "길동"], phone=1012345678))
        err = assert_error(r, 400, "validation_failed")
        assert {"name", "phone"} <= field_names(err), err
    assert_nothing_stored(system)


def test_missing_fields_are_named(system):
    for where, c in clients(system):
        err = assert_error(c.post("/orders", {}), 400, "validation_failed")
        names = field_names(err)
        assert {"name", "phone", "orderType", "checkupDate", "cardNo"} <= names, names

        err = assert_error(c.post("/orders", hc.booking(phone=...)), 400, "validation_failed")
        assert field_names(err) == {"phone"}, err

        err = assert_error(c.post("/orders", hc.booking(cardNo=...)), 400, "validation_failed")
        assert field_names(err) == {"cardNo"}, err
    assert_nothing_stored(system)


def _days(n):
    return (hc.today_seoul() + datetime.timedelta(days=n)).isoformat()


@pytest.mark.parametrize("field,value", [
    ("checkupDate", "today"),
    ("checkupDate", "yesterday"),
    ("checkupDate", "beyond_horizon"),
    ("checkupDate", "2026-13-01"),
    ("checkupDate", "next week"),
    ("phone", "02-123-4567"),
    ("phone", "010-12-34"),
    ("cardNo", "4111111111111112"),   # Luhn-invalid
    ("cardNo", "4111"),                # too short
    ("cardNo", "4111-1111-abcd-1111"),
    ("orderType", "deluxe"),
    ("name", ""),
    ("name", "가" * 51),
    ("payMethod", "bitcoin"),
    ("centerId", 0),
    ("centerId", -1),
])
def test_invalid_values_are_400(system, field, value):
    if value == "today":
        value = _days(0)
    elif value == "yesterday":
        value = _days(-1)
    elif value == "beyond_horizon":
        value = _days(91)  # default HC_BOOKING_HORIZON_DAYS is 90
    for where, c in clients(system):
        r = c.post("/orders", hc.booking(**{field: value}))
        err = assert_error(r, 400, "validation_failed")
        assert field in field_names(err), err
    assert_nothing_stored(system)


def test_body_over_limit_is_413(system):
    body = hc.booking(pad="x" * (MAX_BODY + 100))
    raw = json.dumps(body).encode()
    assert len(raw) > MAX_BODY
    for where, c in clients(system):
        r = c.post("/orders", raw=raw, content_type="application/json")
        assert_error(r, 413, "payload_too_large")
    # Far over the limit, too.
    big = b'{"name": "' + b"y" * (1024 * 1024) + b'"}'
    for where, c in clients(system):
        r = c.post("/orders", raw=big, content_type="application/json")
        assert_error(r, 413, "payload_too_large")
    assert_nothing_stored(system)


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded",
                                   "application/xml"])
def test_non_json_content_type_is_415(system, ctype):
    raw = json.dumps(hc.booking()).encode()
    for where, c in clients(system):
        r = c.post("/orders", raw=raw, content_type=ctype)
        assert_error(r, 415, "unsupported_media_type")
    assert_nothing_stored(system)


def test_unknown_ids_are_404_json(system):
    for path in ("/orders/999999", "/paymentHistories/999999", "/reservations/999999",
                 "/mypages/999999"):
        assert_error(system.gateway.get(path), 404, "not_found")
    for name, path in (("order", "/orders/999999"), ("payment", "/paymentHistories/999999"),
                       ("reservation", "/reservations/999999"),
                       ("notification", "/mypages/999999"),
                       ("order", "/no/such/route")):
        assert_error(system.client(name).get(path), 404, "not_found")
    assert_nothing_stored(system)


def test_wrong_method_is_405_json(system):
    assert_error(system.order.put("/orders", hc.booking()), 405, "method_not_allowed")
    assert_nothing_stored(system)


def test_bad_payment_input_is_400(system):
    """The payment service validates its own input too, even from order."""
    raw = b'{"orderId": '
    r = system.payment.post("/paymentHistories", raw=raw, content_type="application/json",
                            headers=system.signed("order", "POST", "/paymentHistories", raw))
    assert_error(r, 400, "malformed_json")
    body = {"orderId": "x", "amount": -5}
    r = system.payment.post("/paymentHistories", body,
                            headers=system.signed("order", "POST", "/paymentHistories", body))
    err = assert_error(r, 400, "validation_failed")
    assert "orderId" in field_names(err), err
    assert_nothing_stored(system)


@pytest.mark.parametrize("query,field", [("page=-1", "page"), ("page=2000000000", "page"),
                                         ("page=x", "page"), ("size=0", "size"),
                                         ("size=abc", "size")])
def test_bad_paging_names_the_field(system, query, field):
    """Regression: page beyond the maximum was reported as a bad `size`."""
    for path in ("/orders", "/paymentHistories", "/reservations", "/mypages", "/notifications"):
        err = assert_error(system.gateway.get("%s?%s" % (path, query)), 400, "validation_failed")
        assert field_names(err) == {field}, (path, query, err)
