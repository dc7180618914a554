"""Isolation on shared hosting (DESIGN.md, Hardening): Redis on a unix socket with ACL users,
PostgreSQL over a unix socket with peer or scram authentication.

Redis: the shipped redis-aspida.conf.example itself, its paths moved into a temporary directory
and its password placeholders replaced by the SHA-256 of fresh passwords, runs as a redis-server
of its own: as the system user redis with the run user's group (as Debian's redis-server@aspida
with Group=aspida would), so its 0660 socket lets the workers in through the group and nobody
else. For this module the workers use it with redis_socket, redis_user and redis_password_file.
The tests show that the service works through the ACL user (no command or key of aspida's is
denied: Redis's ACL LOG stays empty), that the aspida user cannot run FLUSHALL, CONFIG, KEYS, ...
nor touch a key outside aspida:*, that the default user and other system users are shut out,
that without redis_user the password alone gets nowhere, and that the append-only file is on.

PostgreSQL: the stack's workers reach PostgreSQL over its unix socket (peer, mapped from the run
user); one test puts a scram-sha-256 line for the runtime role in front, gives the workers the
password through a libpq passfile in db_conninfo, and shows that they work and that a wrong
password is refused (and recovered from); another loads the shipped pg_hba and pg_ident lines in
front of the stack's and has the workers reconnect through them. Each puts everything back.
redis_user over TCP is shown against the stack's own Redis, with a user added for the test.

Client addresses: auth_helpers.source_for("isolation", ...).
"""

import hashlib
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import tempfile
import types

import pytest

from aspida_util import read_conf, stack_dir, stack_vars, wait_for
from auth_helpers import ConfChanger, auth_headers, login, login_raw, new_user, source_for
from conftest import REPO, Stack, http, stack_env

API = "/api/v1"
PRICE = API + "/price/BTC"
SHIPPED = os.path.join(REPO, "redis-aspida.conf.example")
ASPIDA_HASH = "#CHANGE-ME-to-the-sha256-of-aspida-s-redis_password_file"
ADMIN_HASH = "#CHANGE-ME-to-the-sha256-of-the-admin-password"
# Where the shipped file puts things, and where this module moves them (under the temp dir).
MOVES = (
    ("/run/redis-aspida/", "{d}/run/"),
    ("/var/log/redis/redis-server-aspida.log", "{d}/data/redis.log"),
    ("/var/lib/redis", "{d}/data"),
)


def sha256_hex(s):
    return hashlib.sha256(s.encode()).hexdigest()


def readyz():
    r = http("GET", "/readyz")
    return r.status, json.loads(r.body)


def _chown(path, user, group):
    if os.geteuid() == 0:
        shutil.chown(path, user, group)


