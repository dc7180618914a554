"""Security events and alerts (DESIGN.md, Monitoring and incident response; API.md, Admin).

Every kind of incident leaves a JSON line in the log and, once its minute has passed and a tick
(or a worker) has flushed it, a row in security_events. Each alert threshold fires exactly once
per window however far it is passed, is stored in alerts, counted in /metrics and shown by
GET /admin/alerts and `aspidactl alerts`; the address rules block the address when
alert_autoblock_minutes is set. A PostgreSQL or Redis failure is alerted even when Redis is the
one down (straight to PostgreSQL) or PostgreSQL is (queued in Redis, stored by the next tick).
`aspidactl tick` runs alert_command with the alert as JSON on stdin: fixed argv, no shell,
minimal environment, once per alert, its process group killed after the timeout.

The module lowers the thresholds (restored afterwards); each test uses addresses from
source_for(), new on every run, so counters and latches of earlier runs never meet it. Admin
calls come from 127.0.0.1 (admin_allow_ips).
"""

import json
import os
import pwd
import shutil
import time

import pytest

from aspida_util import assert_error, log_events, wait_for
from auth_helpers import (auth_headers, conf, cookie_login, email_for, login, login_raw,  # noqa: F401
                          module_conf, new_user, source_for, strong_password)
from conftest import http
from test_ingest import encode, point, sign

API = "/api/v1"
EVENTS = API + "/admin/security-events"
ALERTS = API + "/admin/alerts"
PRICE = API + "/price/BTC"
ADMIN_SRC = "127.0.0.1"

_alerts_conf = module_conf(
    admin_allow_ips="127.0.0.1/32", trusted_proxies="",
    alert_login_failures_per_address=5, alert_login_failures_per_account=3,
    global_login_failures_per_min=1000000, alert_rate_violations_per_address=5,
    rate_predict_per_minute=1, rate_predict_burst=1,
    quota_anonymous_daily_bytes=3000, quota_daily_bytes=20000,
    alert_request_spike_min_requests=20, alert_flush_seconds=1,
    alert_5xx_window=60, alert_5xx_min_requests=5, alert_5xx_percent=1,
    alert_autoblock_minutes=0, lock_threshold=1000)


@pytest.fixture
def admin(ctl, request):
    email = email_for("alerts-admin-" + request.node.name)
    password = strong_password("alerts-admin-" + request.node.name)
    p = ctl("user", "add", email, "--admin", input=password + "\n")
    assert p.returncode == 0, p
    user = {"email": email, "password": password}
    user["token"] = login(user, ADMIN_SRC)["access_token"]
    return user


def now_iso(offset=0):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


def alert_rows(psql, kind, subject, since):
    out = psql(f"SELECT id FROM alerts WHERE kind = '{kind}' AND subject = "
               f"$q${subject}$q$ AND ts >= '{since}'")
    return [int(x) for x in out.split()] if out else []


def event_lines(aspida_log, kind, **match):
    return [e for e in log_events(aspida_log.since())
            if e.get("event") == kind and all(e.get(k) == v for k, v in match.items())]


def wrong_logins(email, src, n):
    for _ in range(n):
        r = login_raw(email, "wrong-password-" + src, src)
        assert_error(r, 401, "invalid_credentials")


def metric(name):
    r = http("GET", "/metrics", source=ADMIN_SRC)
    assert r.status == 200, r
    for line in r.text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.split()[-1])
    return 0.0


def flush_workers():
    """Every worker's tallies reach Redis: they flush after alert_flush_seconds on the next
    request, and requests spread over the workers."""
    time.sleep(1.2)
    for _ in range(24):
        assert http("GET", API + "/assets", source=ADMIN_SRC).status == 200


def ctl_ok(ctl, *args):
    p = ctl(*args)
    assert p.returncode == 0, p
    return p


# --- events for each kind of incident ------------------------------------------------------------

