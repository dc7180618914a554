"""The workers' hardening (DESIGN.md, "Hardening"), read from /proc of the live workers, in every
way of spawning them: not root, not dumpable, no core files, the memory cap (not in sanitizer
builds), and the seccomp allow-list in force (Seccomp: 2, filter mode, with NoNewPrivs).

That a forbidden system call kills a filtered process is tests/unit/check_sandbox.c's part: no
request can make a worker do one, on purpose. That `aspida -n` refuses root is in test_config.py.
Everything else in the suite passing with these workers is the proof that the allow-list is enough.
"""

import os

import pytest

from aspida_util import conf_int, read_conf, sanitizer_build, wait_workers


def proc_fields(pid, name):
    """/proc/PID/<name> ("Key:\tvalue" lines) as a dict."""
    out = {}
    with open(f"/proc/{pid}/{name}", encoding="utf-8") as f:
        for line in f:
            key, sep, value = line.partition(":")
            if sep:
                out[key.strip()] = value.strip()
    return out


def limit(pid, what):
    """(soft, hard) of one line of /proc/PID/limits, e.g. "Max core file size"."""
    with open(f"/proc/{pid}/limits", encoding="utf-8") as f:
        for line in f:
            if line.startswith(what):
                fields = line[len(what):].split()
                return fields[0], fields[1]
    raise AssertionError(f"no {what!r} in /proc/{pid}/limits")


def sandbox_on():
    return read_conf().get("sandbox", "yes") in ("yes", "true", "on", "1")


@pytest.mark.smoke
def test_workers_are_filtered_and_not_root():
    if not sandbox_on():
        pytest.skip("this stack sets sandbox = no")
    for pid in wait_workers():
        st = proc_fields(pid, "status")
        # Filter mode (2), with no new privileges: the allow-list is loaded.
        assert st["Seccomp"] == "2", (pid, st.get("Seccomp"))
        assert st["NoNewPrivs"] == "1", (pid, st.get("NoNewPrivs"))
        # Real, effective, saved and filesystem ids: none is root.
        uids = [int(u) for u in st["Uid"].split()]
        gids = [int(g) for g in st["Gid"].split()]
        assert 0 not in uids and 0 not in gids, (pid, uids, gids)


@pytest.mark.smoke
def test_workers_are_not_dumpable_and_write_no_core():
    for pid in wait_workers():
        uid = int(proc_fields(pid, "status")["Uid"].split()[0])
        # A process that is not dumpable has its /proc files owned by root, whoever runs it.
        assert uid != 0
        assert os.stat(f"/proc/{pid}/status").st_uid == 0, f"worker {pid} is dumpable"
        assert limit(pid, "Max core file size") == ("0", "0"), pid


@pytest.mark.smoke
def test_workers_have_the_memory_cap():
    mb = conf_int("memory_limit_mb", 512)
    for pid in wait_workers():
        soft, hard = limit(pid, "Max address space")
        if sanitizer_build() or mb == 0:
            # ASan reserves terabytes of address space: no cap there (nor when it is 0).
            assert (soft, hard) == ("unlimited", "unlimited"), (pid, soft, hard)
        else:
            assert (soft, hard) == (str(mb * 1024 * 1024),) * 2, (pid, soft, hard)