class IsolatedRedis:
    """The shipped configuration, running in a temporary directory."""

    def __init__(self):
        v = stack_vars()
        self.run_user, self.run_group = v["STACK_RUN_USER"], v["STACK_RUN_GROUP"]
        self.root = os.geteuid() == 0
        # As root, Redis gets a user of its own, as it has on a real host.
        self.redis_user = "redis" if self.root else self.run_user
        self.dir = tempfile.mkdtemp(prefix="aspida-iso-", dir="/tmp")
        self.sock = os.path.join(self.dir, "run", "redis.sock")
        self.data = os.path.join(self.dir, "data")
        self.conf = os.path.join(self.dir, "redis-aspida.conf")
        self.aspida_pw = secrets.token_hex(32)
        self.admin_pw = secrets.token_hex(32)
        self.pw_file = os.path.join(stack_dir(), "secrets", "redis_isolation")
        self.proc = None

    def write(self):
        with open(SHIPPED, encoding="utf-8") as f:
            text = f.read()
        for old, new in MOVES:
            assert old in text, f"the shipped Redis configuration no longer names {old}"
            text = text.replace(old, new.format(d=self.dir))
        for old, pw in ((ASPIDA_HASH, self.aspida_pw), (ADMIN_HASH, self.admin_pw)):
            assert text.count(old) == 1, f"the shipped configuration's placeholder {old}"
            text = text.replace(old, "#" + sha256_hex(pw))
        # Anything else the shipped file points at outside the temp dir is a new path this test
        # must move: fail rather than let a test touch /etc or /var.
        directives = "\n".join(ln for ln in text.splitlines() if not ln.lstrip().startswith("#"))
        stray = re.findall(r"(?<![\w.-])/(?:etc|var|run|usr|home)/\S*", directives)
        assert not stray, f"unmoved paths in the shipped Redis configuration: {stray}"
        assert "CHANGE-ME" not in directives
        os.chmod(self.dir, 0o750)
        _chown(self.dir, self.redis_user, self.run_group)
        os.mkdir(os.path.join(self.dir, "run"), 0o750)
        _chown(os.path.join(self.dir, "run"), self.redis_user, self.run_group)
        os.mkdir(self.data, 0o700)
        _chown(self.data, self.redis_user, self.run_group)
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(text)
        os.chmod(self.conf, 0o640)
        _chown(self.conf, self.redis_user, self.run_group)
        # aspida's password file: the run user's, 0600, as every secret file.
        with open(self.pw_file, "w", encoding="ascii") as f:
            f.write(self.aspida_pw)
        os.chmod(self.pw_file, 0o600)
        _chown(self.pw_file, self.run_user, self.run_group)

    def start(self):
        self.write()
        argv = ["redis-server", self.conf]
        if self.root:
            argv = ["setpriv", f"--reuid={self.redis_user}", f"--regid={self.run_group}",
                    "--clear-groups", "--"] + argv
        # setpriv execs in place: the pid is redis-server's. Its own log is in data/redis.log.
        self.proc = subprocess.Popen(argv, cwd=self.dir, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def up():
            if self.proc.poll() is not None:
                raise AssertionError(f"redis-server exited ({self.proc.returncode}):\n"
                                     f"{self.log_tail()}")
            return self.admin("PING") == "PONG"
        wait_for(up, 30, interval=0.1, what="the isolated Redis answering PING")

    def log_tail(self):
        path = os.path.join(self.data, "redis.log")
        if not os.path.exists(path):
            return "(no log)"
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-20:])

    def stop(self):
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(30)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(10)
        finally:
            if os.path.exists(self.pw_file):
                os.unlink(self.pw_file)
            shutil.rmtree(self.dir, ignore_errors=True)

    def cli(self, *args, user=None, password=None, as_user=None):
        """redis-cli on the socket; returns its output (replies and errors) stripped. The
        password goes in the environment, never on a command line."""
        argv = ["redis-cli", "-s", self.sock, "--no-auth-warning"]
        if user is not None:
            argv += ["--user", user]
        env = dict(os.environ)
        env.pop("REDISCLI_AUTH", None)
        if password is not None:
            env["REDISCLI_AUTH"] = password
        argv += list(map(str, args))
        if as_user is not None:
            user_name, group = as_user
            argv = ["setpriv", f"--reuid={user_name}", f"--regid={group}", "--clear-groups",
                    "--"] + argv
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, env=env,
                              cwd="/")
        return (proc.stdout + proc.stderr).strip()

    def aspida(self, *args):
        return self.cli(*args, user="aspida", password=self.aspida_pw)

    def admin(self, *args):
        return self.cli(*args, user="aspida-admin", password=self.admin_pw)


@pytest.fixture(scope="module")
def iso():
    """The isolated Redis, with the workers pointed at it for the whole module."""
    redis = IsolatedRedis()
    stack = Stack(stack_env())
    changer = ConfChanger(stack)
    try:
        redis.start()
        changer(redis_socket=redis.sock, redis_user="aspida",
                redis_password_file=redis.pw_file,
                # Low enough that a handful of anonymous reads meets the prices limit.
                rate_prices_per_minute=60, rate_prices_burst=3)
        wait_for(lambda: readyz()[0] == 200, 15, what="/readyz 200 through the ACL user")
        yield redis
    finally:
        try:
            changer.restore()
        finally:
            try:
                redis.stop()
            finally:
                stack.call("stack_heal")