def test_events_for_each_incident_kind(ctl, psql, aspida_log, env, admin):
    src = source_for("incidents")
    blocked = source_for("incidents", "blocked")
    user = new_user("alerts-incidents", src)
    token = login(user, src)["access_token"]
    start = now_iso(-1)
    expect = {}     # kind -> client address of its row (None: any)

    # auth: a bad bearer token, a wrong password
    assert_error(http("GET", API + "/auth/me", {"Authorization": "Bearer x.y.z"}, source=src),
                 401)
    expect["auth_failure"] = src
    wrong_logins(user["email"], src, 1)
    expect["login_failure"] = src
    # rate limit: predict allows one a minute
    codes = [http("POST", API + "/predict/BTC", body=b"", source=src).status for _ in range(3)]
    assert 429 in codes, codes
    expect["rate_limited"] = src
    # block
    ctl_ok(ctl, "ip", "block", blocked + "/32", "--minutes", "5")
    try:
        wait_for(lambda: http("GET", PRICE, source=blocked).status == 403, 5,
                 what="block in force")
    finally:
        bid = psql(f"SELECT id FROM ip_blocks WHERE cidr = '{blocked}/32' ORDER BY id DESC "
                   "LIMIT 1")
        ctl_ok(ctl, "ip", "unblock", bid)
    expect["blocked_request"] = blocked
    # CSRF: a cookie session's unsafe request without its token
    cookie, _ = cookie_login(user, src)
    r = http("POST", API + "/auth/logout", {"Cookie": "aspida_session=" + cookie}, body=b"",
             source=src)
    assert_error(r, 403, "csrf_failed")
    expect["csrf_failure"] = src
    # an API key from an address it does not allow
    r = http("POST", API + "/keys", auth_headers(token), source=src,
             body={"name": "k", "scopes": ["read"], "allowed_ips": ["192.0.2.1/32"]})
    assert r.status == 201, r
    assert_error(http("GET", PRICE, {"X-API-Key": r.json()["key"]}, source=src), 403,
                 "ip_not_allowed")
    expect["api_key_ip_refused"] = src
    # quota: anonymous daily bytes are 3000 here
    codes = [http("GET", API + "/prices/BTC?limit=100", source=src).status for _ in range(10)]
    assert 429 in codes, codes
    expect["quota_exceeded"] = src
    # price rejection: the demo feed sends an unlisted asset
    body = encode([point("NOSUCHASSET", time.time() - 60, "1.5")])
    r = http("POST", API + "/ingest/prices",
             {"Content-Type": "application/json", "X-Source": env["ASPIDA_SOURCE_NAME"],
              "X-Signature": sign(env["ASPIDA_SOURCE_SECRET"], body)}, body=body,
             source=ADMIN_SRC)
    assert r.status == 200 and r.json()["rejected"], r
    expect["price_rejected"] = ADMIN_SRC
    # server error: the runtime role loses a grant for a moment (a query error, masked 500)
    psql("REVOKE SELECT ON assets FROM aspida_app")
    try:
        r = http("GET", API + "/assets", source=src)
        assert_error(r, 500, "internal")
    finally:
        psql("GRANT SELECT ON assets TO aspida_app")
    expect["server_error"] = src
    time.sleep(3)   # the circuit breaker the error may have opened closes again

    # Each in the log at once, as one JSON line with its address.
    for kind, addr in expect.items():
        assert event_lines(aspida_log, kind, client_ip=addr), kind
    # In the table once its minute has passed and a tick has flushed it.
    time.sleep(61 - time.time() % 60)
    ctl_ok(ctl, "tick")
    for kind, addr in expect.items():
        n = psql(f"SELECT count(*) FROM security_events WHERE kind = '{kind}' AND "
                 f"client_ip = '{addr}' AND minute >= date_trunc('minute', '{start}'::timestamptz)")
        assert int(n) >= 1, kind
    # The admin route and aspidactl show them, filtered by type.
    r = http("GET", f"{EVENTS}?type=csrf_failure&since={start}", auth_headers(admin["token"]),
             source=ADMIN_SRC)
    assert r.status == 200, r
    rows = r.json()["events"]
    assert rows and all(e["type"] == "csrf_failure" for e in rows), rows
    assert any(e["client_ip"] == src for e in rows), rows
    p = ctl_ok(ctl, "events", "--type", "api_key_ip_refused", "--since", start)
    assert src in p.stdout and "csrf_failure" not in p.stdout, p.stdout


