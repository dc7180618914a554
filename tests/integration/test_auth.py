"""Registration and login (API.md, Auth): the response shapes, canonical emails, the password
rules with our own advice, long and multi-byte passwords used in full (no bcrypt truncation), no
mass assignment, no password hash anywhere, and login answers that say nothing about whether an
account exists - the same body and the same time.

Addresses and emails come from auth_helpers (fresh for every run and test).
"""

import re
import statistics
import time

import pytest

import auth_helpers
from aspida_util import RFC3339_Z, assert_error, assert_security_headers
from auth_helpers import (LOGIN, ME, REGISTER, TOKEN_KEYS, USER_KEYS, assert_no_secret_in_logs,
                          body_has_no_hash, email_for, jwt_decode, login, login_raw, me,
                          new_user, register, remember, source_for, strong_password,
                          ua_fingerprint)

conf = auth_helpers.conf        # the fixture

# Phrases of libpwquality's and cracklib's own messages: the advice must be ours.
LIBRARY_PHRASES = ("the password", "bad password", "it is based on", "dictionary check",
                   "it is too", "fails the", "cracklib", "pwquality", "error loading")

# A mix of 2-, 3- and 4-byte UTF-8 characters (and no ASCII, so the byte count is large).
MULTIBYTE = "äöüßéèñçøåæœ" "жзийклмнпрстуфхцчшщ" "漢字仮名語学書道" "🐍🦀🔑🌍🎲🧭"


# --- register -------------------------------------------------------------------------------------

def test_register_answers_201_with_the_user_and_no_hash(http, psql):
    src = source_for("register-shape")
    email = email_for("register-shape")
    pw = strong_password("register-shape")
    r = register(email, pw, full_name="Ada Lovelace", source=src)
    assert r.status == 201, r
    assert_security_headers(r)
    body = r.json()
    assert set(body) == USER_KEYS, body
    assert isinstance(body["id"], int) and body["id"] > 0, body
    assert body["email"] == email
    assert body["full_name"] == "Ada Lovelace"
    assert body["role"] == "user"
    assert RFC3339_Z.match(body["created_at"]), body
    body_has_no_hash(r)
    assert pw not in r.text
    # Stored as a bcrypt hash, never the password itself.
    stored = psql(f"SELECT password_hash FROM users WHERE id = {body['id']}")
    assert stored.startswith("$2b$") and pw not in stored, stored


def test_register_canonicalizes_the_email(http, psql):
    src = source_for("register-canonical")
    local = email_for("Alice").split("@")[0]
    raw = f"  {local.upper()}@Example.COM "
    r = register(raw, strong_password("register-canonical"), source=src)
    assert r.status == 201, r
    canonical = f"{local}@example.com"
    assert r.json()["email"] == canonical
    assert psql(f"SELECT count(*) FROM users WHERE email = '{canonical}'") == "1"
    # Uniqueness is on the canonical form: every spelling is the same account.
    for spelling in (canonical, canonical.upper(), "   " + canonical + " "):
        r2 = register(spelling, strong_password("register-canonical", spelling), source=src)
        assert_error(r2, 409, "email_taken")
    assert psql(f"SELECT count(*) FROM users WHERE lower(email) = '{canonical}'") == "1"


def test_register_taken_email_is_409_without_telling_more(http):
    src = source_for("register-taken")
    user = new_user("register-taken", src)
    r = register(user["email"], strong_password("register-taken", 2), source=src)
    err = assert_error(r, 409, "email_taken")
    assert "password" not in err["message"].lower()
    body_has_no_hash(r)


@pytest.mark.parametrize("case", ["short", "eleven", "too-long", "local-part", "local-part-upper",
                                  "dictionary"])
def test_weak_passwords_get_our_own_advice(http, psql, case):
    src = source_for("weak", case)
    email = email_for("zebracorn", case)
    local = email.split("@")[0]
    password, must_mention = {
        "short": ("Qz7#kP", "12"),
        "eleven": ("Qz7#kP2mW9x", "12"),
        "too-long": (strong_password("weak-long", length=129), "128"),
        "local-part": ("Qz7#" + local + "#Lm9", "email"),
        "local-part-upper": ("Qz7#" + local.upper() + "#Lm9", "email"),
        "dictionary": ("sunflower123", "dictionary"),
    }[case]
    r = register(email, password, source=src)
    err = assert_error(r, 400, "weak_password")
    msg = err["message"]
    assert must_mention in msg.lower(), (case, msg)
    low = msg.lower()
    assert not any(p in low for p in LIBRARY_PHRASES), (case, msg)
    assert password not in msg
    assert psql(f"SELECT count(*) FROM users WHERE email = '{email}'") == "0"


def test_exactly_12_and_128_characters_are_accepted(http):
    src = source_for("bounds")
    for n in (12, 128):
        user = new_user(f"bounds-{n}", src, password=strong_password("bounds", n, length=n))
        assert len(user["password"]) == n
        login(user, src)


