"""Sign-in on the real binaries (docs/accounts.md): a customer's SMS code read
from the log provider's sms.log and exchanged for a token; brute force locks
a code, a used or expired code is refused, code requests are limited per
phone and per client; admins sign in with a password (the bootstrap
super-admin from HC_ADMIN_PASSWORD or the generated admin.password); the
`healthcenter admin` and `healthcenter token` commands; bad input answers a
JSON 400 and changes nothing; the same on PostgreSQL."""

import base64
import hashlib
import hmac
import json
import os
import stat
import subprocess
import time

import pytest

import hc
from hc import wait_until

PHONE = "010-1234-5678"
DIGITS = "01012345678"
ADMIN_PASSWORD = "correct horse battery"


def b64url_decode(part):
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def token_parts(token):
    """(header, claims) of a compact JWT, decoded with the standard library."""
    head, body, sig = token.split(".")
    assert sig, "unsigned token %r" % token
    return json.loads(b64url_decode(head)), json.loads(b64url_decode(body))


def assert_signed_by_key_file(system, token):
    """The token's HS256 signature is right under the system's key: its
    HC_JWT_SECRET (the harness sets one), else $HC_DATA_DIR/jwt.key."""
    secret = system.env.get("HC_JWT_SECRET")
    if secret:
        key = secret.encode()
    else:
        with open(os.path.join(system.data_dir, "jwt.key"), "rb") as f:
            key = f.read()
    signing_input, sig = token.rsplit(".", 1)
    want = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(want, b64url_decode(sig)), "signature not made with jwt.key"


def assert_token_answer(r, role, sub, ttl=3600):
    """r is a sign-in's 200 with a token for role/sub valid ttl seconds."""
    assert r.status == 200, r
    assert set(r.json) == {"accessToken", "tokenType", "expiresIn"}, r.json
    assert r.json["tokenType"] == "Bearer" and r.json["expiresIn"] == ttl, r.json
    assert r.headers.get("Cache-Control") == "no-store", r.headers
    head, claims = token_parts(r.json["accessToken"])
    assert head["alg"] == "HS256", head
    assert claims["role"] == role and claims["sub"] == sub, claims
    now = time.time()
    assert now + ttl - 60 <= claims["exp"] <= now + ttl + 60, (claims, now)
    return claims


def assert_error(r, status, code):
    assert r.status == status, r
    assert "json" in (r.headers.get("Content-Type") or ""), r.headers
    assert r.json.get("error") == code, r
    assert isinstance(r.json.get("message"), str) and r.json["message"], r
    assert isinstance(r.json.get("fields"), list), r
    return r.json


def sms_lines(system):
    path = os.path.join(system.data_dir, "sms.log")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def latest_code(system, digits=DIGITS):
    """The code of the last sign-in SMS sent to digits (the full number)."""
    lines = [ln for ln in sms_lines(system) if ln["to"] == digits and "인증번호" in ln["text"]]
    assert lines, "no sign-in SMS to %s in sms.log: %r" % (digits, sms_lines(system))
    assert set(lines[-1]) == {"to", "text", "at"}, lines[-1]
    code = lines[-1]["text"].split("인증번호 ")[1][:6]
    assert code.isdigit() and len(code) == 6, lines[-1]
    return code


def ask_code(client, phone=PHONE, **kw):
    return client.post("/auth/otp", {"phone": phone}, **kw)


def verify(client, code, phone=PHONE):
    return client.post("/auth/otp/verify", {"phone": phone, "code": code})


def wrong(code):
    return "%06d" % ((int(code) + 1) % 1000000)


def cli(system, *args, stdin=None):
    """Runs `healthcenter args...` with the system's environment."""
    return subprocess.run([system.bin] + list(args), input=stdin, capture_output=True, text=True,
                          env=dict(system.env), cwd=system.data_dir, timeout=60)


def login(client, username, password):
    return client.post("/auth/login", {"username": username, "password": password})


# ---------------------------------------------------------------- customers