# --- thresholds: once per window ------------------------------------------------------------------

def test_login_failures_per_address_and_account_fire_once(psql, aspida_log, admin):
    src = source_for("login-flood")
    user = new_user("alerts-login-flood", src)
    start = now_iso(-1)
    before = metric("aspida_alerts_total")
    wrong_logins(user["email"], src, 5)     # at the threshold: nothing yet
    assert alert_rows(psql, "login_failures_address", src, start) == []
    wrong_logins(user["email"], src, 10)    # 15 > 5: one alert, not ten
    assert len(alert_rows(psql, "login_failures_address", src, start)) == 1
    assert len(alert_rows(psql, "login_failures_account", user["email"], start)) == 1
    lines = [e for e in event_lines(aspida_log, "alert", client_ip=src)
             if e["details"]["alert"] == "login_failures_address"]
    assert len(lines) == 1 and lines[0]["severity"] == "critical", lines
    acct = [e for e in event_lines(aspida_log, "alert", client_ip=src)
            if e["details"]["alert"] == "login_failures_account"]
    assert len(acct) == 1 and acct[0]["severity"] == "warning", acct
    assert metric("aspida_alerts_total") >= before + 2
    # alert_autoblock_minutes = 0: the address is not blocked.
    assert http("GET", PRICE, source=src).status == 200
    r = http("GET", f"{ALERTS}?since={start}", auth_headers(admin["token"]), source=ADMIN_SRC)
    assert r.status == 200, r
    mine = [a for a in r.json()["alerts"] if a["subject"] == src]
    assert len(mine) == 1 and mine[0]["kind"] == "login_failures_address", mine
    assert mine[0]["severity"] == "critical" and mine[0]["threshold"] == "5", mine


def test_global_login_failures_fire_once(psql, redis, conf):
    conf(global_login_failures_per_min=4, alert_global_login_failures_window=60)
    redis("DEL", "aspida:al:l:login_failures_global:*")
    psql("DELETE FROM alerts WHERE kind = 'login_failures_global'")
    start = now_iso(-1)
    for i in range(3):
        src = source_for("global", i)
        wrong_logins(email_for("global-nobody", i), src, 3)
    assert len(alert_rows(psql, "login_failures_global", "*", start)) == 1


def test_rate_violations_fire_once_and_autoblock(psql, conf, ctl):
    conf(alert_autoblock_minutes=5)
    src = source_for("violations")
    start = now_iso(-1)
    try:
        codes = [http("POST", API + "/predict/BTC", body=b"", source=src).status for _ in range(12)]
        assert codes.count(429) >= 6, codes
        assert len(alert_rows(psql, "rate_violations_address", src, start)) == 1
        row = psql(f"SELECT created_by, automatic FROM ip_blocks WHERE cidr = '{src}/32'")
        assert row == "autoblock|t", row
        wait_for(lambda: all(http("GET", PRICE, source=src).status == 403 for _ in range(8)),
                 5, interval=0.1, what="the alerted address blocked on every worker")
        assert_error(http("GET", PRICE, source=src), 403, "forbidden")
    finally:
        for bid in psql(f"SELECT id FROM ip_blocks WHERE cidr = '{src}/32' AND "
                        "(expires_at IS NULL OR expires_at > now())").split():
            ctl("ip", "unblock", bid)


def test_server_errors_fire_once(psql, redis):
    redis("DEL", "aspida:al:l:server_errors:*")
    psql("DELETE FROM alerts WHERE kind = 'server_errors'")
    start = now_iso(-1)
    src = source_for("5xx")
    for _ in range(2):
        psql("REVOKE SELECT ON assets FROM aspida_app")
        try:
            for _ in range(30):
                assert http("GET", API + "/assets", source=src).status >= 500
        finally:
            psql("GRANT SELECT ON assets TO aspida_app")
        time.sleep(3)   # the breaker's cooldown
        flush_workers()
    assert len(alert_rows(psql, "server_errors", "*", start)) == 1


# --- per-principal rules, evaluated by tick --------------------------------------------------------

