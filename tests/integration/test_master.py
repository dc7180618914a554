"""aspida's own pre-fork master (`aspida -l SOCKET -w N`, DESIGN.md "Process model"): SIGHUP replaces
every worker while serving goes on; a configuration that does not load is refused on SIGHUP and
the old workers keep serving; SIGTERM stops the master and its workers and removes the socket.

Only for a stack in master mode (ASPIDA_MODE=master in its env file): `./quickstart test` runs
them with `-m "smoke or master"` on its master-mode stack and leaves them out (`-m "not master"`)
elsewhere; a hand run against another mode skips the module.
SIGTERM goes last: it stops the workers, and the `stack` fixture starts them again.
"""

import os
import re
import signal
import time

import pytest

from conftest import stack_env
from aspida_util import Load, expected_workers, master_pid, pid_alive, stack_dir, wait_for, wait_workers

# Deselected by `-m "not master"` everywhere but the master-mode run; a hand run against another
# mode skips them.
pytestmark = [pytest.mark.master,
              pytest.mark.skipif(stack_env().get("ASPIDA_MODE") != "master",
                                 reason="needs a stack in master mode (ASPIDA_MODE=master)")]


def the_master():
    pid = master_pid()
    assert pid is not None, "no master running"
    return pid


def test_sighup_replaces_every_worker_while_serving(http, aspida_log):
    master = the_master()
    before = set(wait_workers())
    # Load that runs until stopped: before, during and after the reload.
    load = Load("/api/v1/price/BTC", 10 ** 6, threads=2).start()
    wait_for(lambda: load.done() >= 50, 30, interval=0.002, what="load under way")
    os.kill(master, signal.SIGHUP)

    def replaced():
        pids = set(wait_workers(timeout=15))
        return pids if not pids & before else None
    after = wait_for(replaced, 20, interval=0.05, what="every worker replaced")
    mark = load.done()
    wait_for(lambda: load.done() >= mark + 100, 30, interval=0.01, what="load after the reload")
    load.stop()
    load.join()
    assert load.failures() == [], load.failures()[:10]
    assert len(after) == expected_workers()
    assert the_master() == master, "the master itself stays"
    wait_for(lambda: any("configuration reloaded" in line for line in aspida_log.since()), 10,
             what="the reload logged")
    for _ in range(2 * expected_workers()):
        assert http("GET", "/api/v1/price/BTC").status == 200


def test_sighup_with_a_bad_config_keeps_the_old_workers(http, stack, aspida_log):
    master = the_master()
    before = set(wait_workers())
    stack.stack_conf_set("no_such_key", "1")
    try:
        os.kill(master, signal.SIGHUP)
        lines = wait_for(lambda: [line for line in aspida_log.since() if "reload refused" in line],
                         10, what="the refusal logged")
        assert re.search(r"aspida\.conf:[0-9]+: unknown key \"no_such_key\"", lines[0]), lines
        time.sleep(0.3)  # a replacement would have begun by now
        assert set(wait_workers()) == before, "workers were replaced despite the refusal"
        load = Load("/api/v1/price/BTC", 40, threads=2).start()
        load.join()
        assert load.failures() == []
        assert the_master() == master
    finally:
        stack.stack_conf_set("no_such_key", "")
    # The fixed file loads again.
    os.kill(master, signal.SIGHUP)
    wait_for(lambda: not set(wait_workers()) & before, 20, what="workers replaced after the fix")


def test_sigterm_stops_master_and_workers_and_removes_the_socket(http, stack, aspida_log):
    master = the_master()
    workers = wait_workers()
    sock = os.path.join(stack_dir(), "run", "aspida.sock")
    assert os.path.exists(sock)
    stack.call("true")  # the fixture now heals (restarts the workers) after this test
    os.kill(master, signal.SIGTERM)
    wait_for(lambda: not pid_alive(master), 30, what="the master exited")
    assert not any(pid_alive(p) for p in workers), "a worker outlived its master"
    assert not os.path.exists(sock), "the socket was left behind"
    assert any("stopped" in line for line in aspida_log.since())
    # lighttpd answers for the missing backend itself; nothing hangs.
    r = http("GET", "/api/v1/price/BTC", timeout=20)
    assert r.status >= 500 and r.header("X-Request-Id") is None, r
    stack.workers_start()
    wait_workers()
    # lighttpd may hold the backend disabled for a moment after the failures.
    wait_for(lambda: http("GET", "/api/v1/price/BTC").status == 200, 15, interval=0.1,
             what="serving again after a restart")