def redis_commands_in_sources():
    """The Redis commands aspida's C sources send or their Lua scripts call."""
    found = set()
    for name in sorted(os.listdir(os.path.join(REPO, "src"))):
        if not name.endswith(".c"):
            continue
        with open(os.path.join(REPO, "src", name), encoding="utf-8") as f:
            text = f.read()
        found |= set(re.findall(r"redis\.p?call\('([A-Za-z]+)'", text))
        found |= set(re.findall(r"\b(?:argv|args)\[0\]\s*=\s*\"([A-Z]+)\"", text))
        found |= set(re.findall(r"\*\s*(?:argv|args)\[\d*\]\s*=\s*\{\s*\"([A-Z]+)\"", text))
    return {c.lower() for c in found} - {"auth"}


def shipped_acl(user):
    with open(SHIPPED, encoding="utf-8") as f:
        for line in f:
            words = line.split()
            if words[:2] == ["user", user]:
                return words[2:]
    raise AssertionError(f"no user {user} in {SHIPPED}")


def test_acl_lists_exactly_the_commands_aspida_uses():
    """A command added to the code but not to the shipped ACL would fail only in production;
    one left in the ACL after the code stopped using it is privilege nobody needs."""
    rules = shipped_acl("aspida")
    assert "-@all" in rules and rules.index("-@all") < min(
        i for i, r in enumerate(rules) if r.startswith("+")), rules
    allowed = {r[1:] for r in rules if r.startswith("+")}
    used = redis_commands_in_sources()
    # The scan must see the hot path's script and the plain commands, or it proves nothing.
    assert {"evalsha", "eval", "ping", "get", "hmget", "zadd", "rename"} <= used, used
    assert used - allowed == set(), f"commands aspida uses that the ACL denies: {used - allowed}"
    assert allowed - used == set(), f"commands the ACL allows that aspida never uses: " \
                                    f"{allowed - used}"
    assert [r for r in rules if r.startswith("~") or r.startswith("%")] == ["~aspida:*"]
    assert "resetchannels" in rules and not any(r.startswith("&") for r in rules)
    assert shipped_acl("default")[0] == "off"


def test_service_works_through_the_acl_user(iso, aspida_log):
    """Login, a cached price, a lockout count, the gate, event counters and a rate limit all run
    through the confined user, and Redis denies aspida nothing."""
    assert iso.admin("ACL", "LOG", "RESET") == "OK"
    aspida_log.mark()
    src = source_for("isolation", "service")
    status, body = readyz()
    assert status == 200 and body == {"status": "ok"}, body

    user = new_user("isolation", src)
    token = login(user, src)["access_token"]
    r = http("GET", PRICE, auth_headers(token), source=src)
    assert r.status == 200, r
    r = http("GET", API + "/auth/me", auth_headers(token), source=src)
    assert r.status == 200, r
    r = login_raw(user["email"], user["password"] + "x", src)
    assert r.status == 401, r

    anon = source_for("isolation", "rate-limit")
    statuses = [http("GET", PRICE, source=anon).status for _ in range(8)]
    assert statuses[0] == 200 and 429 in statuses, statuses

    # The state is in this Redis, under aspida's prefix.
    keys = iso.admin("--scan", "--pattern", "*").split()
    assert any(k.startswith("aspida:rl:") for k in keys), keys
    assert any(k.startswith("aspida:fail:") for k in keys), keys
    assert all(k.startswith("aspida:") for k in keys), keys
    # Nothing aspida sent, and nothing its scripts called, was refused.
    assert iso.admin("ACL", "LOG") == "", iso.admin("ACL", "LOG")
    lines = "\n".join(aspida_log.since())
    assert "NOPERM" not in lines and "rate-limit script" not in lines, lines
    assert "redis unavailable" not in lines, lines