def test_long_password_is_used_in_full(http):
    # bcrypt reads 72 bytes: a password that differs only after byte 72 must not log in.
    src = source_for("long-password")
    pw = strong_password("long-password", length=100)
    user = new_user("long-password", src, password=pw)
    login(user, src)
    for i in (72, 73, 99):
        other = pw[:i] + ("X" if pw[i] != "X" else "Y") + pw[i + 1:]
        assert other[:72] == pw[:72] and other != pw
        r = login_raw(user["email"], other, src)
        assert_error(r, 401, "invalid_credentials")
    # The failures above did not lock (3 < 5), and the right one still works.
    login(user, src)


def test_multibyte_128_character_password_is_used_in_full(http):
    src = source_for("multibyte-password")
    pw = strong_password("multibyte", length=128, alphabet=MULTIBYTE)
    # Every character is 2 to 4 bytes: at least 256 bytes, far past bcrypt's 72.
    assert len(pw) == 128 and len(pw.encode()) >= 256, len(pw.encode())
    user = new_user("multibyte-password", src, password=pw)
    login(user, src)
    # One character changed, each well past byte 72 (every character here is 2 to 4 bytes).
    for i in (64, 127):
        other = pw[:i] + ("é" if pw[i] != "é" else "ж") + pw[i + 1:]
        assert len(pw[:i].encode()) > 72 and other != pw
        r = login_raw(user["email"], other, src)
        assert_error(r, 401, "invalid_credentials")
    login(user, src)


@pytest.mark.parametrize("field,value", [
    ("role", "admin"), ("role", "user"), ("is_admin", True), ("token_generation", 0),
    ("id", 1), ("password_hash", "$2b$04$" + "a" * 53), ("created_at", "2020-01-01T00:00:00Z"),
])
def test_register_refuses_unknown_fields(http, psql, field, value):
    src = source_for("mass-assign", field)
    email = email_for("mass-assign", field, str(value)[:8])
    r = register(email, strong_password("mass-assign", field), source=src, **{field: value})
    assert_error(r, 400, "invalid_input")
    body_has_no_hash(r)
    assert psql(f"SELECT count(*) FROM users WHERE email = '{email}'") == "0"


def test_registered_user_is_never_admin(http, psql):
    src = source_for("role-user")
    email = email_for("role-user")
    pw = strong_password("role-user")
    r = register(email, pw, source=src, role="admin")
    assert_error(r, 400, "invalid_input")
    r = register(email, pw, source=src)
    assert r.status == 201 and r.json()["role"] == "user", r
    assert psql(f"SELECT role FROM users WHERE email = '{email}'") == "user"
    tokens = login({"email": email, "password": pw}, src)
    r = me(tokens["access_token"], src)
    assert r.status == 200 and r.json()["role"] == "user", r


def test_register_and_login_ignore_credentials_sent(http):
    # API.md: register, login and refresh ignore any credentials, even broken ones.
    src = source_for("ignore-creds")
    email = email_for("ignore-creds")
    pw = strong_password("ignore-creds")
    bad = {"Authorization": "Bearer not.a.token", "Cookie": "aspida_session=junk"}
    r = http("POST", REGISTER, bad, body={"email": email, "password": pw, "full_name": "X"},
             source=src)
    assert r.status == 201, r
    r = http("POST", LOGIN, {"Authorization": "Bearer not.a.token"},
             body={"email": email, "password": pw}, source=src)
    assert r.status == 200, r
    remember(*r.json().values())


# --- login ----------------------------------------------------------------------------------------

def test_login_answers_a_token_pair(http):
    src = source_for("login-shape")
    user = new_user("login-shape", src)
    ua = "aspida-tests/1.0 login-shape"
    r = login_raw(user["email"], user["password"], src, ua=ua)
    assert r.status == 200, r
    assert_security_headers(r)
    body = r.json()
    assert set(body) == TOKEN_KEYS, body
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert body["refresh_token"] != body["access_token"]
    body_has_no_hash(r)
    assert r.header("Set-Cookie") is None
    header, claims = jwt_decode(body["access_token"])
    assert header["alg"] == "HS256" and header.get("kid"), header
    assert set(claims) >= {"iss", "aud", "sub", "sid", "jti", "iat", "exp", "typ", "gen", "fgp"}
    assert claims["typ"] == "access"
    assert claims["sub"] == str(user["id"])
    assert claims["exp"] - claims["iat"] == 900
    assert abs(claims["iat"] - time.time()) < 60
    assert claims["fgp"] == ua_fingerprint(ua)
    assert re.fullmatch(r"[0-9a-f]{32}", claims["jti"]), claims
    # Two logins: two different token pairs.
    again = login(user, src, ua=ua)
    assert again["access_token"] != body["access_token"]
    assert again["refresh_token"] != body["refresh_token"]


