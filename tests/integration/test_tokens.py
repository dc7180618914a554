"""Access and refresh tokens (API.md, Auth): forged, altered, expired and misused tokens are
refused; logout, password change and `aspidactl revoke-sessions` revoke; refresh tokens rotate,
work once, and a reused one kills its whole family; fingerprints bind tokens to the User-Agent.

Tokens are crafted with the standard library only (hmac, hashlib, base64), with the stack's own
JWT key where a test needs a well-signed token. Every crafted-token test has a control: the same
crafting, unaltered, is accepted - so a refusal is the check at work, not a broken craft.
"""

import json
import time

import pytest

from aspida_util import assert_error
from conftest import http
from auth_helpers import (LOGOUT, PASSWORD, PRICE, assert_no_secret_in_logs, auth_headers,
                          b64url, concurrently, jwt_decode, jwt_key, jwt_make, login, login_raw,
                          me, new_user, refresh, remember, source_for, strong_password)

UA = "aspida-tests/1.0 (tokens)"


@pytest.fixture
def session(http, request):
    """A fresh user logged in from this test's own address with UA."""
    src = source_for("tokens", request.node.name)
    user = new_user("tok-" + request.node.name, src)
    tokens = login(user, src, ua=UA)
    return {"user": user, "src": src, "tokens": tokens}


def craft(session, header_changes=None, claim_changes=None, key=None, drop=()):
    """A token like the session's access token, with changes, signed with key (the stack's)."""
    header, claims = jwt_decode(session["tokens"]["access_token"])
    header.update(header_changes or {})
    claims.update(claim_changes or {})
    for name in drop:
        claims.pop(name, None)
    return jwt_make(header, claims, key if key is not None else jwt_key())


def assert_refused(token, session, code="unauthorized", ua=UA):
    r = me(token, session["src"], ua=ua)
    assert_error(r, 401, code)
    # Refused on a route where credentials are optional too: never treated as anonymous.
    r = http("GET", PRICE, auth_headers(token, ua), source=session["src"])
    assert_error(r, 401, code)


def test_genuine_and_resigned_tokens_are_accepted(session):
    # The control for every crafted token below.
    assert me(session["tokens"]["access_token"], session["src"], ua=UA).status == 200
    r = me(craft(session), session["src"], ua=UA)
    assert r.status == 200, r
    assert r.json()["id"] == session["user"]["id"]


def test_alg_none_is_refused(session):
    header, claims = jwt_decode(session["tokens"]["access_token"])
    h = dict(header, alg="none")
    unsigned = b64url(json.dumps(h).encode()) + "." + \
        session["tokens"]["access_token"].split(".")[1] + "."
    remember(unsigned)
    assert_refused(unsigned, session)
    # ... also with a signature-shaped third part, and with "None", "NONE".
    for alg in ("none", "None", "NONE"):
        assert_refused(craft(session, {"alg": alg}), session)


@pytest.mark.parametrize("alg", ["HS512", "HS384", "hs256", "RS256", "ES256", ""])
def test_other_algorithms_are_refused(session, alg):
    assert_refused(craft(session, {"alg": alg}), session)


def test_wrong_key_is_refused(session):
    assert_refused(craft(session, key=b"k" * 64), session)
    assert_refused(craft(session, key=jwt_key()[:-1]), session)
    assert_refused(craft(session, key=b""), session)


def test_tampered_payload_is_refused(session):
    token = session["tokens"]["access_token"]
    h, p, s = token.split(".")
    _, claims = jwt_decode(token)
    for change in ({"sub": "1"}, {"gen": claims["gen"] + 1}, {"exp": claims["exp"] + 3600},
                   {"role": "admin"}):
        forged = dict(claims, **change)
        payload = b64url(json.dumps(forged, separators=(",", ":")).encode())
        tampered = f"{h}.{payload}.{s}"
        remember(tampered)
        assert_refused(tampered, session)
    # A flipped signature character.
    flipped = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
    assert_refused(flipped, session)


def test_expired_token_is_token_expired(session):
    now = int(time.time())
    # Well signed, past exp beyond the leeway (30 s): token_expired.
    assert_refused(craft(session, claim_changes={"iat": now - 4000, "exp": now - 3000}), session,
                   code="token_expired")
    # The same forged with another key says nothing about expiry.
    assert_refused(craft(session, claim_changes={"iat": now - 4000, "exp": now - 3000},
                         key=b"x" * 64), session, code="unauthorized")


def test_token_from_the_future_is_refused(session):
    now = int(time.time())
    assert_refused(craft(session, claim_changes={"iat": now + 3600, "exp": now + 4500}), session)