def test_otp_sign_in_through_the_gateway(make_system):
    s = make_system(HC_ADMIN_PASSWORD=ADMIN_PASSWORD)
    s.start_all()
    r = ask_code(s.gateway)
    assert r.status == 202, r
    # The same answer for any number: whether it has bookings is not told.
    other = ask_code(s.gateway, "010-9999-0000")
    assert (other.status, other.json) == (r.status, r.json)
    code = latest_code(s)
    line = [ln for ln in sms_lines(s) if ln["to"] == DIGITS][-1]
    assert line["at"].endswith("Z"), line

    assert_error(verify(s.gateway, wrong(code)), 401, "invalid_code")
    r = verify(s.gateway, code)
    claims = assert_token_answer(r, "customer", DIGITS)
    assert_signed_by_key_file(s, r.json["accessToken"])
    assert claims["iss"] == "healthcenter", claims
    # Single use: the same code again is a replay.
    assert_error(verify(s.gateway, code), 401, "invalid_code")
    # The code never reaches the service log; sms.log is not served.
    code_lines = [ln for ln in s.log_lines("notification")
                  if "인증번호" in json.dumps(ln, ensure_ascii=False)]
    assert not code_lines, code_lines
    for c in (s.gateway, s.notification):
        assert c.get("/sms.log").status == 404


def test_brute_force_locks_the_code(make_system):
    s = make_system()
    s.start("notification")
    assert ask_code(s.notification).status == 202
    code = latest_code(s)
    for i in range(5):
        assert_error(verify(s.notification, wrong(code)), 401, "invalid_code")
    # Locked: even the right code no longer signs in.
    err = assert_error(verify(s.notification, code), 401, "invalid_code")
    assert "new code" in err["message"], err
    # A new code works again (and the old one stays dead).
    assert ask_code(s.notification).status == 202
    fresh = latest_code(s)
    if fresh != code:
        assert_error(verify(s.notification, code), 401, "invalid_code")
    assert_token_answer(verify(s.notification, fresh), "customer", DIGITS)


def test_expired_code_is_refused(make_system):
    s = make_system(HC_OTP_TTL_S="60")
    s.start("notification")
    assert ask_code(s.notification).status == 202
    code = latest_code(s)
    # The same code checked by a notification whose clock is 2 minutes on.
    s.stop("notification")
    s.env["HC_CLOCK_OFFSET_SECONDS"] = "120"
    s.restart("notification")
    err = assert_error(verify(s.notification, code), 401, "invalid_code")
    assert "expired" in err["message"], err
    # A token follows the real clock, which every service verifies it by
    # (assert_token_answer checks exp against this process's time).
    assert ask_code(s.notification).status == 202
    assert_token_answer(verify(s.notification, latest_code(s)), "customer", DIGITS)


def test_code_requests_are_limited_per_phone_and_per_client(make_system):
    s = make_system(HC_OTP_PER_PHONE="2", HC_OTP_PER_CLIENT="4", HC_OTP_WINDOW_S="600")
    s.start_all()
    for _ in range(2):
        assert ask_code(s.gateway).status == 202
    err = assert_error(ask_code(s.gateway), 429, "too_many_requests")
    assert "phone" in err["message"], err
    # Two more numbers from this client reach its limit of four.
    assert ask_code(s.gateway, "010-2000-0001").status == 202
    assert ask_code(s.gateway, "010-2000-0002").status == 202
    before = len(sms_lines(s))
    r = ask_code(s.gateway, "010-2000-0003", headers={"X-Real-IP": "203.0.113.9"})
    err = assert_error(r, 429, "too_many_requests")
    assert "client" in err["message"], err
    assert r.headers.get("Retry-After") == "600", r.headers
    # Refusals send nothing; a refused phone keeps its last code working.
    assert len(sms_lines(s)) == before
    assert_token_answer(verify(s.gateway, latest_code(s)), "customer", DIGITS)
    # Another client (the service's own port, counted apart) is not limited.
    assert ask_code(s.notification, "010-2000-0003").status == 202