def test_quota_burst_and_request_spike_fire_once(psql, redis, ctl):
    src = source_for("principal")
    user = new_user("alerts-principal", src)
    calm = new_user("alerts-calm", src)
    h = auth_headers(login(user, src)["access_token"])
    hc = auth_headers(login(calm, src)["access_token"])
    start = now_iso(-1)
    who, calm_who = f"user:{user['id']}", f"user:{calm['id']}"
    # Usual rates: 1 request a period for one, 100 for the other.
    redis("HSET", "aspida:al:usual", who, "1", calm_who, "100")
    for _ in range(30):
        assert http("GET", PRICE, h, source=src).status == 200
        assert http("GET", PRICE, hc, source=src).status == 200
    # quota_daily_bytes is 20000: over 10000 bytes within the period is a burst.
    got = 0
    while got <= 12000:
        r = http("GET", API + "/prices/BTC?limit=200", h, source=src)
        assert r.status == 200, r
        got += len(r.body)
    flush_workers()
    ctl_ok(ctl, "tick")
    ctl_ok(ctl, "tick")
    assert len(alert_rows(psql, "request_spike", who, start)) == 1
    assert len(alert_rows(psql, "quota_burst", who, start)) == 1
    assert alert_rows(psql, "request_spike", calm_who, start) == []
    assert alert_rows(psql, "quota_burst", calm_who, start) == []


def test_forecast_error_fires_once(psql, ctl):
    asset = "AL" + os.urandom(3).hex().upper()
    start = now_iso(-1)
    psql(f"INSERT INTO assets (id, name, currency) VALUES ('{asset}', 'alert test', 'USD')")
    psql(f"INSERT INTO prices (asset_id, ts, price, source) VALUES ('{asset}', now() - "
         "interval '1 minute', 100, 'test')")
    for predicted in (300, 100.1, 10):   # errors 200 %, 0.1 %, 90 %
        psql("INSERT INTO forecasts (asset_id, created_at, horizon_hours, target_ts, predicted,"
             f" low, high, confidence, model, points_used) VALUES ('{asset}', now() - interval"
             f" '3 hours', 1, now() - interval '2 minutes', {predicted}, 1, 1000, 0.5, 'test',"
             " 30)")
    ctl_ok(ctl, "tick")
    assert psql(f"SELECT count(*) FROM forecasts WHERE asset_id = '{asset}' AND "
                "scored_at IS NOT NULL") == "3"
    assert len(alert_rows(psql, "forecast_error", asset, start)) == 1


# --- dependency failures ---------------------------------------------------------------------------

def test_redis_down_alert_goes_straight_to_postgresql(stack, psql, aspida_log):
    psql("DELETE FROM alerts WHERE kind = 'dependency_failure' AND subject = 'redis'")
    start = now_iso(-1)
    stack.redis_stop()
    try:
        for _ in range(12):
            http("GET", API + "/assets", source=ADMIN_SRC)
            http("GET", PRICE, auth_headers("x.y.z"), source=ADMIN_SRC)
    finally:
        stack.stack_heal()
    # Every worker noticed; the table's unique index kept one row for the window.
    assert len(alert_rows(psql, "dependency_failure", "redis", start)) == 1
    n = psql("SELECT count(*) FROM security_events WHERE kind = 'dependency_unavailable' AND "
             f"severity = 'critical' AND ts >= '{start}'")
    assert int(n) >= 1
    assert [e for e in event_lines(aspida_log, "alert")
            if e["details"]["alert"] == "dependency_failure" and e["severity"] == "critical"]


def test_postgresql_down_alert_waits_in_redis_for_tick(stack, psql, redis, ctl):
    psql("DELETE FROM alerts WHERE kind = 'dependency_failure' AND subject = 'postgresql'")
    redis("DEL", "aspida:al:l:dependency_failure:postgresql")
    start = now_iso(-1)
    stack.pg_stop()
    try:
        for _ in range(12):
            assert http("GET", API + "/assets", source=ADMIN_SRC).status == 503
        assert "dependency_failure" in redis("LRANGE", "aspida:al:queue", "0", "-1")
    finally:
        stack.stack_heal()
    wait_for(lambda: ctl("tick").returncode == 0, 20, interval=0.5, what="a tick that works")
    assert len(alert_rows(psql, "dependency_failure", "postgresql", start)) == 1
    assert "dependency_failure" not in redis("LRANGE", "aspida:al:queue", "0", "-1")