def test_aspida_user_is_confined(iso):
    # What it may do, so that the refusals below are the ACL's and not a broken login.
    assert iso.aspida("PING") == "PONG"
    assert iso.aspida("SET", "aspida:isolation:probe", "1", "EX", "60") == "OK"
    assert iso.aspida("GET", "aspida:isolation:probe") == "1"
    for cmd in (["FLUSHALL"], ["FLUSHDB"], ["CONFIG", "GET", "dir"],
                ["CONFIG", "SET", "dir", "/tmp"], ["KEYS", "*"], ["SCAN", "0"],
                ["SHUTDOWN", "NOSAVE"], ["ACL", "SETUSER", "aspida", "+@all"], ["ACL", "LIST"],
                ["SCRIPT", "FLUSH"], ["SAVE"], ["REPLICAOF", "127.0.0.1", "1"],
                ["SELECT", "1"], ["INFO"], ["CLIENT", "LIST"], ["SUBSCRIBE", "x"]):
        out = iso.aspida(*cmd)
        assert out.startswith("NOPERM"), (cmd, out)
    out = iso.aspida("DEBUG", "SLEEP", "0")
    assert "NOPERM" in out or "not allowed" in out, out
    # Keys outside aspida:*, directly and from a script (Redis checks each redis.call too).
    for cmd in (["SET", "other:key", "1"], ["GET", "session:123"], ["DEL", "foo"],
                ["EVAL", "return redis.call('GET', KEYS[1])", "1", "other:key"]):
        out = iso.aspida(*cmd)
        assert out.startswith("NOPERM"), (cmd, out)
    out = iso.aspida("EVAL", "return redis.call('SET', 'other:key', '1')", "0")
    assert "can't access" in out or "NOPERM" in out, out
    assert iso.admin("EXISTS", "other:key") == "0"
    assert iso.admin("DBSIZE") != "0"


def test_default_user_and_other_users_are_shut_out(iso):
    assert iso.cli("PING").startswith("NOAUTH"), iso.cli("PING")
    assert "WRONGPASS" in iso.cli("PING", user="default", password="anything")
    assert "WRONGPASS" in iso.cli("PING", user="aspida", password=iso.admin_pw)
    # aspida's password alone (a one-argument AUTH, as without redis_user) logs in as the
    # default user, which is off.
    assert "WRONGPASS" in iso.cli("PING", password=iso.aspida_pw)
    # Even the operator's user may not flush or reconfigure.
    for cmd in (["FLUSHALL"], ["CONFIG", "SET", "appendonly", "no"], ["KEYS", "*"]):
        out = iso.admin(*cmd)
        assert out.startswith("NOPERM"), (cmd, out)

    st = os.stat(iso.sock)
    assert st.st_mode & 0o777 == 0o660, oct(st.st_mode)
    if not iso.root:
        return
    import grp
    assert grp.getgrgid(st.st_gid).gr_name == iso.run_group
    # The run user gets in through the group; any other system user cannot open the socket.
    out = iso.cli("PING", user="aspida", password=iso.aspida_pw,
                  as_user=(iso.run_user, iso.run_group))
    assert out == "PONG", out
    out = iso.cli("PING", user="aspida", password=iso.aspida_pw, as_user=("nobody", "nogroup"))
    assert "Permission denied" in out, out


def test_workers_need_redis_user(iso):
    """Without redis_user the workers send the password alone, as the default user: refused.
    The safeguard that makes the ACL user work is the two-argument AUTH."""
    stack = Stack(stack_env())
    changer = ConfChanger(stack)
    try:
        changer(redis_user="")
        status, body = wait_for(lambda: (lambda s: s if s[0] == 503 else None)(readyz()), 15,
                                what="/readyz 503 without redis_user")
        assert body.get("failing") == ["redis"], body
    finally:
        changer.restore()
    wait_for(lambda: readyz()[0] == 200, 15, what="/readyz 200 with redis_user back")


