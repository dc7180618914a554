"""aspidactl's command line: help for every command, usage errors and the exit statuses of
aspidactl(8)'s EXIT STATUS, against the real stack.

The exit statuses: 0 done; 1 a failure (configuration, secrets, PostgreSQL, Redis, files) a retry
may cure; 2 a usage error, reported on standard error before anything is done; 3 refused: nothing
by that name, already there, a weak password, rejected lines.
"""

import os
import pwd
import re
import uuid

import pytest

from conftest import stack_env
from aspida_util import run_user, stack_dir

# Issue 6: the complete command set.
COMMANDS = ["migrate", "check-config", "user", "unlock", "revoke-sessions", "key", "ip", "events",
            "alerts", "import-prices", "tick"]

STRONG_PASSWORD = "Correct-Horse-Battery-7319"


def _overview_commands(text):
    """The command names the overview of `aspidactl --help` lists."""
    listing = text.partition("Commands:\n")[2].partition("\n\n")[0]
    return {m.group(1) for m in re.finditer(r"^\s+aspidactl ([a-z-]+)", listing, re.M)}


@pytest.fixture
def scratch():
    """Files made here belong to the run user and are removed afterwards."""
    made = []
    user = pwd.getpwnam(run_user())

    def make(name, content, mode=0o640):
        path = os.path.join(stack_dir(), "tmp", f"test-{uuid.uuid4().hex[:8]}-{name}")
        with open(path, "w", encoding="utf-8") as f:
            f.write(content)
        os.chmod(path, mode)
        if os.geteuid() == 0:
            os.chown(path, user.pw_uid, user.pw_gid)
        made.append(path)
        return path
    yield make
    for path in made:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def conf_with(scratch, **replace):
    """A copy of the stack's aspida.conf with some keys' values replaced (or added)."""
    with open(stack_env()["ASPIDA_CONF"], encoding="utf-8") as f:
        lines = f.read().splitlines()
    done = set()
    for i, line in enumerate(lines):
        key = line.split("=", 1)[0].strip()
        if key in replace:
            lines[i] = f"{key} = {replace[key]}"
            done.add(key)
    lines += [f"{key} = {value}" for key, value in replace.items() if key not in done]
    return scratch("aspida.conf", "\n".join(lines) + "\n")


def email():
    return f"ctl-{uuid.uuid4().hex[:10]}@example.com"


# --- help ----------------------------------------------------------------------------------

@pytest.mark.parametrize("args", [["--help"], ["-h"], ["help"]])
def test_overview_lists_every_command(ctl, args):
    r = ctl(*args)
    assert r.returncode == 0, (args, r.stdout, r.stderr)
    assert r.stderr == "", r.stderr
    assert r.stdout.startswith("usage: aspidactl [-f file] command"), r.stdout
    missing = set(COMMANDS) - _overview_commands(r.stdout)
    assert not missing, (missing, r.stdout)
    assert "Exit status" in r.stdout and "2 usage error" in r.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(ctl, command):
    outputs = []
    for args in ([command, "--help"], [command, "-h"], ["help", command]):
        r = ctl(*args)
        assert r.returncode == 0, (args, r.stdout, r.stderr)
        assert r.stderr == "", (args, r.stderr)
        outputs.append(r.stdout)
    text = outputs[0]
    assert outputs[1] == text and outputs[2] == text, outputs
    assert text.startswith(f"usage: aspidactl [-f file] {command}"), text
    # Every usage line names the command; then one paragraph of description.
    usage, _, rest = text.partition("\n\n")
    for line in usage.splitlines():
        assert re.match(rf"^(usage:|      ) aspidactl \[-f file\] {re.escape(command)}( |$)", line), line
    description = rest.split("\n\n")[0]
    assert len(description) >= 60 and "aspidactl(8)" not in description, description