def test_gateway_limits_sign_in_per_client(make_system):
    """HC_AUTH_RATE_LIMIT_*: the gateway's own limit on /auth/ (password and
    code guessing), per client, on top of the general one; other paths keep
    only the general limit."""
    s = make_system(HC_AUTH_RATE_LIMIT_RPM="6", HC_AUTH_RATE_LIMIT_BURST="3",
                    HC_ADMIN_PASSWORD=ADMIN_PASSWORD)
    s.start_all()
    statuses = [login(s.gateway, "admin", "wrong password").status for _ in range(8)]
    assert statuses[:4] == [401] * 4, statuses
    assert 429 in statuses[4:], statuses
    r = login(s.gateway, "admin", ADMIN_PASSWORD)
    assert_error(r, 429, "too_many_requests")
    assert r.headers.get("Retry-After"), r.headers
    # The service itself was not asked; other paths are not limited by it.
    assert_token_answer(login(s.notification, "admin", ADMIN_PASSWORD), "superadmin", "admin")
    for _ in range(10):
        assert s.gateway.get("/packages").status == 200


# ---------------------------------------------------------------- admins


def test_admin_login_with_the_bootstrap_super_admin(make_system):
    s = make_system(HC_ADMIN_USER="root", HC_ADMIN_PASSWORD=ADMIN_PASSWORD)
    s.start_all()
    claims = assert_token_answer(login(s.gateway, "root", ADMIN_PASSWORD), "superadmin", "root")
    assert claims["centers"] == [], claims
    bad = assert_error(login(s.gateway, "root", "wrong password"), 401, "invalid_credentials")
    unknown = assert_error(login(s.gateway, "nobody", ADMIN_PASSWORD), 401, "invalid_credentials")
    assert bad == unknown
    # HC_ADMIN_PASSWORD set: no generated password file.
    assert not os.path.exists(os.path.join(s.data_dir, "admin.password"))
    # A changed HC_ADMIN_PASSWORD takes effect at the next start.
    s.stop("up")
    s.env["HC_ADMIN_PASSWORD"] = "another password"
    s.start_all()
    assert_error(login(s.gateway, "root", ADMIN_PASSWORD), 401, "invalid_credentials")
    assert_token_answer(login(s.gateway, "root", "another password"), "superadmin", "root")


def test_first_start_writes_the_admin_password_file(make_system):
    s = make_system(HC_ADMIN_PASSWORD=None)
    up = s.start_all()
    path = os.path.join(s.data_dir, "admin.password")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with open(path) as f:
        password = f.read().strip()
    assert len(password) >= 20, password
    # `up` says where it is, with the username.
    wait_until(lambda: path in hc.tail(up.log_path, 40), what="up printing %s" % path)
    assert "first admin   user admin" in hc.tail(up.log_path, 40)
    assert_token_answer(login(s.gateway, "admin", password), "superadmin", "admin")
    # The next start keeps the admin and its password.
    s.stop("up")
    s.start_all()
    with open(path) as f:
        assert f.read().strip() == password
    assert_token_answer(login(s.gateway, "admin", password), "superadmin", "admin")


@pytest.mark.parametrize("password", [None, ADMIN_PASSWORD])
def test_first_admin_token_right_after_the_start(make_system, password):
    """The first super-admin is stored just after ready (its hash is made off
    the ready path); `token --admin` asked for at once waits for it, as the
    README's tour does."""
    s = make_system(HC_ADMIN_PASSWORD=password)
    s.start_all()
    r = cli(s, "token", "--admin", "admin")
    assert r.returncode == 0, r.stderr
    _, claims = token_parts(r.stdout.strip())
    assert (claims["role"], claims["sub"]) == ("superadmin", "admin"), claims