@pytest.mark.parametrize("header_changes,claim_changes,drop", [
    ({}, {"aud": "someone-else"}, ()),
    ({}, {"iss": "someone-else"}, ()),
    ({"kid": "k-unknown"}, {}, ()),
    ({"kid": ""}, {}, ()),
    ({}, {"typ": "refresh"}, ()),
    ({"typ": "JWE"}, {}, ()),
    ({"crit": ["exp"]}, {}, ()),
    ({"jku": "https://evil.test/jwks.json"}, {}, ()),
    ({"kid": "../../../../dev/null"}, {}, ()),
    ({}, {"sub": int(0)}, ()),  # the sub as a number, not a string (filled in below)
    ({}, {"iat": "0"}, ()),
    ({}, {}, ("exp",)),
    ({}, {}, ("fgp",)),
    ({}, {}, ("jti",)),
    ({}, {}, ("typ",)),
    ({}, {}, ("aud",)),
], ids=["aud", "iss", "kid", "kid-empty", "typ-claim", "typ-header", "crit", "jku", "kid-path",
        "sub-number",
        "iat-string", "no-exp", "no-fgp", "no-jti", "no-typ", "no-aud"])
def test_wrong_claims_are_refused(session, header_changes, claim_changes, drop):
    if claim_changes.get("sub") == 0:
        claim_changes = {"sub": session["user"]["id"]}
    assert_refused(craft(session, header_changes, claim_changes, drop=drop), session)


def test_duplicate_claims_are_refused(session):
    # A JSON parser that lets the last duplicate win would read sub as user 1.
    header, claims = jwt_decode(session["tokens"]["access_token"])
    raw = json.dumps(claims, separators=(",", ":"))
    raw = raw[:-1] + ',"sub":"1"}'
    assert_refused(jwt_make(header, None, jwt_key(), raw_payload=raw), session)


def test_refresh_token_is_not_an_access_token(session):
    assert_refused(session["tokens"]["refresh_token"], session)


def test_another_user_agent_is_refused(session):
    token = session["tokens"]["access_token"]
    assert_refused(token, session, ua=UA + " evil")
    assert_refused(token, session, ua="")
    # The genuine client is unaffected.
    assert me(token, session["src"], ua=UA).status == 200


def test_malformed_authorization_is_refused(session):
    token = session["tokens"]["access_token"]
    for value in ("Bearer", "Bearer ", "Basic " + token, "Token " + token, token,
                  "Bearer " + token + "x", "Bearer " + token + ".x"):
        r = http("GET", PRICE, {"Authorization": value, "User-Agent": UA}, source=session["src"])
        assert_error(r, 401, "unauthorized")


# --- logout, rotation, reuse ----------------------------------------------------------------------

def logout(token, src, ua=UA, body=None):
    # No body is sent as an empty one: lighttpd wants a Content-Length on every POST.
    return http("POST", LOGOUT, auth_headers(token, ua) if token else {"User-Agent": ua},
                body=b"" if body is None else body, source=src)


def test_logout_revokes_the_access_token_and_its_family(session):
    src, tokens = session["src"], session["tokens"]
    other = login(session["user"], src, ua=UA)      # a second, independent session
    r = logout(tokens["access_token"], src)
    assert r.status == 204 and r.body == b"", r
    assert_error(me(tokens["access_token"], src, ua=UA), 401, "token_revoked")
    assert_error(logout(tokens["access_token"], src), 401, "token_revoked")
    assert_error(refresh(tokens["refresh_token"], src, ua=UA), 401, "token_revoked")
    # The other session lives on.
    assert me(other["access_token"], src, ua=UA).status == 200
    assert refresh(other["refresh_token"], src, ua=UA).status == 200


def test_refresh_rotates(session):
    src, tokens = session["src"], session["tokens"]
    r = refresh(tokens["refresh_token"], src, ua=UA)
    assert r.status == 200, r
    new = r.json()
    assert set(new) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert new["token_type"] == "bearer" and new["expires_in"] == 900
    assert new["refresh_token"] != tokens["refresh_token"]
    assert new["access_token"] != tokens["access_token"]
    assert jwt_decode(new["access_token"])[1]["sid"] == jwt_decode(tokens["access_token"])[1]["sid"]
    assert "password_hash" not in r.text and "$2b$" not in r.text
    assert me(new["access_token"], src, ua=UA).status == 200
    newer = refresh(new["refresh_token"], src, ua=UA)
    assert newer.status == 200, newer
    assert me(newer.json()["access_token"], src, ua=UA).status == 200


def test_reused_refresh_token_revokes_the_family(session):
    src, tokens = session["src"], session["tokens"]
    first = refresh(tokens["refresh_token"], src, ua=UA)
    assert first.status == 200, first
    second = refresh(first.json()["refresh_token"], src, ua=UA)
    assert second.status == 200, second
    newest = second.json()["refresh_token"]
    # The first token again: reuse.
    assert_error(refresh(tokens["refresh_token"], src, ua=UA), 401, "token_revoked")
    # The whole family is dead, the newest token included, and stays dead.
    assert_error(refresh(newest, src, ua=UA), 401, "token_revoked")
    assert_error(refresh(first.json()["refresh_token"], src, ua=UA), 401, "token_revoked")