# --- alert_command ---------------------------------------------------------------------------------

@pytest.fixture
def command_dir(env):
    d = os.path.join(env["ASPIDA_STACK"], "tmp", "alertcmd-" + os.urandom(4).hex())
    os.mkdir(d)
    pw = pwd.getpwnam(env["ASPIDA_RUN_USER"])
    os.chown(d, pw.pw_uid, pw.pw_gid)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def write_script(path, body):
    with open(path, "w") as f:
        f.write("#!/bin/sh\n" + body)
    os.chmod(path, 0o755)


def test_alert_command_gets_json_on_stdin_and_no_injection(conf, ctl, psql, command_dir, env):
    script = os.path.join(command_dir, "notify")
    write_script(script, f'd={command_dir}\n'
                         'cat > "$d/stdin.$$"\n'
                         'printf "%s\\n" "$#" "$@" > "$d/argv.$$"\n'
                         'env > "$d/env.$$"\n')
    psql("INSERT INTO alert_notifications (alert_id, claimed_by) SELECT id, 'test' FROM alerts "
         "ON CONFLICT DO NOTHING")
    conf(alert_command=f"{script}, --fixed, two words")
    src = source_for("inject")
    # Shell syntax a shell would run (in aspidactl's directory, the stack's).
    evil = "q'\";$(touch${IFS}pwned)`id`|" + os.urandom(4).hex() + "@x.example"
    start = now_iso(-1)
    for _ in range(5):
        r = login_raw(evil, "wrong-password-x", src)
        assert r.status == 401, r
    subject = evil.lower()      # the account is its canonical email
    assert len(alert_rows(psql, "login_failures_account", subject, start)) == 1
    ctl_ok(ctl, "tick")
    ctl_ok(ctl, "tick")     # notified once, however many ticks
    runs = sorted(f for f in os.listdir(command_dir) if f.startswith("stdin."))
    docs = [json.load(open(os.path.join(command_dir, f))) for f in runs]
    mine = [d for d in docs if d["subject"] == subject]
    assert len(mine) == 1, docs
    a = mine[0]
    assert a["kind"] == "login_failures_account" and a["severity"] == "warning", a
    assert a["threshold"] == "3" and a["window_seconds"] == 3600 and a["id"] > 0, a
    assert psql(f"SELECT count(*) FROM alert_notifications WHERE alert_id = {a['id']}") == "1"
    for f in os.listdir(command_dir):
        if f.startswith("argv."):
            assert open(os.path.join(command_dir, f)).read() == "2\n--fixed\ntwo words\n"
        if f.startswith("env."):
            names = {line.split("=", 1)[0] for line in open(os.path.join(command_dir, f))}
            assert "ASPIDA_CONFIG" not in names and names <= {"PATH", "LC_ALL", "PWD", "SHLVL",
                                                              "_"}, names
    assert not os.path.exists(os.path.join(env["ASPIDA_STACK"], "pwned"))
    assert not os.path.exists(os.path.join(command_dir, "pwned"))


def test_alert_command_is_killed_with_its_group_after_the_timeout(conf, ctl, psql, command_dir):
    script = os.path.join(command_dir, "slow")
    write_script(script, f'sleep 60 &\necho $! > {command_dir}/child\nwait\n')
    psql("INSERT INTO alert_notifications (alert_id, claimed_by) SELECT id, 'test' FROM alerts "
         "ON CONFLICT DO NOTHING")
    conf(alert_command=script, alert_command_timeout=1)
    src = source_for("slow-command")
    user = new_user("alerts-slow", src)
    wrong_logins(user["email"], src, 5)
    t0 = time.monotonic()
    p = ctl("tick")
    took = time.monotonic() - t0
    assert p.returncode == 1 and took < 15, (p, took)
    child = int(open(os.path.join(command_dir, "child")).read())
    time.sleep(0.2)
    assert not os.path.exists(f"/proc/{child}") or \
        open(f"/proc/{child}/stat").read().split()[2] == "Z"