def test_admin_and_token_commands(make_system):
    s = make_system(HC_ADMIN_PASSWORD=ADMIN_PASSWORD)
    # Accounts can be made before the first start.
    r = cli(s, "admin", "add", "kim", "--centers", "1,2", stdin="kims password\n")
    assert r.returncode == 0, r.stderr
    assert "created admin kim" in r.stdout
    r = cli(s, "admin", "add", "lee", "--centers", "7", stdin="lees password\n")
    assert r.returncode == 1 and "center 7" in r.stderr, r
    r = cli(s, "admin", "add", "lee", "--centers", "1", stdin="short\n")
    assert r.returncode == 1 and "8 to 256" in r.stderr, r
    assert cli(s, "admin", "add", "lee").returncode == 2
    assert cli(s, "admin", "frobnicate").returncode == 2
    # The stored hash is Argon2id with the documented limits.
    ((h,),) = s.sql("notification", "SELECT pw_hash FROM admins WHERE username = 'kim'")
    assert h.startswith("$argon2id$v=19$m=65536,t=2,p=1$"), h

    s.start_all()

    def listed():
        r = cli(s, "admin", "list")
        assert r.returncode == 0, r.stderr
        return r, [ln.split() for ln in r.stdout.splitlines()]

    # The super-admin of HC_ADMIN_PASSWORD is stored just after the start (its
    # Argon2id hash is made off the ready path; docs/accounts.md).
    wait_until(lambda: ["admin", "superadmin", "*"] in listed()[1],
               what="the super-admin stored after the start")
    r, rows = listed()
    assert rows[0] == ["USERNAME", "ROLE", "CENTERS"], rows
    assert ["kim", "admin", "1,2"] in rows and ["admin", "superadmin", "*"] in rows, rows
    assert "$argon2" not in r.stdout and "$argon2" not in r.stderr

    claims = assert_token_answer(login(s.gateway, "kim", "kims password"), "admin", "kim")
    assert claims["centers"] == [1, 2], claims
    r = cli(s, "admin", "passwd", "kim", stdin="a new password\n")
    assert r.returncode == 0, r.stderr
    assert_error(login(s.gateway, "kim", "kims password"), 401, "invalid_credentials")
    assert_token_answer(login(s.gateway, "kim", "a new password"), "admin", "kim")
    r = cli(s, "admin", "passwd", "nobody", stdin="a new password\n")
    assert r.returncode == 1 and "no admin" in r.stderr, r

    r = cli(s, "token", "--admin", "kim")
    assert r.returncode == 0, r.stderr
    _, claims = token_parts(r.stdout.strip())
    assert (claims["role"], claims["sub"], claims["centers"]) == ("admin", "kim", [1, 2]), claims
    assert_signed_by_key_file(s, r.stdout.strip())
    r = cli(s, "token", "--phone", PHONE)
    _, claims = token_parts(r.stdout.strip())
    assert (claims["role"], claims["sub"]) == ("customer", DIGITS), claims
    r = cli(s, "token", "--service", "prometheus", "--ttl", "120")
    _, claims = token_parts(r.stdout.strip())
    assert (claims["role"], claims["sub"]) == ("service", "prometheus"), claims
    assert claims["exp"] - claims["iat"] == 120, claims
    for bad in (["--phone", "12"], ["--service", "Bad Name"], ["--ttl", "5"], []):
        assert cli(s, "token", *bad).returncode == 2, bad
    assert cli(s, "token", "--admin", "nobody").returncode == 1


def test_token_command_uses_the_configured_secret(make_system):
    secret = "an HC_JWT_SECRET of more than thirty-two characters"
    s = make_system(HC_JWT_SECRET=secret)
    r = cli(s, "token", "--service", "ops")
    assert r.returncode == 0, r.stderr
    signing_input, sig = r.stdout.strip().rsplit(".", 1)
    want = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    assert hmac.compare_digest(want, b64url_decode(sig))
    assert not os.path.exists(os.path.join(s.data_dir, "jwt.key"))


@pytest.mark.parametrize("var,value", [("HC_JWT_SECRET", "too short"),
                                       ("HC_ADMIN_USER", "has space"),
                                       ("HC_ADMIN_USER", ""),
                                       ("HC_ADMIN_PASSWORD", "short"),
                                       ("HC_OTP_MAX_ATTEMPTS", "0")])
def test_bad_account_settings_are_refused_naming_them(make_system, var, value):
    s = make_system(**{var: value})
    for args in (["config"], ["notification"], ["token", "--service", "ops"]):
        r = cli(s, *args)
        assert r.returncode == 2 and var in r.stderr, (args, r)


# ---------------------------------------------------------------- bad input