def test_help_after_arguments_and_without_configuration(ctl):
    r = ctl("ip", "block", "--help")
    assert r.returncode == 0 and r.stdout.startswith("usage: aspidactl [-f file] ip block"), \
        (r.stdout, r.stderr)
    # Help reads no configuration: a missing file does not stop it.
    r = ctl("-f", "/nonexistent/aspida.conf", "key", "--help")
    assert r.returncode == 0 and "key revoke ID" in r.stdout, (r.stdout, r.stderr)
    r = ctl("-f", "/nonexistent/aspida.conf", "--help")
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_every_listed_command_has_help(ctl):
    """Commands added later get help from the same table row."""
    listed = _overview_commands(ctl("--help").stdout)
    assert listed, "no command listed"
    for command in sorted(listed):
        r = ctl("help", command)
        assert r.returncode == 0 and r.stdout.startswith(
            f"usage: aspidactl [-f file] {command}"), (command, r.stdout, r.stderr)


# --- usage errors: exit 2, standard error, nothing done -------------------------------------

@pytest.mark.parametrize("args,names", [
    ([], "usage: aspidactl"),
    (["frobnicate"], "aspidactl: frobnicate: no such command"),
    (["help", "frobnicate"], "aspidactl: help: frobnicate: no such command"),
    (["help", "key", "ip"], "aspidactl: help:"),
    (["-x", "key", "list"], "usage: aspidactl"),
])
def test_unknown_command_is_a_usage_error(ctl, args, names):
    r = ctl(*args)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert r.stdout == "", (args, r.stdout)
    assert names in r.stderr, (args, r.stderr)


@pytest.mark.parametrize("args,says", [
    (["migrate", "--bogus"], "wrong arguments"),
    (["check-config", "extra"], "wrong arguments"),
    (["tick", "now"], "wrong arguments"),
    (["user"], "wrong arguments"),
    (["user", "delete", "a@example.com"], "wrong arguments"),
    (["user", "add", "a@example.com", "--role", "admin"], "wrong arguments"),
    (["user", "add", "not-an-email"], "not a valid email address"),
    (["unlock"], "wrong arguments"),
    (["unlock", "a@example.com", "b@example.com"], "wrong arguments"),
    (["unlock", "no at sign"], "not a valid email address"),
    (["revoke-sessions"], "wrong arguments"),
    (["revoke-sessions", "@"], "not a valid email address"),
    (["key"], "wrong arguments"),
    (["key", "list", "x@"], "not a valid email address"),
    (["key", "revoke"], "wrong arguments"),
    (["key", "revoke", "12a"], "not a key id"),
    (["key", "revoke", "-1"], "not a key id"),
    (["key", "revoke", "1" * 19], "not a key id"),
    (["ip"], "wrong arguments"),
    (["ip", "block"], "wrong arguments"),
    (["ip", "block", "300.1.2.3"], "not an address or CIDR block"),
    (["ip", "block", "192.0.2.0/33"], "not an address or CIDR block"),
    (["ip", "block", "192.0.2.0/24", "--minutes"], "wrong arguments"),
    (["ip", "block", "192.0.2.0/24", "--minutes", "525601"], "from 1 to 525600"),
    (["ip", "block", "192.0.2.0/24", "--until", "tomorrow"], "wrong arguments"),
    (["ip", "unblock", "seven"], "not a block id"),
    (["import-prices"], "wrong arguments"),
    (["import-prices", "prices.csv"], "wrong arguments"),
    (["import-prices", "prices.csv", "--source", "Bad"], "a source name is"),
    (["events", "--limit", "0"], "--limit is 1 to 1000"),
    (["events", "--since", "yesterday"], "--since is an RFC 3339 time"),
    (["events", "--type", "Login-Failure"], "--type is an event kind"),
    (["events", "--type"], "wrong arguments"),
    (["alerts", "--type", "x"], "wrong arguments"),
    (["alerts", "--limit", "1001"], "--limit is 1 to 1000"),
])
def test_bad_arguments_are_usage_errors(ctl, args, says):
    r = ctl(*args)
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    assert r.stdout == "", (args, r.stdout)
    command = args[0]
    assert r.stderr.startswith(f"aspidactl: {command}: "), (args, r.stderr)
    assert says in r.stderr, (args, r.stderr)
    assert f'aspidactl {command} --help' in r.stderr, (args, r.stderr)


