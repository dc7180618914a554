#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz (python3 tests/fuzz/mkseeds.py tests/fuzz/corpus).

The seeds carry real tokens, cursors, CSRF tokens and signatures, made with the secrets and the
fixed clock of tests/fuzz/fuzz.c (NOW, the key bytes below): change one there, change it here and
run this again, or the seeds stop reaching the code behind the checks."""
import hmac, hashlib, base64, json, os, struct, shutil, sys
C = sys.argv[1]  # corpus dir
NOW = 1795867200
JTI = "0123456789abcdef0123456789abcdef"
JKEY = b"j" * 32; PKEY = b"p" * 48; CKEY = b"k" * 32; SKEY = b"s" * 32; CSRF = b"c" * 32

def b64(b): return base64.urlsafe_b64encode(b).rstrip(b"=").decode()
def hm(k, m): return hmac.new(k, m, hashlib.sha256).digest()
def put(t, name, data):
    d = os.path.join(C, t); os.makedirs(d, exist_ok=True)
    if isinstance(data, str): data = data.encode()
    open(os.path.join(d, name), "wb").write(data)

def jwt(header, claims, key=JKEY, raw=False):
    h = header if raw else json.dumps(header, separators=(",", ":"))
    p = claims if raw else json.dumps(claims, separators=(",", ":"))
    s = b64(h.encode()) + "." + b64(p.encode())
    return s + "." + b64(hm(key, s.encode()))

HDR = {"alg": "HS256", "typ": "JWT", "kid": "k1"}
CL = {"iss": "aspida", "aud": "aspida-api", "sub": "42", "sid": "7", "jti": JTI,
      "iat": NOW - 60, "exp": NOW + 840, "typ": "access", "gen": 0, "fgp": "ab" * 32}
TOK = jwt(HDR, CL)
CSRF_TOK = hm(CSRF, b"aspida-csrf-v1" + JTI.encode()).hex()

def refresh(f, n, key=JKEY):
    kr = hm(key, b"aspida refresh key v1")
    raw = struct.pack(">qq", f, n)
    return "rt." + b64(raw + hm(kr, b"aspida-refresh-v1" + raw))

def cursor(binding, a, b):
    pl = bytes([1]) + struct.pack(">qq", a, b)
    return b64(pl + hm(CKEY, binding.encode() + b"\0" + pl))

# ---- request
def req(**kw): return "".join("%s=%s\n" % (k, v) for k, v in kw.items())
put("request", "prices_csv", req(REQUEST_METHOD="GET", REQUEST_URI="/api/v1/prices/BTC?from=2026-11-27T12:00:00Z&to=2026-11-28T12:00:00Z&limit=50",
    REMOTE_ADDR="192.0.2.10", HTTP_HOST="api.example", HTTP_ACCEPT="text/html, text/csv;q=0.9", HTTPS="on"))
put("request", "prices_cursor", req(REQUEST_METHOD="GET", REQUEST_URI="/api/v1/prices/BTC?cursor=" + cursor("prices|BTC||", NOW - 60, 17) + "&limit=-100",
    REMOTE_ADDR="2001:db8::7", HTTP_USER_AGENT="curl/7.88"))
put("request", "bearer", req(REQUEST_METHOD="GET", REQUEST_URI="/api/v1/price/BTC", REMOTE_ADDR="192.0.2.10",
    HTTP_AUTHORIZATION="Bearer " + TOK, HTTP_USER_AGENT="Mozilla/5.0"))
put("request", "cookie_csrf_origin", req(REQUEST_METHOD="POST", REQUEST_URI="/api/v1/portfolio/buy", REMOTE_ADDR="192.0.2.10",
    HTTP_HOST="api.example", HTTPS="on", HTTP_COOKIE="theme=dark; aspida_session=" + TOK,
    HTTP_ORIGIN="https://app.example", HTTP_X_CSRF_TOKEN=CSRF_TOK, CONTENT_TYPE="application/json", CONTENT_LENGTH="40"))
put("request", "cookie_csrf_referer", req(REQUEST_METHOD="DELETE", REQUEST_URI="/api/v1/keys/7", REMOTE_ADDR="192.0.2.10",
    HTTP_HOST="api.example", HTTP_COOKIE="aspida_session=x", HTTP_REFERER="http://api.example/app/keys?x=1#y",
    HTTP_X_CSRF_TOKEN=CSRF_TOK))
put("request", "preflight", req(REQUEST_METHOD="OPTIONS", REQUEST_URI="/api/v1/portfolio/buy", REMOTE_ADDR="192.0.2.10",
    HTTP_ORIGIN="https://app.example"))
put("request", "apikey", req(REQUEST_METHOD="GET", REQUEST_URI="/api/v1/assets", REMOTE_ADDR="192.0.2.10",
    HTTP_X_API_KEY="ak_" + b64(bytes(range(32)))))
put("request", "xff", req(REQUEST_METHOD="GET", REQUEST_URI="/api/v1/admin/ip-blocks", REMOTE_ADDR="10.0.0.5",
    HTTP_X_FORWARDED_FOR="203.0.113.7, 192.0.2.99 , 10.0.0.9"))
put("request", "xff_loopback", req(REQUEST_METHOD="GET", REQUEST_URI="/metrics", REMOTE_ADDR="127.0.0.1",
    HTTP_X_FORWARDED_FOR="198.51.100.1"))
put("request", "bad_escape", req(REQUEST_METHOD="GET", REQUEST_URI="/api/v1/price/%42T%zz?limit=%00", REMOTE_ADDR="192.0.2.10"))
put("request", "dup_query", req(REQUEST_METHOD="GET", REQUEST_URI="/api/v1/portfolio/trades?limit=5&limit=6&cursor=a+b", REMOTE_ADDR="::ffff:192.0.2.10"))
put("request", "two_creds", req(REQUEST_METHOD="GET", REQUEST_URI="/api/v1/auth/me", REMOTE_ADDR="192.0.2.10",
    HTTP_AUTHORIZATION="bearer x.y.z", HTTP_COOKIE="aspida_session=a; aspida_session=b"))
put("request", "method_405", req(REQUEST_METHOD="PATCH", REQUEST_URI="/api/v1/keys", REMOTE_ADDR="192.0.2.10", CONTENT_LENGTH="12345678901"))
put("request", "path_shapes", req(REQUEST_METHOD="POST", REQUEST_URI="/api/v1/admin/users/4000000000000000000/revoke-sessions//", REMOTE_ADDR="192.0.2.10"))
put("request", "healthz", req(REQUEST_METHOD="GET", REQUEST_URI="/healthz?x", REMOTE_ADDR="192.0.2.10"))

# ---- query
for i, q in enumerate(["from=2026-11-27T12%3A00%3A00Z&to=2026-11-28T12:00:00Z&limit=50",
    "a=1&a=2", "a+b=c%20d&%41=%e2%82%ac", "%zz", "x=%00", "&&", "=v", "session=1",
    "&".join("p%d=%d" % (k, k) for k in range(17)),
    "aspida_session=abc; other=1", " ; aspida_session=; aspida_session=b",
    "application/json; charset=utf-8", "Application/JSON ", "application/jsonx", "text/csv"]):
    put("query", "q%02d" % i, q)

# ---- json
docs = ['{"a":[1,2,{"b":null}],"c":"\\u00e9\\ud83d\\ude00","d":-0.5e+10,"e":true,"f":false}',
    '{"a":1,"\\u0061":2}', '{"a":{"a":{"a":1}},"b":[[],{}]}', '[' * 17 + ']' * 17,
    '{"email":"a@b.example","password":"Correct horse battery staple 1"}',
    '"caf\xc3\xa9"', '01', '1.', '{"a":1,}', "{'a':1}", 'NaN', '"\\ud800"', '"\xed\xa0\x80"',
    '"\xc0\xaf"', '{"a":"\\u0000"}', ' [1 , 2 ]\n', '{"a":1}{"b":2}', '"\\/\\b\\f\\n\\r\\t"',
    '{"k":1,"k ":2,"k\\u0020":3}']
for i, d in enumerate(docs):
    put("json", "j%02d" % i, bytes([16 if i != 3 else 17]) + d.encode("latin-1"))
put("json", "depth0", bytes([0]) + b"123")

# ---- body (route index)
bodies = [
    (0, {"asset_id": "BTC", "quantity": "0.5"}), (0, {"asset_id": "BTC", "quantity": "0.50"}),
    (1, {"asset_id": "ETH", "quantity": "1000000000"}), (1, {"asset_id": "btc", "quantity": 5}),
    (2, {"horizon_hours": 24}), (2, {"horizon_hours": 24.0}), (2, {"horizon_hours": 99999999999999999999}),
    (3, {"cidr": "203.0.113.0/24", "reason": "scraping", "expires_in_minutes": 60}),
    (4, {"email": " Alice@Example.COM ", "password": "Correct horse battery staple 1", "full_name": "Alice \u00c9"}),
    (4, {"email": "a@b", "password": "x", "full_name": "<script>"}),
    (5, {"email": "alice@example.com", "password": "pw"}),
    (6, {"refresh_token": refresh(7, 3)}), (7, {"refresh_token": refresh(7, 1, PKEY)}), (7, {}),
    (8, {"current_password": "a", "new_password": "b", "extra": 1}),
    (9, {"name": "ci key", "scopes": ["read", "write"], "expires_in_days": 30, "allowed_ips": ["192.0.2.0/24", "2001:db8::/32"]}),
    (9, {"name": "k", "scopes": ["read", "read", "admin"], "allowed_ips": ["10.0.0.0/33", ""]}),
]
for i, (k, b) in enumerate(bodies):
    put("body", "b%02d" % i, bytes([k]) + json.dumps(b).encode())
put("body", "raw_dup", bytes([5]) + b'{"email":"a@b.c","email":"x@y.z","password":"p"}')
put("body", "raw_array", bytes([9]) + b'[1,2]')
put("body", "raw_nul", bytes([4]) + b'{"email":"a\\u0000@b","password":"p","full_name":"n"}')

# ---- validate: field index byte + value
vals = ["BTC", "AAPL1234XY", "btc", "2026-11-28T12:00:00Z", "2024-02-29T23:59:59Z", "2025-02-29T00:00:00Z",
    "1970-01-01T00:00:00Z", "100", "-5", "007", "-0", "4000000000000000000", "user@example.com",
    "Alice <x>", "caf\xc3\xa9", "\xc2\x85", cursor("trades|7", 1, 2), "a\x00b", ""]
for i, v in enumerate(vals):
    put("validate", "v%02d" % i, bytes([i * 3 % 40]) + v.encode("latin-1"))

# ---- cursor
binds = ["prices|BTC|2026-11-27T12:00:00Z|2026-11-28T12:00:00Z", "prices|BTC||", "prices|ETH|2026-11-01T00:00:00Z|", "trades|42", "trades|7"]
for i, bd in enumerate(binds):
    put("cursor", "c%d" % i, bytes([i]) + cursor(bd, NOW - 3600 * i, 1000 + i).encode())
put("cursor", "other_binding", bytes([1]) + cursor(binds[0], 5, 6).encode())
put("cursor", "padded", bytes([3]) + (cursor(binds[3], 1, 2) + "=").encode())
put("cursor", "hex", bytes([0]) + b"00ff7f80")

# ---- decimal: maxdec byte, max selector byte, text
decs = [(12, 4, "64213.5"), (8, 3, "0.00000001"), (8, 3, "1000000000"), (8, 3, "1000000000.1"), (12, 4, "1e5"),
    (12, 4, "05"), (12, 4, ".5"), (12, 4, "5."), (12, 4, "64213.50"), (18, 5, "9223372036854775807.999999999999999999"),
    (12, 4, "99999999999999999999"), (0, 0, "1"), (19, 4, "1"), (12, 6, "1"), (12, 4, "0"), (12, 4, "0.0"),
    (12, 4, "-1"), (12, 4, " 1")]
for i, (md, ms, t) in enumerate(decs):
    put("decimal", "d%02d" % i, bytes([md, ms]) + t.encode())
for i, v in enumerate([0.123456785, 0.123456795, 64213.5, 1e-9, 5e-9, 9.999999995, 1e300, 0.0, -1.0, float("nan")]):
    put("decimal", "f%02d" % i, struct.pack("<d", v) + b"")

# ---- token
put("token", "valid", b"\x00" + TOK.encode())
put("token", "expired", b"\x00" + jwt(HDR, dict(CL, iat=NOW - 7200, exp=NOW - 3600)).encode())
put("token", "previous_key", b"\x00" + jwt(dict(HDR, kid="k0"), CL, PKEY).encode())
put("token", "alg_none", b"\x00" + (b64(b'{"alg":"none","kid":"k1"}') + "." + b64(json.dumps(CL).encode()) + "." + "A" * 43).encode())
put("token", "hs512", b"\x00" + (b64(b'{"alg":"HS512","kid":"k1"}') + "." + b64(json.dumps(CL).encode()) + ".x").encode())
put("token", "dup_claim", b"\x00" + jwt(json.dumps(HDR), '{"sub":"1","sub":"42"}', raw=True).encode())
def signed(h, c, prev=False): return bytes([5 if prev else 1]) + h.encode() + b"\n" + c.encode()
put("token", "s_valid", signed(json.dumps(HDR), json.dumps(CL)))
put("token", "s_prev", signed(json.dumps(dict(HDR, kid="k0")), json.dumps(CL), True))
put("token", "s_crit", signed('{"alg":"HS256","kid":"k1","crit":["exp"]}', json.dumps(CL)))
put("token", "s_types", signed(json.dumps(HDR), json.dumps(dict(CL, sub=42, gen="0", exp=1e20))))
put("token", "s_future", signed(json.dumps(HDR), json.dumps(dict(CL, iat=NOW + 3600, exp=NOW + 4000))))
put("token", "s_zero", signed(json.dumps(HDR), json.dumps(dict(CL, sub="042", sid="9223372036854775808"))))
put("token", "s_typ", signed('{"alg":"HS256","typ":"jwt","kid":"k1"}', json.dumps(CL)))
put("token", "refresh", b"\x02" + refresh(7, 3).encode())
put("token", "refresh_prev", b"\x02" + refresh(9, 0, PKEY).encode())
put("token", "refresh_bad", b"\x02" + refresh(7, 3)[:-1].encode() + b"B")
put("token", "csrf", b"\x03" + JTI.encode())
put("token", "csrf_ua", b"\x03" + b"Mozilla/5.0 (X11; Linux x86_64)\n")

# ---- cidr
for i, s in enumerate(["10.0.0.0/8", "2001:db8::/32", "::ffff:192.0.2.0/120", "::ffff:192.0.2.0/95",
    "192.0.2.1, 10.0.0.0/8 ,2001:db8::1", "203.0.113.7, 10.0.0.9", "198.51.100.1,10.1.1.1,10.2.2.2",
    "010.0.0.1", "127.1", "fe80::1%eth0", "1.2.3.4/33", "1.2.3.4/08", "1.2.3.4/", ",", "", " \t ",
    "::1", "::", "255.255.255.255/0", "2001:db8::1.2.3.4", "unknown, 10.0.0.1"]):
    put("cidr", "a%02d" % i, s)

# ---- conf
put("conf", "example", open("/work/main/aspida.conf.example").read())
put("conf", "stack", open("/tmp/web/stack/conf/aspida.conf").read())
put("conf", "minimal", "cursor_secret_file = /s/c\njwt_key_file = /s/j\npassword_pepper_file = /s/p\ncsrf_secret_file = /s/x\n")
put("conf", "sources", "source a-1 {\n\tsecret_file = /s/a\n\tallowed_ips = 192.0.2.10/32, ::1\n}\nsource b { secret_file = \"/s/b\"; allowed_ips = 10.0.0.0/8 }\nmax_jump = 0.25\noutlier_z = 6\n")
put("conf", "errors", "workers = 0x10\nunknown_key = 1\n")
put("conf", "dup", "workers = 4\nworkers = 5\n")
put("conf", "orders", "lock_base = 100\nlock_max = 10\nprices_default_limit = 5000\n")
put("conf", "quotes", 'listen = "/run/aspida.sock" # comment\ncors_origins = "https://a.example:8443", http://b.example\njwt_kid = ""\nsandbox = no\nredis_failure = open\n')
put("conf", "crlf", "workers = 4\r\n")

# ---- ingest
def pts(*p): return json.dumps({"points": [dict(zip(("asset_id", "ts", "price"), x)) for x in p]})
def ts(d): 
    import time
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(NOW + d))
def ing(body, **kw):
    h = dict(HTTP_X_SOURCE="feed1", HTTP_X_SIGNATURE="auto", REMOTE_ADDR="192.0.2.10"); h.update(kw)
    return "".join("%s=%s\n" % (k, v) for k, v in h.items() if v is not None) + "\n" + body
put("ingest", "ok", ing(pts(("BTC", ts(-30), "64100.5"), ("ETH", ts(-30), "3100"), ("SOL", ts(-10), "141.25"))))
put("ingest", "reanchor", ing(pts(("BTC", ts(-200), "90050"), ("BTC", ts(-100), "90010"), ("BTC", ts(-50), "90100"))))
put("ingest", "reasons", ing(pts(("NOPE", ts(-5), "1"), ("btc", ts(-5), "1"), ("BTC", ts(-5), "1e5"), ("BTC", ts(-8 * 86400), "64000"),
    ("BTC", ts(-60), "64000"), ("BTC", ts(-1), "64000"), ("BTC", ts(-1), "64001"), ("AAPL", ts(-2), "400"), ("ETH", ts(400), "3000"))))
put("ingest", "types", ing('{"points":[{"asset_id":1,"ts":null,"price":64000},{"asset_id":"BTC"},{"x":1}]}'))
put("ingest", "not_array", ing('{"points":{"asset_id":"BTC"}}'))
put("ingest", "bad_sig", ing(pts(("BTC", ts(-30), "64100.5")), HTTP_X_SIGNATURE="sha256=" + "0" * 64))
put("ingest", "no_sig", ing(pts(("BTC", ts(-30), "64100.5")), HTTP_X_SIGNATURE=None))
put("ingest", "unknown_source", ing(pts(("BTC", ts(-30), "64100.5")), HTTP_X_SOURCE="nobody"))
put("ingest", "other_source", ing(pts(("BTC", ts(-30), "64100.5")), HTTP_X_SOURCE="feed-2", REMOTE_ADDR="2001:db8::5"))
put("ingest", "address", ing(pts(("BTC", ts(-30), "64100.5")), REMOTE_ADDR="198.51.100.1"))
put("ingest", "empty", ing(""))