# --- the admin routes ------------------------------------------------------------------------------

def test_admin_routes_hidden_unauthenticated_forbidden(admin):
    user = new_user("alerts-nonadmin", ADMIN_SRC)
    token = login(user, ADMIN_SRC)["access_token"]
    outside = source_for("admin-outside")
    for path in (EVENTS, ALERTS):
        assert_error(http("GET", path, auth_headers(admin["token"]), source=outside), 404,
                     "not_found")
        assert_error(http("GET", path, source=ADMIN_SRC), 401)
        assert_error(http("GET", path, auth_headers(token), source=ADMIN_SRC), 403, "forbidden")
        assert http("GET", path, auth_headers(admin["token"]), source=ADMIN_SRC).status == 200


@pytest.mark.parametrize("query", [
    "limit=0", "limit=1001", "limit=x", "since=yesterday", "since=2026-01-01",
    "type=Login-Failure", "type=a%20b", "other=1", "limit=1&limit=2",
])
def test_admin_routes_bad_parameters(admin, query):
    for path in (EVENTS, ALERTS):
        if path == ALERTS and query.startswith("type="):
            continue
        r = http("GET", f"{path}?{query}", auth_headers(admin["token"]), source=ADMIN_SRC)
        assert_error(r, 400, "invalid_input")
    r = http("GET", f"{ALERTS}?type=login_failure", auth_headers(admin["token"]),
             source=ADMIN_SRC)
    assert_error(r, 400, "invalid_input")


def test_admin_routes_filter_and_limit(admin, psql, ctl):
    h = auth_headers(admin["token"])
    tag = os.urandom(4).hex()
    psql("INSERT INTO security_events (ts, kind, severity, count, details) VALUES "
         f"(now() - interval '2 hours', 'test_old', 'info', 1, '{{\"tag\":\"{tag}\"}}'), "
         f"(now(), 'test_new', 'info', 1, '{{\"tag\":\"{tag}\"}}'), "
         f"(now(), 'test_new', 'warning', 2, '{{\"tag\":\"{tag}\"}}')")
    psql("INSERT INTO alerts (ts, kind, severity, subject, window_seconds) VALUES "
         f"(now() - interval '2 hours', 'test_old', 'warning', '{tag}', 60), "
         f"(now(), 'test_new', 'warning', '{tag}', 60)")
    hour_ago = now_iso(-3600)
    r = http("GET", f"{EVENTS}?type=test_new&since={hour_ago}", h, source=ADMIN_SRC)
    rows = [e for e in r.json()["events"] if (e["details"] or {}).get("tag") == tag]
    assert [e["count"] for e in rows] == [2, 1], rows      # newest first
    r = http("GET", f"{EVENTS}?type=test_old&limit=1000", h, source=ADMIN_SRC)
    assert any((e["details"] or {}).get("tag") == tag for e in r.json()["events"])
    r = http("GET", f"{EVENTS}?type=test_old&since={hour_ago}", h, source=ADMIN_SRC)
    assert not any((e["details"] or {}).get("tag") == tag for e in r.json()["events"])
    r = http("GET", f"{EVENTS}?limit=1", h, source=ADMIN_SRC)
    assert len(r.json()["events"]) == 1
    r = http("GET", f"{ALERTS}?since={hour_ago}", h, source=ADMIN_SRC)
    assert [a["kind"] for a in r.json()["alerts"] if a["subject"] == tag] == ["test_new"]
    r = http("GET", f"{ALERTS}?limit=1", h, source=ADMIN_SRC)
    assert len(r.json()["alerts"]) == 1
    p = ctl_ok(ctl, "alerts", "--since", hour_ago)
    assert "test_new" in p.stdout and "test_old" not in p.stdout, p.stdout
    p = ctl_ok(ctl, "events", "--type", "test_old", "--limit", "1")
    assert len(p.stdout.strip().splitlines()) == 2, p.stdout   # header and one row
    for bad in (("--limit", "0"), ("--since", "nope"), ("--type", "A;B")):
        assert ctl("events", *bad).returncode == 2
