"""Who may do what (SYSTEM.md "Who may do what", invariant I8), on the services
themselves (the gateway is not a trust boundary): every endpoint is called as
nobody, customer A, customer B, the admins of centers 1 and 2, the
super-admin, a service, and with an expired and a forged token, and must
answer the status of the table below; each refused write must change
nothing (every resource and list is compared before and after). Tokens are
minted here with the standard library (hc.mint), which also checks the
services' HS256 format independently of the C code; a few come from the
`healthcenter token` command. docs/security.md has the rules."""

import subprocess

import pytest

import hc
from hc import wait_until

PHONE_A = "010-1111-2222"
PHONE_B = "010-3333-4444"

WHO = {
    "none": None,
    "custA": hc.customer_token(PHONE_A),
    "custB": hc.customer_token(PHONE_B),
    "admin1": hc.admin_token(centers=(1,), user="admin1"),
    "admin2": hc.admin_token(centers=(2,), user="admin2"),
    "super": hc.superadmin_token(),
    "service": hc.service_token("reservation"),
    "expired": hc.customer_token(PHONE_A, ttl=-60),
    "forged": hc.mint("superadmin", "root", secret="not-the-secret-0123456789abcdef0123456"),
}
ORDER = ("none", "custA", "custB", "admin1", "admin2", "super", "service", "expired", "forged")


def row(*statuses):
    """The expected status for each of ORDER, in that order."""
    assert len(statuses) == len(ORDER)
    return dict(zip(ORDER, statuses))


# Reads of customer A's booking (center 1). Another's record answers 404.
OWN_A = row(401, 200, 404, 200, 404, 200, 200, 401, 401)
PUBLIC = row(200, 200, 200, 200, 200, 200, 200, 401, 401)
OPS = row(401, 403, 403, 403, 403, 200, 200, 401, 401)
ANY_TOKEN = row(401, 200, 200, 200, 200, 200, 200, 401, 401)


@pytest.fixture(scope="module")
def world(tmp_path_factory, hc_bin):
    """The four services (no gateway: callers reach them directly) with one
    booking of customer A at center 1 and one of customer B at center 2,
    their events all applied."""
    s = hc.System(tmp_path_factory.mktemp("authz"), hc_bin)
    try:
        s.start_services()
        w = {"s": s, "date": hc.checkup_date(9)}
        for key, phone, center in (("A", PHONE_A, 1), ("B", PHONE_B, 2)):
            r = s.order.as_customer(phone).post("/orders", hc.booking(
                phone=phone, centerId=center, checkupDate=w["date"]))
            assert r.status == 201, r
            oid = r.json["id"]
            wait_until(lambda: (s.order.get("/orders/%d" % oid).json or {}).get("status")
                       == "REQUESTED", what="order %d REQUESTED" % oid)
            o = s.order.get("/orders/%d" % oid).json
            w["order" + key] = oid
            w["payment" + key] = o["paymentId"]
            w["reservation" + key] = o["reservationId"]
        s.wait_idle()
        # The SMS sender works on its own: wait until it is done, so that the
        # snapshots below see only what a request changes.
        wait_until(lambda: all(n["deliveryStatus"] == "SENT" for n in s.notification.items(
            "/notifications?size=100", "notifications")), what="every SMS sent")
        for key in "AB":
            n = s.notification.items("/notifications?orderId=%d" % w["order" + key],
                                     "notifications")
            assert n, "no SMS for order %d" % w["order" + key]
            w["notification" + key] = n[0]["id"]
        yield w
    finally:
        s.stop_all()


def call(w, who, method, path, body=None):
    svc = w["s"]
    base = {"order": svc.order, "payment": svc.payment, "reservation": svc.reservation,
            "notification": svc.notification}
    return base[service_of(path)].as_token(WHO[who]).request(
        method, path, body=body, headers=hc.bearer(WHO[who]))


def service_of(path):
    head = path.split("/")[1].split("?")[0]
    return {"orders": "order", "packages": "order", "paymentHistories": "payment",
            "reservations": "reservation", "cancellations": "reservation",
            "centers": "reservation", "mypages": "notification",
            "notifications": "notification", "metrics": "order"}[head]