def test_appendonly_is_on(iso):
    assert iso.admin("CONFIG", "GET", "appendonly").split() == ["appendonly", "yes"]
    assert iso.admin("CONFIG", "GET", "appendfsync").split() == ["appendfsync", "everysec"]
    assert iso.admin("CONFIG", "GET", "maxmemory-policy").split() == \
        ["maxmemory-policy", "noeviction"]
    assert iso.admin("CONFIG", "GET", "port").split() == ["port", "0"]
    assert iso.aspida("SET", "aspida:isolation:aof", "kept", "EX", "600") == "OK"
    aofdir = os.path.join(iso.data, "appendonlydir-aspida")

    def written():
        for name in os.listdir(aofdir):
            if name.endswith(".incr.aof"):
                with open(os.path.join(aofdir, name), "rb") as f:
                    if b"aspida:isolation:aof" in f.read():
                        return True
        return False
    # appendfsync everysec: on disk within about a second.
    wait_for(written, 10, interval=0.2, what="the write in the append-only file")


# --- PostgreSQL -----------------------------------------------------------------------------------

def superuser_psql(sql):
    """psql as the superuser through the stack's peer map (the env's command, other role)."""
    words = shlex.split(stack_env()["ASPIDA_PSQL"])
    i = words.index("-U")
    words[i + 1] = "postgres"
    proc = subprocess.run(words + [sql], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, (sql, proc.stderr)
    return proc.stdout.strip()


def app_sessions():
    """aspida_app's sessions as (over the unix socket, over TCP) counts."""
    out = superuser_psql("SELECT count(*) FILTER (WHERE client_port = -1),"
                         " count(*) FILTER (WHERE client_port <> -1)"
                         " FROM pg_stat_activity WHERE usename = 'aspida_app'")
    local, tcp = out.split("|")
    return int(local), int(tcp)


def test_workers_reach_postgresql_over_the_unix_socket():
    assert "host=/" in read_conf()["db_conninfo"]
    r = http("GET", API + "/assets", source=source_for("isolation", "pg-socket"))
    assert r.status == 200, r
    local, tcp = app_sessions()
    assert local >= 1 and tcp == 0, (local, tcp)
    # TCP is refused to the runtime role whatever its password: only the socket leads in.
    rules = superuser_psql("SELECT type, auth_method FROM pg_hba_file_rules"
                           " WHERE 'aspida_app' = ANY(user_name) OR 'all' = ANY(user_name)"
                           " ORDER BY line_number")
    assert rules.splitlines()[0] == "local|peer", rules
    assert all(r.split("|")[1] == "reject" for r in rules.splitlines()
               if r.startswith("host")), rules


@pytest.fixture
def scram():
    """The runtime role on scram-sha-256 over the socket, its password in a libpq passfile
    that db_conninfo names; everything put back afterwards, the pg_hba.conf line first."""
    s = stack_dir()
    v = stack_vars()
    hba = os.path.join(s, "pg", "pg_hba.conf")
    passfile = os.path.join(s, "secrets", "pgpass_isolation")
    password = secrets.token_hex(24)
    with open(hba, encoding="utf-8") as f:
        original = f.read()
    stack = Stack(stack_env())
    changer = ConfChanger(stack)

    def write_passfile(pw):
        with open(passfile, "w", encoding="ascii") as f:
            f.write(f"{s}/run:{v['STACK_PG_PORT']}:aspida:aspida_app:{pw}\n")
        os.chmod(passfile, 0o600)
        _chown(passfile, v["STACK_RUN_USER"], v["STACK_RUN_GROUP"])

    try:
        superuser_psql(f"ALTER ROLE aspida_app PASSWORD '{password}'")
        assert superuser_psql("SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid"
                              " WHERE rolname = 'aspida_app'") == "t"
        lines = original.splitlines(keepends=True)
        at = next(i for i, ln in enumerate(lines) if ln.startswith("local"))
        lines.insert(at, "local   aspida    aspida_app                  scram-sha-256\n")
        with open(hba, "w", encoding="utf-8") as f:
            f.write("".join(lines))
        assert superuser_psql("SELECT pg_reload_conf()") == "t"
        wait_for(lambda: superuser_psql(
            "SELECT auth_method FROM pg_hba_file_rules WHERE 'aspida_app' = ANY(user_name)"
            " AND type = 'local' ORDER BY line_number LIMIT 1") == "scram-sha-256", 10,
            what="the scram line loaded")
        assert superuser_psql("SELECT count(*) FROM pg_hba_file_rules"
                              " WHERE error IS NOT NULL") == "0"
        write_passfile(password)
        conninfo = (f"host={s}/run port={v['STACK_PG_PORT']} dbname=aspida user=aspida_app"
                    f" passfile={passfile}")
        changer(db_conninfo=conninfo)
        yield types.SimpleNamespace(password=password, write=write_passfile)
    finally:
        try:
            with open(hba, "w", encoding="utf-8") as f:
                f.write(original)
            superuser_psql("SELECT pg_reload_conf()")
            superuser_psql("ALTER ROLE aspida_app PASSWORD NULL")
        finally:
            try:
                changer.restore()
            finally:
                if os.path.exists(passfile):
                    os.unlink(passfile)
                stack.call("stack_heal")


def test_scram_over_the_unix_socket(scram):
    src = source_for("isolation", "scram")
    wait_for(lambda: readyz()[0] == 200, 15, what="/readyz 200 with scram")
    user = new_user("isolation-scram", src)
    assert login(user, src)["access_token"]
    local, tcp = app_sessions()
    assert local >= 1 and tcp == 0, (local, tcp)
    # Peer no longer lets the run user in as aspida_app: the password is what the workers use.
    words = shlex.split(stack_env()["ASPIDA_PSQL"])
    words[words.index("-U") + 1] = "aspida_app"
    proc = subprocess.run(words + ["SELECT 1"], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, PGPASSWORD="", PGPASSFILE="/nonexistent"))
    assert proc.returncode != 0 and "password" in proc.stderr, proc.stderr

    # A wrong password: once the workers' sessions end, they cannot come back.
    pg_log = os.path.join(stack_dir(), "log", "postgres.log")
    mark = os.path.getsize(pg_log)
    scram.write("not-" + secrets.token_hex(8))
    superuser_psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                   " WHERE usename = 'aspida_app'")

    def refused():
        # Each request makes the workers try again (after their back-off), with the passfile.
        status, body = readyz()
        with open(pg_log, "rb") as f:
            f.seek(mark)
            logged = b'password authentication failed for user "aspida_app"' in f.read()
        return (status, body) if logged and status == 503 else None
    status, body = wait_for(refused, 15, interval=0.2,
                            what="/readyz 503 and PostgreSQL refusing the wrong password")
    assert body.get("failing") == ["postgresql"], body

    # The right password again: the workers reconnect on their own, without a restart.
    scram.write(scram.password)
    wait_for(lambda: readyz()[0] == 200, 20, what="/readyz 200 once the password is right")
    r = http("GET", API + "/assets", source=source_for("isolation", "scram-back"))
    assert r.status == 200, r