def test_bad_input_is_a_json_400_and_changes_nothing(make_system):
    s = make_system(HC_MAX_BODY_BYTES="4096", HC_ADMIN_PASSWORD=ADMIN_PASSWORD)
    s.start_all()
    g = s.gateway
    # A login waits for the super-admin's bootstrap, so that it is stored
    # before the count at the end.
    assert_token_answer(login(g, "admin", ADMIN_PASSWORD), "superadmin", "admin")
    cases = [
        ("/auth/otp", {}, "phone"),
        ("/auth/otp", {"phone": 1012345678}, "phone"),
        ("/auth/otp", {"phone": "not a phone"}, "phone"),
        ("/auth/otp", {"phone": PHONE, "extra": 1}, "extra"),
        ("/auth/otp/verify", {"phone": PHONE}, "code"),
        ("/auth/otp/verify", {"phone": PHONE, "code": 123456}, "code"),
        ("/auth/otp/verify", {"phone": PHONE, "code": "12345"}, "code"),
        ("/auth/otp/verify", {"phone": PHONE, "code": "12345a"}, "code"),
        ("/auth/login", {"username": "root"}, "password"),
        ("/auth/login", {"username": ["root"], "password": "x"}, "username"),
        ("/auth/login", {"username": "", "password": "x"}, "username"),
    ]
    for path, body, field in cases:
        err = assert_error(g.post(path, body), 400, "validation_failed")
        assert field in [f["field"] for f in err["fields"]], (path, body, err)
    for path in ("/auth/otp", "/auth/otp/verify", "/auth/login"):
        assert_error(g.post(path, raw=b'{"phone": '), 400, "malformed_json")
        assert_error(g.post(path, raw=b"[1, 2]"), 400, "malformed_json")
        assert_error(g.post(path, raw=b""), 400, "malformed_json")
        r = g.post(path, raw=b'{"phone": "' + b"1" * 8000 + b'"}')
        assert_error(r, 413, "payload_too_large")
        r = g.post(path, raw=b"phone=01012345678", content_type="application/x-www-form-urlencoded")
        assert_error(r, 415, "unsupported_media_type")
        assert g.get(path).status == 405
    # Nothing was sent, stored or counted: the phone still gets its codes.
    assert sms_lines(s) == []
    assert s.sql("notification", "SELECT COUNT(*) FROM otp_codes") == [(0,)]
    assert s.sql("notification", "SELECT COUNT(*) FROM otp_requests") == [(0,)]
    assert s.sql("notification", "SELECT COUNT(*) FROM admins") == [(1,)]
    for _ in range(3):
        assert ask_code(g).status == 202
    assert s.live("notification")


# ---------------------------------------------------------------- PostgreSQL


def test_sign_in_on_postgresql(make_system, pg_server, pg_db):
    s = make_system(HC_DB="postgres", HC_DB_URL=pg_server.url(pg_db),
                    HC_ADMIN_PASSWORD=ADMIN_PASSWORD)
    r = cli(s, "admin", "add", "kim", "--centers", "2", stdin="kims password\n")
    assert r.returncode == 0, r.stderr
    s.start("notification")
    assert ask_code(s.notification).status == 202
    code = latest_code(s)
    for _ in range(5):
        assert_error(verify(s.notification, wrong(code)), 401, "invalid_code")
    assert_error(verify(s.notification, code), 401, "invalid_code")
    assert ask_code(s.notification).status == 202
    code = latest_code(s)
    assert_token_answer(verify(s.notification, code), "customer", DIGITS)
    assert_error(verify(s.notification, code), 401, "invalid_code")
    claims = assert_token_answer(login(s.notification, "kim", "kims password"), "admin", "kim")
    assert claims["centers"] == [2], claims
    assert_token_answer(login(s.notification, "admin", ADMIN_PASSWORD), "superadmin", "admin")
    r = cli(s, "admin", "list")
    assert ["kim", "admin", "2"] in [ln.split() for ln in r.stdout.splitlines()], r.stdout
    # A fourth code in the window is refused (HC_OTP_PER_PHONE=3).
    assert ask_code(s.notification).status == 202
    assert_error(ask_code(s.notification), 429, "too_many_requests")