def snapshot(w):
    """Everything a refused request could have changed, read as the
    super-admin: both bookings in every service, the lists, the slots."""
    s, out = w["s"], {}
    for key in "AB":
        for path in ("/orders/%d" % w["order" + key],
                     "/paymentHistories/%d" % w["payment" + key],
                     "/reservations/%d" % w["reservation" + key],
                     "/mypages/%d" % w["order" + key],
                     "/notifications/%d" % w["notification" + key]):
            r = call(w, "super", "GET", path)
            out[path] = (r.status, r.json)
    for path in ("/orders?size=100", "/paymentHistories?size=100", "/reservations?size=100",
                 "/cancellations?size=100", "/mypages?size=100", "/notifications?size=100",
                 "/centers/1/slots?from=%s&to=%s" % (w["date"], w["date"]),
                 "/centers/2/slots?from=%s&to=%s" % (w["date"], w["date"])):
        r = call(w, "super", "GET", path)
        assert r.status == 200, r
        out[path] = r.json
    return out


def reads(w):
    """(method, path, expected) of every read, on A's booking."""
    a, ra, pa, na = w["orderA"], w["reservationA"], w["paymentA"], w["notificationA"]
    return [
        ("GET", "/orders/%d" % a, OWN_A),
        ("GET", "/paymentHistories/%d" % pa, OWN_A),
        ("GET", "/reservations/%d" % ra, OWN_A),
        ("GET", "/mypages/%d" % a, OWN_A),
        ("GET", "/mypages/search/findByOrderId?orderId=%d" % a, OWN_A),
        ("GET", "/notifications/%d" % na, OWN_A),
        ("GET", "/orders", ANY_TOKEN),
        ("GET", "/paymentHistories", ANY_TOKEN),
        ("GET", "/reservations", ANY_TOKEN),
        ("GET", "/cancellations", ANY_TOKEN),
        ("GET", "/mypages", ANY_TOKEN),
        ("GET", "/notifications", ANY_TOKEN),
        ("GET", "/packages", PUBLIC),
        ("GET", "/packages/basic", PUBLIC),
        ("GET", "/centers", PUBLIC),
        ("GET", "/centers/1", PUBLIC),
        ("GET", "/centers/1/slots", PUBLIC),
        ("GET", "/centers/1/slots/%s" % w["date"], PUBLIC),
        ("GET", "/metrics", OPS),
    ]


def writes(w):
    """(method, path, body, expected) of every write, on A's booking: each
    is refused for everyone in its row (none of them may succeed here)."""
    a, ra, pa = w["orderA"], w["reservationA"], w["paymentA"]
    refused_to_all = row(401, 403, 403, 403, 403, 403, 403, 401, 401)
    payment_write = row(401, 403, 403, 403, 403, None, None, 401, 401)
    staff_act = row(401, 403, 404, None, 404, None, 403, 401, 401)
    return [
        # A customer books for its own phone only; staff other than the
        # super-admin and services do not book.
        ("POST", "/orders", hc.booking(phone=PHONE_A, checkupDate=w["date"]),
         row(401, None, 403, 403, 403, None, 403, 401, 401)),
        ("DELETE", "/orders/%d" % a, None, row(401, None, 404, 403, 404, None, None, 401, 401)),
        ("PATCH", "/orders/%d" % a, {"status": "CANCELED"},
         row(401, None, 404, 403, 404, None, None, 401, 401)),
        # order's decisions come from reservation's signed call only
        ("POST", "/orders/%d/status" % a, {"status": "CONFIRMED"}, refused_to_all),
        # a charge is order's signed call only, even for the super-admin
        ("POST", "/paymentHistories", {"orderId": a, "amount": 1, "payMethod": "cash"},
         refused_to_all),
        ("POST", "/paymentHistories/%d/cancel" % pa, None, payment_write),
        ("PATCH", "/paymentHistories/%d" % pa, {"status": "CANCELED"}, payment_write),
        ("POST", "/reservations/%d/confirm" % ra, None, staff_act),
        ("POST", "/reservations/%d/reject" % ra, {"reason": "no"}, staff_act),
        ("PATCH", "/reservations/%d" % ra, {"status": "CONFIRMED"}, staff_act),
        ("POST", "/reservations", {"orderId": a, "status": "CONFIRMED"}, staff_act),
        ("PUT", "/centers/1/slots/%s" % w["date"], {"capacity": 5},
         row(401, 403, 403, None, 403, None, 403, 401, 401)),
    ]