def test_concurrent_refreshes_let_at_most_one_through(session):
    src, user = session["src"], session["user"]
    for rnd in range(4):
        tokens = login(user, src, ua=UA)
        results = concurrently(lambda: refresh(tokens["refresh_token"], src, ua=UA),
                               [()] * 6)
        statuses = [r.status if hasattr(r, "status") else r for r in results]
        ok = [r for r in results if getattr(r, "status", None) == 200]
        assert len(ok) <= 1, (rnd, statuses)
        for r in results:
            if getattr(r, "status", None) != 200:
                assert_error(r, 401, "token_revoked")
        if ok and len(results) > 1:
            # Two presentations of one token are reuse: the winner's token is dead too.
            assert_error(refresh(ok[0].json()["refresh_token"], src, ua=UA), 401,
                         "token_revoked")


def test_refresh_family_expires_seven_days_after_login(session, psql):
    # The family's life is absolute from login, whatever the refreshes (aged here in the database).
    src, tokens = session["src"], session["tokens"]
    r = refresh(tokens["refresh_token"], src, ua=UA)
    assert r.status == 200, r
    sid = jwt_decode(tokens["access_token"])[1]["sid"]
    psql("UPDATE refresh_families SET created_at = now() - interval '7 days 1 minute',"
         f" expires_at = now() - interval '1 minute' WHERE id = {int(sid)}")
    assert_error(refresh(r.json()["refresh_token"], src, ua=UA), 401, "token_expired")


def test_refresh_from_another_user_agent_is_refused(session):
    src, tokens = session["src"], session["tokens"]
    for ua in (UA + " evil", ""):
        assert_error(refresh(tokens["refresh_token"], src, ua=ua), 401, "unauthorized")


def test_forged_refresh_tokens_are_refused(session):
    src, tokens = session["src"], session["tokens"]
    rt = tokens["refresh_token"]
    body = rt[3:]
    flipped = "rt." + body[:10] + ("A" if body[10] != "A" else "B") + body[11:]
    for bad in (flipped, rt + "A", rt[:-1], "rt." + "A" * len(body), tokens["access_token"][:200],
                "rt.", "x"):
        r = refresh(bad, src, ua=UA)
        assert_error(r, 401, "unauthorized")
    # None of that hurt the real one.
    assert refresh(rt, src, ua=UA).status == 200


def test_password_change_revokes_every_earlier_token(session):
    src, user = session["src"], session["user"]
    sessions = [session["tokens"], login(user, src, ua=UA)]
    for t in sessions:      # the user's generation is now cached in Redis
        assert me(t["access_token"], src, ua=UA).status == 200
    new_pw = strong_password("tokens-new-password")
    r = http("POST", PASSWORD, auth_headers(sessions[1]["access_token"], UA),
             body={"current_password": user["password"], "new_password": new_pw}, source=src)
    assert r.status == 204, r
    for t in sessions:
        assert_error(me(t["access_token"], src, ua=UA), 401, "token_revoked")
        assert_error(refresh(t["refresh_token"], src, ua=UA), 401, "token_revoked")
    # The old password is gone, the new one works, and its tokens do.
    assert_error(login_raw(user["email"], user["password"], src, ua=UA), 401,
                 "invalid_credentials")
    fresh = login(dict(user, password=new_pw), src, ua=UA)
    assert me(fresh["access_token"], src, ua=UA).status == 200


def test_revoke_sessions_revokes_every_token(session, ctl):
    src, user = session["src"], session["user"]
    sessions = [session["tokens"], login(user, src, ua=UA)]
    for t in sessions:      # the user's generation is now cached in Redis: the tool must drop it
        assert me(t["access_token"], src, ua=UA).status == 200
    proc = ctl("revoke-sessions", user["email"].upper())
    assert proc.returncode == 0, proc.stderr
    for t in sessions:
        assert_error(me(t["access_token"], src, ua=UA), 401, "token_revoked")
        assert_error(refresh(t["refresh_token"], src, ua=UA), 401, "token_revoked")
    fresh = login(user, src, ua=UA)
    assert me(fresh["access_token"], src, ua=UA).status == 200


def test_revoke_sessions_of_an_unknown_user_fails(ctl):
    proc = ctl("revoke-sessions", "nobody-at-all@example.com")
    assert proc.returncode != 0


def test_logout_with_only_a_refresh_token(session):
    src, user, tokens = session["src"], session["user"], session["tokens"]
    other = login(user, src, ua=UA)
    r = logout(None, src, body={"refresh_token": tokens["refresh_token"]})
    assert r.status == 204, r
    assert_error(refresh(tokens["refresh_token"], src, ua=UA), 401, "token_revoked")
    # Only that family.
    assert refresh(other["refresh_token"], src, ua=UA).status == 200


def test_logout_without_anything_is_401(session):
    assert_error(logout(None, session["src"]), 401, "unauthorized")
    assert_error(logout(None, session["src"], body={"refresh_token": "rt.forged"}), 401,
                 "unauthorized")


def test_logout_with_failing_credentials_revokes_nothing(session):
    # Credentials that fail are answered 401 at once - never treated as anonymous, so the body's
    # refresh token is not acted on.
    src, tokens = session["src"], session["tokens"]
    r = logout("not-a-token", src, body={"refresh_token": tokens["refresh_token"]})
    assert_error(r, 401, "unauthorized")
    assert refresh(tokens["refresh_token"], src, ua=UA).status == 200


def test_no_secret_reaches_the_logs():
    assert_no_secret_in_logs(min_secrets=20)