def test_me_answers_the_user(http):
    src = source_for("me")
    user = new_user("me", src)
    tokens = login(user, src)
    r = me(tokens["access_token"], src)
    assert r.status == 200, r
    assert_security_headers(r)
    body = r.json()
    assert set(body) == USER_KEYS, body
    assert body["id"] == user["id"] and body["email"] == user["email"]
    assert body["role"] == "user" and RFC3339_Z.match(body["created_at"])
    body_has_no_hash(r)
    # Without credentials: 401.
    assert_error(http("GET", ME, source=src), 401, "unauthorized")


def test_login_with_canonicalized_email(http):
    src = source_for("login-canonical")
    user = new_user("login-canonical", src)
    r = login_raw("  " + user["email"].upper() + "  ", user["password"], src)
    assert r.status == 200, r


def test_unknown_email_and_wrong_password_answer_the_same(http):
    src = source_for("same-answer")
    user = new_user("same-answer", src)
    wrong = login_raw(user["email"], strong_password("same-answer", "wrong"), src)
    unknown = login_raw(email_for("same-answer-nobody"), user["password"], src)
    malformed_pw = login_raw(user["email"], "x", src)
    for r in (wrong, unknown, malformed_pw):
        assert_error(r, 401, "invalid_credentials")
        assert r.header("WWW-Authenticate") == wrong.header("WWW-Authenticate")
        assert r.header("Retry-After") is None
    assert same_body(wrong, unknown) and same_body(wrong, malformed_pw)
    names = lambda r: sorted(h.lower() for h in r.headers.keys())  # noqa: E731
    assert names(wrong) == names(unknown), (wrong.headers, unknown.headers)


def same_body(a, b):
    ea, eb = a.json()["error"], b.json()["error"]
    return {k: v for k, v in ea.items() if k != "request_id"} == \
        {k: v for k, v in eb.items() if k != "request_id"}


def timed_login(email, password, source):
    t0 = time.perf_counter()
    r = login_raw(email, password, source)
    elapsed = time.perf_counter() - t0
    assert_error(r, 401, "invalid_credentials")
    return elapsed


def login_time_ratio(tag):
    """median(unknown email) / median(wrong password), over samples that alternate, from several
    addresses; at most 4 failures per account, so that no lock (5) cuts a sample short."""
    users = [new_user(f"{tag}-{i}", source_for(tag, i)) for i in range(6)]
    unknown, wrong = [], []
    for rnd in range(4):
        for i, user in enumerate(users):
            src = source_for(tag, i)
            wrong.append(timed_login(user["email"], strong_password(tag, "wrong", rnd, i), src))
            unknown.append(timed_login(email_for(tag, "nobody", rnd, i), user["password"], src))
    return statistics.median(unknown) / statistics.median(wrong), unknown, wrong


def test_unknown_email_takes_as_long_as_a_wrong_password():
    # The hash against a dummy (API.md): without it an unknown email skips bcrypt and answers in
    # a fraction of the time. At the test profile's cost (4) bcrypt is about as long as the rest
    # of a login, so a missing dummy shows as a ratio near 0.5; the next test has the margin.
    ratio, unknown, wrong = login_time_ratio("timing")
    assert 0.5 <= ratio <= 2.0, (ratio, statistics.median(unknown), statistics.median(wrong))


def test_unknown_email_takes_as_long_at_a_real_cost(conf):
    # The same at bcrypt cost 8 (about 20 ms a hash), where a missing dummy hash would give a
    # ratio near 0.1. The users are registered after the change, so their hashes have cost 8.
    conf(bcrypt_cost=8)
    ratio, unknown, wrong = login_time_ratio("timing-cost8")
    assert 0.5 <= ratio <= 2.0, (ratio, statistics.median(unknown), statistics.median(wrong))
    assert statistics.median(wrong) >= 0.005, "bcrypt_cost 8 did not take effect"
    # Registering a taken email costs the same hashing work as a new one (API.md).
    src = source_for("timing-register")
    taken = new_user("timing-register", src)
    fresh, again = [], []
    for i in range(8):
        pw = strong_password("timing-register", i)
        t0 = time.perf_counter()
        r = register(email_for("timing-register-new", i), pw, source=src)
        fresh.append(time.perf_counter() - t0)
        assert r.status == 201, r
        t0 = time.perf_counter()
        r = register(taken["email"], pw, source=src)
        again.append(time.perf_counter() - t0)
        assert_error(r, 409, "email_taken")
    ratio = statistics.median(again) / statistics.median(fresh)
    assert 0.5 <= ratio <= 2.0, (ratio, statistics.median(again), statistics.median(fresh))


def test_login_validates_its_input(http):
    src = source_for("login-input")
    for body in ({"email": "a@b.c"}, {"password": "x" * 12},
                 {"email": "no-at-sign", "password": "x"},
                 {"email": "a@b.c", "password": "x", "remember_me": True}):
        r = http("POST", LOGIN, body=body, source=src)
        assert_error(r, 400, "invalid_input")
    r = http("POST", LOGIN + "?session=bearer", body={"email": "a@b.c", "password": "x"},
             source=src)
    assert_error(r, 400, "invalid_input")


def test_no_secret_reaches_the_logs():
    assert_no_secret_in_logs(min_secrets=10)