def test_every_read_answers_by_role(world):
    failures = []
    for method, path, expected in reads(world):
        for who in ORDER:
            r = call(world, who, method, path)
            if r.status != expected[who]:
                failures.append("%s %s as %s: %d, expected %d: %r"
                                % (method, path, who, r.status, expected[who], r))
            elif r.status == 401:
                assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), r.headers
                assert r.json["error"] in ("unauthorized", "invalid_token"), r
    assert not failures, "\n".join(failures)


def test_every_refused_write_changes_nothing(world):
    failures = []
    for method, path, body, expected in writes(world):
        before = snapshot(world)
        for who in ORDER:
            if expected[who] is None:
                continue  # allowed: tested below, where a change is expected
            r = call(world, who, method, path, body)
            if r.status != expected[who]:
                failures.append("%s %s as %s: %d, expected %d: %r"
                                % (method, path, who, r.status, expected[who], r))
        after = snapshot(world)
        if after != before:
            changed = [k for k in before if before[k] != after.get(k)]
            failures.append("%s %s: refused, but changed %s" % (method, path, changed))
    assert not failures, "\n".join(failures)


def ids(w, who, path, collection, id_key="id"):
    r = call(w, who, "GET", path)
    assert r.status == 200, (who, path, r)
    return sorted(x[id_key] for x in r.json["_embedded"][collection])


def test_lists_hold_only_the_callers_own(world):
    a, b = world["orderA"], world["orderB"]
    lists = [("/orders", "orders", "id"), ("/mypages", "mypages", "orderId"),
             ("/paymentHistories", "paymentHistories", "orderId"),
             ("/reservations", "reservations", "orderId"),
             ("/notifications", "notifications", "orderId")]
    for path, coll, key in lists:
        seen = {who: set(ids(world, who, path + "?size=100", coll, key))
                for who in ("custA", "custB", "admin1", "admin2", "super", "service")}
        assert seen["custA"] == {a} and seen["custB"] == {b}, (path, seen)
        assert seen["admin1"] == {a} and seen["admin2"] == {b}, (path, seen)
        assert {a, b} <= seen["super"] and {a, b} <= seen["service"], (path, seen)
        # the page's total counts only what the caller may see
        r = call(world, "custA", "GET", path + "?size=100")
        assert r.json["page"]["totalElements"] == len(r.json["_embedded"][coll]), (path, r)


def test_phone_filter_reveals_nothing_of_another_phone(world):
    """A customer asking ?phone= of another phone gets an empty page, the
    same as for a phone without bookings; staff get what they may see."""
    for path, coll in (("/orders?phone=%s", "orders"), ("/mypages?phone=%s", "mypages")):
        assert ids(world, "custA", path % PHONE_B, coll) == []
        assert ids(world, "custA", path % "010-9999-0000", coll) == []
        assert ids(world, "custA", path % PHONE_A, coll) == [world["orderA"]]
        assert ids(world, "super", path % PHONE_B, coll) == [world["orderB"]]
        assert ids(world, "admin1", path % PHONE_B, coll) == []  # center 2's


def test_anothers_id_looks_like_no_id(world):
    """404 for another's record is the 404 for no record at all: existence is
    not confirmed, not even by the message."""
    for path in ("/orders/%d", "/mypages/%d"):
        theirs = call(world, "custB", "GET", path % world["orderA"])
        none = call(world, "custB", "GET", path % 999999)
        assert (theirs.status, theirs.json) == (none.status, none.json) == (404, none.json)
    theirs = call(world, "custB", "DELETE", "/orders/%d" % world["orderA"])
    none = call(world, "custB", "DELETE", "/orders/999999")
    assert (theirs.status, theirs.json) == (none.status, none.json)


def test_tampered_tokens_are_refused(world):
    """A token altered in any way, or unsigned, answers 401 everywhere."""
    good = hc.customer_token(PHONE_A)
    head, body, sig = good.split(".")
    admin_body = hc.superadmin_token().split(".")[1]
    bad = [
        "%s.%s.%s" % (head, admin_body, sig),                     # claims swapped
        hc.mint("customer", "01011112222", alg="none").rsplit(".", 1)[0] + ".",
        hc.mint("customer", "01011112222", iss="someone-else"),
        hc.mint("customer", "not-a-phone"),
        hc.mint("janitor", "01011112222"),
        good[:-2] + ("AA" if not good.endswith("AA") else "BB"),
        "garbage",
    ]
    for token in bad:
        for path in ("/orders/%d" % world["orderA"], "/packages"):
            r = world["s"].order.as_token(token).get(path)
            assert r.status == 401, (token, path, r)
    r = world["s"].order.request("GET", "/orders", headers={"Authorization": "Basic dTpw"})
    assert r.status == 401, r