def test_redis_user_over_tcp(redis):
    """redis_user works over TCP too (the stack's own Redis, with a user added for the test)."""
    s = stack_dir()
    v = stack_vars()
    pw_file = os.path.join(s, "secrets", "redis_isolation_tcp")
    password = secrets.token_hex(32)
    stack = Stack(stack_env())
    changer = ConfChanger(stack)
    try:
        assert redis("ACL", "SETUSER", "aspida-tcp", "reset", "on", ">" + password,
                     "~aspida:*", "+@all", "-@dangerous") == "OK"
        with open(pw_file, "w", encoding="ascii") as f:
            f.write(password)
        os.chmod(pw_file, 0o600)
        _chown(pw_file, v["STACK_RUN_USER"], v["STACK_RUN_GROUP"])
        changer(redis_user="aspida-tcp", redis_password_file=pw_file, redis_socket="")
        wait_for(lambda: readyz()[0] == 200, 15, what="/readyz 200 over TCP as aspida-tcp")
        r = http("GET", PRICE, source=source_for("isolation", "tcp"))
        assert r.status == 200, r
        clients = redis("CLIENT", "LIST")
        assert re.search(r"addr=127\.0\.0\.1:\d+ .* user=aspida-tcp ", clients), clients
    finally:
        try:
            changer.restore()
        finally:
            redis("ACL", "DELUSER", "aspida-tcp")
            if os.path.exists(pw_file):
                os.unlink(pw_file)


