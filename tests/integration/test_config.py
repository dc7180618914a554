"""`aspida -n` (check the configuration and the secrets, then exit) on the stack's own files and on
broken copies of them (DESIGN.md, "Configuration" and "Hardening"): an unknown key is reported as
FILE:LINE, a secret file that is exposed, foreign, short or missing names the file and the reason,
and aspida refuses to run as root.

aspida runs as the stack's run user, with the stack's clean environment (sanitizer report paths
included), exactly as ASPIDA_CTL runs aspidactl (runuser when the tests run as root; see
tests/stack/stack.sh). Broken copies live in the stack's tmp/ directory, owned by the run user.
"""

import os
import pwd
import re
import subprocess
import uuid

import pytest

from conftest import stack_env
from aspida_util import (as_run_user_argv, run_user, sanitizer_build, sanitizer_reports, stack_dir,
                         stack_env_vars)


def run_aspida(*args, as_root=False):
    prefix, aspida = as_run_user_argv("aspida")
    if as_root:
        argv = ["env", "-i", *stack_env_vars(), aspida, *args]
    else:
        argv = [*prefix, aspida, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd="/")


@pytest.fixture
def scratch():
    """Files made here belong to the run user and are removed afterwards."""
    made = []
    user = pwd.getpwnam(run_user())

    def make(name, content, mode=0o600, owner=None):
        path = os.path.join(stack_dir(), "tmp", f"test-{uuid.uuid4().hex[:8]}-{name}")
        with open(path, "w", encoding="utf-8") as f:
            f.write(content)
        os.chmod(path, mode)
        uid, gid = owner if owner is not None else (user.pw_uid, user.pw_gid)
        if os.geteuid() == 0:
            os.chown(path, uid, gid)
        made.append(path)
        return path
    yield make
    for path in made:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def _conf_path():
    return stack_env()["ASPIDA_CONF"]


def conf_text():
    with open(_conf_path(), encoding="utf-8") as f:
        return f.read()


def conf_copy(scratch, replace=None, append=None):
    """A copy of the stack's aspida.conf, with cursor_secret_file replaced and/or lines appended;
    returns (path, number of the first appended line)."""
    lines = conf_text().splitlines()
    if replace is not None:
        lines = [f"cursor_secret_file = {replace}" if re.match(r"\s*cursor_secret_file\s*=", line)
                 else line for line in lines]
        assert any(line == f"cursor_secret_file = {replace}" for line in lines)
    first = len(lines) + 1
    lines += append or []
    return scratch("aspida.conf", "\n".join(lines) + "\n", mode=0o640), first


def test_stack_config_is_ok():
    r = run_aspida("-f", _conf_path(), "-n")
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert "configuration OK" in r.stdout


def test_unknown_key_names_file_and_line(scratch):
    path, line = conf_copy(scratch, append=["# a comment line", "no_such_key = 1"])
    r = run_aspida("-f", path, "-n")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert f"{path}:{line + 1}: " in r.stderr, r.stderr
    assert "no_such_key" in r.stderr and "unknown" in r.stderr, r.stderr
    assert "configuration OK" not in r.stdout


@pytest.mark.parametrize("bad,what", [
    ("workers = 0", "workers"),
    ("workers = many", "workers"),
    ("db_query_timeout_ms = 5", "db_query_timeout_ms"),
    ("redis_failure = maybe", "redis_failure"),
    ("cors_origins = *", "cors_origins"),
    ("just some words", ""),
])
def test_bad_values_name_file_and_line(scratch, bad, what):
    path, line = conf_copy(scratch, append=[bad])
    r = run_aspida("-f", path, "-n")
    assert r.returncode == 1, (bad, r.stdout, r.stderr)
    assert f"{path}:{line}: " in r.stderr, (bad, r.stderr)
    assert what in r.stderr


def secret_case(scratch, case):
    good = "a" * 64 + "\n"
    if case == "mode 0644":
        return scratch("secret", good, mode=0o644), r"readable by group or others.*0644"
    if case == "mode 0660":
        return scratch("secret", good, mode=0o660), r"by group or others.*0660"
    if case == "wrong owner":
        # Root's, readable through the run user's group so that the owner check (not open())
        # is what refuses it.
        gid = pwd.getpwnam(run_user()).pw_gid
        return scratch("secret", good, mode=0o640, owner=(0, gid)), r"owned by uid 0"
    if case == "12 bytes":
        return scratch("secret", "abcdefghijkl", mode=0o600), r"is 12 bytes.*at least"
    if case == "missing":
        path = os.path.join(stack_dir(), "tmp", f"test-{uuid.uuid4().hex[:8]}-absent")
        return path, r"does not exist"
    if case == "symlink":
        target = scratch("secret", good, mode=0o600)
        link = target + ".link"
        os.symlink(target, link)
        if os.geteuid() == 0:
            user = pwd.getpwnam(run_user())
            os.lchown(link, user.pw_uid, user.pw_gid)
        scratch_links.append(link)
        return link, r"symbolic link"
    if case == "directory":
        return os.path.join(stack_dir(), "tmp"), r"not a regular file"
    raise AssertionError(case)


scratch_links = []


@pytest.fixture(autouse=True)
def _remove_links():
    yield
    while scratch_links:
        try:
            os.unlink(scratch_links.pop())
        except FileNotFoundError:
            pass


@pytest.mark.parametrize("case", ["mode 0644", "mode 0660", "wrong owner", "12 bytes", "missing",
                                  "symlink", "directory"])
def test_bad_secret_file_is_refused_naming_file_and_reason(scratch, case):
    if case == "wrong owner" and os.geteuid() != 0:
        pytest.skip("making a file of another owner needs root")
    secret, reason = secret_case(scratch, case)
    path, _ = conf_copy(scratch, replace=secret)
    r = run_aspida("-f", path, "-n")
    assert r.returncode == 1, (case, r.stdout, r.stderr)
    assert secret in r.stderr, (case, r.stderr)
    assert re.search(reason, r.stderr), (case, r.stderr)
    assert "configuration OK" not in r.stdout


def test_good_secret_copy_is_ok(scratch):
    # The control for the cases above: the same copy with a proper secret passes.
    secret = scratch("secret", "b" * 64 + "\n", mode=0o600)
    path, _ = conf_copy(scratch, replace=secret)
    r = run_aspida("-f", path, "-n")
    assert r.returncode == 0, (r.stdout, r.stderr)


def test_missing_config_file_is_refused(scratch):
    path = os.path.join(stack_dir(), "tmp", "no-such.conf")
    r = run_aspida("-f", path, "-n")
    assert r.returncode == 1 and path in r.stderr, (r.stdout, r.stderr)


def test_refuses_to_run_as_root():
    if os.geteuid() != 0:
        pytest.skip("needs root")
    r = run_aspida("-f", _conf_path(), "-n", as_root=True)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert "refusing to run as root" in r.stderr
    assert "configuration OK" not in r.stdout
    # Not even the configuration is read as root: the same refusal for a file that does not exist.
    r = run_aspida("-f", "/nonexistent/aspida.conf", "-n", as_root=True)
    assert r.returncode == 1 and "refusing to run as root" in r.stderr, r.stderr


@pytest.mark.skipif(not sanitizer_build(), reason="needs the sanitizer build")
def test_refused_start_leaves_no_sanitizer_report(scratch):
    path, _ = conf_copy(scratch, append=["no_such_key = 1"])
    before = sanitizer_reports()
    r = run_aspida("-f", path, "-n")
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert sanitizer_reports() - before == set()