def test_usage_error_does_nothing(ctl, psql):
    reason = f"ctl-test-{uuid.uuid4().hex[:8]}"
    r = ctl("ip", "block", "198.51.100.0/24", "--reason", reason, "--minutes", "0")
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert psql(f"SELECT count(*) FROM ip_blocks WHERE reason = '{reason}'") == "0"
    # The same command, well formed, blocks; unblocking it twice is refused the second time.
    r = ctl("ip", "block", "198.51.100.0/24", "--reason", reason, "--minutes", "1")
    assert r.returncode == 0, (r.stdout, r.stderr)
    block_id = psql(f"SELECT id FROM ip_blocks WHERE reason = '{reason}'")
    assert ctl("ip", "unblock", block_id).returncode == 0
    r = ctl("ip", "unblock", block_id)
    assert r.returncode == 3 and r.stdout == "", (r.stdout, r.stderr)
    assert f"aspidactl: ip: no active block {block_id}" in r.stderr, r.stderr


# --- refused: exit 3 ------------------------------------------------------------------------

def test_nothing_by_that_name_is_refused(ctl):
    who = email()
    r = ctl("revoke-sessions", who)
    assert r.returncode == 3 and r.stdout == "", (r.stdout, r.stderr)
    assert f"aspidactl: revoke-sessions: no user {who}" in r.stderr, r.stderr
    r = ctl("key", "revoke", "999999999999")
    assert r.returncode == 3 and r.stdout == "", (r.stdout, r.stderr)
    assert "aspidactl: key: no live key 999999999999" in r.stderr, r.stderr
    r = ctl("ip", "unblock", "999999999999")
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "aspidactl: ip: no active block 999999999999" in r.stderr, r.stderr


def test_user_add_refusals(ctl, psql):
    who = email()
    r = ctl("user", "add", who, input="password\n")
    assert r.returncode == 3, (r.stdout, r.stderr)
    assert "aspidactl: user: weak password" in r.stderr, r.stderr
    assert psql(f"SELECT count(*) FROM users WHERE email = '{who}'") == "0"
    r = ctl("user", "add", who, input=STRONG_PASSWORD + "\n")
    assert r.returncode == 0 and f"added user {who}" in r.stdout, (r.stdout, r.stderr)
    r = ctl("user", "add", who, input=STRONG_PASSWORD + "\n")
    assert r.returncode == 3 and r.stdout == "", (r.stdout, r.stderr)
    assert f"aspidactl: user: {who} is already registered" in r.stderr, r.stderr
    # A user that exists: the incident tool works on it.
    r = ctl("revoke-sessions", who)
    assert r.returncode == 0, (r.stdout, r.stderr)


# --- runtime failures: exit 1 ---------------------------------------------------------------

def test_database_unreachable_is_a_failure(ctl, scratch):
    conf = conf_with(scratch, db_owner_conninfo="host=/nonexistent port=1 dbname=aspida "
                     "user=aspida_owner connect_timeout=2")
    for args in (["revoke-sessions", email()], ["key", "revoke", "1"], ["ip", "list"],
                 ["user", "list"]):
        r = ctl("-f", conf, *args)
        assert r.returncode == 1 and r.stdout == "", (args, r.stdout, r.stderr)
        assert r.stderr.startswith(f"aspidactl: {args[0]}: cannot connect to the database"), \
            (args, r.stderr)


def test_redis_unreachable_is_a_failure(ctl, scratch):
    # A socket that does not exist: aspida prefers redis_socket to redis_host and redis_port.
    conf = conf_with(scratch, redis_socket="/nonexistent/redis.sock")
    r = ctl("-f", conf, "unlock", email())
    assert r.returncode == 1 and r.stdout == "", (r.stdout, r.stderr)
    # The library's own log line may come first; aspidactl's message names the command.
    assert "aspidactl: unlock: Redis is not reachable\n" in r.stderr, r.stderr
    r = ctl("-f", conf, "tick")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "aspidactl: tick: PostgreSQL or Redis is not reachable\n" in r.stderr, r.stderr


def test_bad_configuration_is_a_failure(ctl, scratch):
    conf = scratch("aspida.conf", "no_such_key = 1\n")
    r = ctl("-f", conf, "user", "list")
    assert r.returncode == 1 and r.stdout == "", (r.stdout, r.stderr)
    assert r.stderr.startswith("aspidactl: user: ") and "no_such_key" in r.stderr, r.stderr
    r = ctl("-f", "/nonexistent/aspida.conf", "check-config")
    assert r.returncode == 1 and "/nonexistent/aspida.conf" in r.stderr, (r.stdout, r.stderr)