def shipped_lines(name, uncomment=None):
    """The directives of a shipped example; `uncomment` names a commented-out line to enable."""
    out = []
    with open(os.path.join(REPO, name), encoding="utf-8") as f:
        for line in f:
            if uncomment and line.startswith("#") and uncomment in line:
                line = line[1:]
            if line.strip() and not line.startswith("#"):
                out.append(line)
    return out


def test_shipped_pg_files_let_the_workers_in():
    """The shipped pg_hba and pg_ident lines, loaded into the stack's PostgreSQL in front of its
    own (below a superuser line, as the file says): the workers reconnect through the shipped
    peer map, and the rules say what the files promise."""
    s = stack_dir()
    v = stack_vars()
    hba_path = os.path.join(s, "pg", "pg_hba.conf")
    ident_path = os.path.join(s, "pg", "pg_ident.conf")
    with open(hba_path, encoding="utf-8") as f:
        hba = f.read()
    with open(ident_path, encoding="utf-8") as f:
        ident = f.read()
    shipped_hba = shipped_lines("pg_hba-aspida.conf.example")
    shipped_ident = shipped_lines("pg_ident-aspida.conf.example")
    assert any("peer map=aspida" in ln for ln in shipped_hba), shipped_hba
    try:
        with open(hba_path, "w", encoding="utf-8") as f:
            f.write("local all postgres peer map=stack\n" + "".join(shipped_hba) + hba)
        with open(ident_path, "w", encoding="utf-8") as f:
            f.write(ident + "".join(shipped_ident))
        assert superuser_psql("SELECT pg_reload_conf()") == "t"
        assert superuser_psql("SELECT count(*) FROM pg_hba_file_rules"
                              " WHERE error IS NOT NULL") == "0"
        assert superuser_psql("SELECT count(*) FROM pg_ident_file_mappings"
                              " WHERE error IS NOT NULL") == "0"
        rules = superuser_psql(
            "SELECT type, database, user_name, auth_method, options FROM pg_hba_file_rules"
            " WHERE line_number > 1 AND line_number <= %d ORDER BY line_number"
            % (1 + len(shipped_hba))).splitlines()
        assert rules == ["local|{aspida}|{aspida_app,aspida_owner}|peer|{map=aspida}",
                         "local|{aspida}|{all}|reject|", "host|{aspida}|{all}|reject|"], rules
        maps = superuser_psql("SELECT map_name, sys_name, pg_username FROM pg_ident_file_mappings"
                              " WHERE map_name = 'aspida' ORDER BY line_number").splitlines()
        assert maps == ["aspida|aspida|aspida_app", "aspida|aspida|aspida_owner"], maps
        if v["STACK_RUN_USER"] != "aspida":
            return  # the shipped map names the system user aspida: only a root-run stack has it
        superuser_psql("SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                       " WHERE usename = 'aspida_app'")

        def back():
            status, _ = readyz()
            return status == 200 and http("GET", API + "/assets").status == 200
        wait_for(back, 20, interval=0.2, what="the workers back through the shipped peer map")
        assert app_sessions()[0] >= 1
        # The owner (aspidactl's role) through the same map; the stack's psql runs as aspida.
        owner = shlex.split(stack_env()["ASPIDA_PSQL"])
        proc = subprocess.run(owner + ["SELECT current_user"], capture_output=True, text=True,
                              timeout=60)
        assert proc.stdout.strip() == "aspida_owner", proc.stderr
    finally:
        with open(hba_path, "w", encoding="utf-8") as f:
            f.write(hba)
        with open(ident_path, "w", encoding="utf-8") as f:
            f.write(ident)
        superuser_psql("SELECT pg_reload_conf()")
