# sqlmap_hook.py: what sqlmap's --eval runs before each of its requests, so that a request it sends is one
# aspida would accept apart from the payload under test. sqlmap itself knows nothing of short-lived
# bearer tokens, single-use refresh tokens, per-request HMAC signatures or objects a request deletes;
# without this, every request after the first would be a 401/404/409 and sqlmap's "not injectable"
# would only mean "never got past the front door".
#
# Each function takes sqlmap's evaluation namespace pieces and returns the new value of a variable (the
# --eval line assigns it) or mutates _locals["auxHeaders"], the per-request header dict sqlmap merges
# over the request file's headers. The driver (scan.py) writes the state file named by
# $ASPIDA_SCAN_STATE: base URL, the fixed User-Agent, the users and their passwords, the feed's secret.
# Every request made here goes to that base URL, which is loopback (scan.py refuses anything else).
#
# The placeholders (scan.py puts them in the request files) are plain tokens that a payload appended
# by sqlmap leaves in place: the hook swaps them for fresh values; when a payload replaced the whole
# value, there is no placeholder left and the request goes out as sqlmap made it.

import hashlib
import hmac
import json
import os
import random
import time
import urllib.error
import urllib.request

PH_EMAIL = "XRANDX"
PH_REFRESH = "RTOKENPLACEHOLDER"
PH_BEARER = "BEARERPLACEHOLDER"
PH_SESSION = "SESSIONPLACEHOLDER"
PH_KEY_ID = "1000000001"
PH_BLOCK_ID = "1000000002"
PH_CIDR = "ffff:ffff"

_state = None
_tokens = {}		# user -> (access token, expiry)
_sessions = {}		# user -> (cookie value, expiry)
_calls = {}


def state():
    global _state
    if _state is None:
        with open(os.environ["ASPIDA_SCAN_STATE"], encoding="utf-8") as f:
            _state = json.load(f)
        if not _state["base"].startswith("http://127.0.0.1:"):
            raise SystemExit("sqlmap_hook: base URL is not loopback")
    return _state