def test_healthcenter_token_command_tokens(world):
    """Tokens from `healthcenter token` (docs/accounts.md) work on the
    services: a customer's for its own orders, a service's for /metrics."""
    s = world["s"]

    def token(*args):
        r = subprocess.run([s.bin, "token"] + list(args), env=s.env, capture_output=True,
                           text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout.strip()

    cust = s.order.as_token(token("--phone", PHONE_A))
    assert cust.get("/orders/%d" % world["orderA"]).status == 200
    assert cust.get("/orders/%d" % world["orderB"]).status == 404
    prom = s.order.as_token(token("--service", "prometheus"))
    assert prom.get("/metrics").status == 200
    assert cust.get("/metrics").status == 403


def test_allowed_actions_change_what_they_should(make_system):
    """The other side of the table: the customer books and cancels its own,
    the center's admin confirms and sets capacity, the super-admin books for
    anyone (phone support) and refunds; services keep calling each other."""
    s = make_system()
    s.start_services()
    d = hc.checkup_date(10)
    cust_a, cust_b = s.order.as_customer(PHONE_A), s.order.as_customer(PHONE_B)
    r = cust_a.post("/orders", hc.booking(phone=PHONE_A, checkupDate=d))
    assert r.status == 201, r
    first = r.json["id"]
    r = s.order.as_superadmin().post("/orders", hc.booking(phone=PHONE_B, checkupDate=d))
    assert r.status == 201, r
    second = r.json["id"]
    wait_until(lambda: all((s.order.get("/orders/%d" % o).json or {}).get("status")
                           == "REQUESTED" for o in (first, second)), what="both REQUESTED")
    rid = s.order.get("/orders/%d" % first).json["reservationId"]
    admin1, admin2 = s.reservation.as_admin((1,)), s.reservation.as_admin((2,))
    assert admin2.post("/reservations/%d/confirm" % rid).status == 404
    r = admin1.post("/reservations/%d/confirm" % rid)
    assert r.status == 200 and r.json["status"] == "CONFIRMED", r
    r = admin1.put("/centers/1/slots/%s" % d, {"capacity": 7})
    assert r.status == 200 and r.json["capacity"] == 7, r
    assert cust_b.delete("/orders/%d" % first).status == 404
    r = cust_a.delete("/orders/%d" % first)
    assert r.status == 200 and r.json["status"] == "CANCELED", r
    # the super-admin refunds through payment (payment asks order, with its
    # own service token, to cancel the booking)
    pid = s.order.get("/orders/%d" % second).json["paymentId"]
    r = s.payment.as_superadmin().post("/paymentHistories/%d/cancel" % pid)
    assert r.status == 200 and r.json["status"] == "CANCELED", r
    wait_until(lambda: s.notification.as_customer(PHONE_B).get("/mypages/%d" % second).json
               .get("status") == "CANCELED", what="B's mypage CANCELED")
    # customer A's own view: its orders, payments, reservations, cancellations
    mine = s.reservation.as_customer(PHONE_A)
    wait_until(lambda: [x["orderId"] for x in mine.items("/cancellations", "cancellations")]
               == [first], what="A's cancellation listed for A")
    assert [x["orderId"] for x in mine.items("/reservations", "reservations")] == [first]
    assert [x["orderId"] for x in s.payment.as_customer(PHONE_A).items(
        "/paymentHistories", "paymentHistories")] == [first]


def test_the_gateway_passes_tokens_and_refusals(system):
    """Through the gateway the same rules hold: it routes, the services decide."""
    g = system.gateway
    assert g.anonymous().get("/packages").status == 200
    r = g.anonymous().post("/orders", hc.booking(phone=PHONE_A))
    assert r.status == 401 and r.headers.get("WWW-Authenticate", "").startswith("Bearer"), r
    r = g.as_customer(PHONE_A).post("/orders", hc.booking(phone=PHONE_A))
    assert r.status == 201, r
    assert g.as_customer(PHONE_B).get("/orders/%d" % r.json["id"]).status == 404
    assert g.as_customer(PHONE_A).get("/orders/%d" % r.json["id"]).status == 200