def _http(method, path, body=None, headers=None):
    """One request to the stack; returns (status, parsed JSON or None, headers)."""
    st = state()
    h = {"User-Agent": st["ua"]}
    h.update(headers or {})
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    req = urllib.request.Request(st["base"] + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw, status, hdrs = r.read(), r.status, r.headers
    except urllib.error.HTTPError as e:
        raw, status, hdrs = e.read(), e.code, e.headers
    try:
        doc = json.loads(raw) if raw else None
    except ValueError:
        doc = None
    return status, doc, hdrs


def _login(user, cookie=False):
    st = state()
    u = st["users"][user]
    path = "/api/v1/auth/login" + ("?session=cookie" if cookie else "")
    for _ in range(20):
        status, doc, hdrs = _http("POST", path, {"email": u["email"], "password": u["password"]})
        if status == 200:
            return doc, hdrs
        if status in (423, 429, 503):
            time.sleep(0.2)
            continue
        break
    raise SystemExit("sqlmap_hook: login of %s answered %s" % (user, status))


def token(user, fresh=False):
    """A bearer token of the user for the fixed User-Agent, renewed a minute before it expires."""
    tok = _tokens.get(user)
    if fresh or tok is None or tok[1] - time.time() < 60:
        doc, _ = _login(user)
        tok = (doc["access_token"], time.time() + int(doc["expires_in"]))
        _tokens[user] = tok
    return tok[0]


def bearer(_locals, user):
    """Authorization for this request: a valid token, or the tested header with the placeholder swapped."""
    aux = _locals["auxHeaders"]
    if "Authorization" in aux:
        aux["Authorization"] = aux["Authorization"].replace(PH_BEARER, token(user))
    else:
        aux["Authorization"] = "Bearer " + token(user)


def session(cookie, user):
    """The Cookie header's value with a live session cookie in place of the placeholder."""
    s = _sessions.get(user)
    if s is None or s[1] - time.time() < 60:
        doc, hdrs = _login(user, cookie=True)
        value = None
        for c in hdrs.get_all("Set-Cookie") or []:
            if c.startswith("aspida_session="):
                value = c.split(";", 1)[0].partition("=")[2]
        if value is None:
            raise SystemExit("sqlmap_hook: cookie login set no aspida_session")
        s = (value, time.time() + int(doc["expires_in"]))
        _sessions[user] = s
    return (cookie or "").replace(PH_SESSION, s[0])


def fresh_email(email):
    """register: a new address per request, so the original value keeps answering 201, not 409."""
    if PH_EMAIL not in email:
        return email
    e = email.replace(PH_EMAIL, "%012d" % random.randrange(10 ** 12))
    # sqlmap writes the value back between the JSON quotes as it is.
    return json.dumps(e)[1:-1]


def fresh_refresh(value, user):
    """refresh: a refresh token works once; each request gets a new one, minted for the fixed UA."""
    if PH_REFRESH not in value:
        return value
    doc, _ = _login(user)
    return value.replace(PH_REFRESH, doc["refresh_token"])


def password_route(_locals, user, new_password):
    """POST /auth/password: keeps the invariant "the user's password is the base one" before each
    request. A success revokes every token of the user, so each request gets a new token; a payload
    in new_password that passed the strength check changed the password, and is changed back here."""
    st = state()
    u = st["users"][user]
    pending = _calls.get("pw_pending")
    status, doc, _ = _http("POST", "/api/v1/auth/login", {"email": u["email"], "password": u["password"]})
    if status != 200 and pending:
        status, doc, _ = _http("POST", "/api/v1/auth/login", {"email": u["email"], "password": pending})
        if status == 200:
            _http("POST", "/api/v1/auth/password",
                  {"current_password": pending, "new_password": u["password"]},
                  {"Authorization": "Bearer " + doc["access_token"]})
            status, doc, _ = _http("POST", "/api/v1/auth/login",
                                   {"email": u["email"], "password": u["password"]})
    if status != 200:
        raise SystemExit("sqlmap_hook: cannot log %s in (%s)" % (user, status))
    _calls["pw_pending"] = new_password if new_password != u["password"] else None
    _locals["auxHeaders"]["Authorization"] = "Bearer " + doc["access_token"]


def _clear_keys(user):
    auth = {"Authorization": "Bearer " + token(user)}
    status, doc, _ = _http("GET", "/api/v1/keys", headers=auth)
    if status == 200:
        for k in doc.get("keys", []):
            _http("DELETE", "/api/v1/keys/%s" % k["id"], headers=auth)


def keys_room(user):
    """POST /keys: at most 10 live keys per user (409 beyond); deletes the user's keys every 8 calls."""
    n = _calls.get("keys", 0) + 1
    _calls["keys"] = n
    if n % 8 == 1:
        _clear_keys(user)


def new_key_uri(uri, user):
    """DELETE /keys/{id}: each request deletes a key made for it (the original id answers 204)."""
    keys_room(user)
    status, doc, _ = _http("POST", "/api/v1/keys", {"name": "scan victim", "scopes": ["read"]},
                           {"Authorization": "Bearer " + token(user)})
    if status != 201:
        raise SystemExit("sqlmap_hook: key creation answered %s" % status)
    return uri.replace("/" + PH_KEY_ID, "/%s" % doc["id"])


def fresh_cidr(cidr):
    """POST /admin/ip-blocks: a new documentation-range (2001:db8::/32) network per request."""
    if PH_CIDR not in cidr:
        return cidr
    return cidr.replace(PH_CIDR, "%x:%x" % (random.randrange(65536), random.randrange(65536)))


def new_block_uri(uri, user):
    """DELETE /admin/ip-blocks/{id}: each request deletes a block made for it."""
    auth = {"Authorization": "Bearer " + token(user)}
    status, doc, _ = _http("POST", "/api/v1/admin/ip-blocks",
                           {"cidr": fresh_cidr("2001:db8:%s::/64" % PH_CIDR), "reason": "scan victim",
                            "expires_in_minutes": 5}, auth)
    if status != 201:
        raise SystemExit("sqlmap_hook: block creation answered %s" % status)
    # The answer names the block by its CIDR only; the list has its id.
    cidr = doc["cidr"]
    status, doc, _ = _http("GET", "/api/v1/admin/ip-blocks", headers=auth)
    ids = [b["id"] for b in (doc or {}).get("ip_blocks", []) if b.get("cidr") == cidr]
    if status != 200 or not ids:
        raise SystemExit("sqlmap_hook: the new block %s is not listed (%s)" % (cidr, status))
    return uri.replace("/" + PH_BLOCK_ID, "/%s" % ids[0])


def sign(_locals):
    """POST /ingest/prices: X-Signature over the body exactly as sqlmap sends it (UTF-8)."""
    post = _locals.get("post") or ""
    if isinstance(post, str):
        post = post.encode("utf-8")
    mac = hmac.new(state()["source_secret"].encode(), post, hashlib.sha256).hexdigest()
    _locals["auxHeaders"]["X-Signature"] = "sha256=" + mac
