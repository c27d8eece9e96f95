"""Database outage drill: PostgreSQL stopped (its processes frozen with
SIGSTOP: connections hang), then its port closed (shut down: connections
refused), while a resource is provisioned: DatabaseUnreachable, retried with
a growing backoff, Ready when the server is back; then the operator's
sessions are cut again and again and its descriptors and resident memory
are compared before and after the reconnects."""
import json
import os
import re
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from drill import Drill, figure, proc_fds, proc_rss_kb, scale  # noqa: E402
from e2e import condition, wait_until  # noqa: E402
from test_controller import resource  # noqa: E402

FROZEN = scale(2, 15)       # seconds with the server frozen (connect timeout is 10 s)
CLOSED = scale(4.5, 40)       # seconds with the port closed
RECONNECTS = scale(12, 100)


class DbOutageDrill(Drill):
    extra = "resyncSeconds: 1\n"

    def tearDown(self):
        self.thaw()
        super().tearDown()

    def master_pid(self):
        with open(os.path.join(self.pg.dir, "data", "postmaster.pid")) as f:
            return int(f.readline())

    def freeze(self):
        # The postmaster first, so that it forks no backend after the list of
        # its children; a child may still end between the list and its signal.
        master = self.master_pid()
        os.kill(master, signal.SIGSTOP)
        self.frozen = [master]
        kids = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
        for p in (int(k) for k in kids.split()):
            try:
                os.kill(p, signal.SIGSTOP)
                self.frozen.append(p)
            except ProcessLookupError:
                pass

    def thaw(self):
        for p in getattr(self, "frozen", []):
            try:
                os.kill(p, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self.frozen = []

    def status_patches(self, name):
        return [r["ts"] for r in self.sim.requests() if r["method"] == "PATCH" and
                r["path"].endswith("/appdatabases/%s/status" % name)]

    def quiet_fds(self, pid):
        """Open descriptors between runs: the least of a second's readings (a
        run in flight holds its target database's connection)."""
        out = []
        for _ in range(10):
            out.append(proc_fds(pid))
            time.sleep(0.1)
        return min(out)

    def connections(self):
        return len(re.findall(r"connection authorized: user=%s\b" % re.escape(self.pg.admin),
                              self.pg.log_text()))

    def test_stopped_then_closed_then_back(self):
        pg, sim, op = self.pg, self.sim, self.op
        pg.superuser_sql("alter system set log_connections = on")
        pg.superuser_sql("select pg_catalog.pg_reload_conf()")
        sim.apply(resource("d0", "dbout"))
        wait_until(lambda: (condition(sim.get("appdb", "d0", "dbout"), "Ready") or {})
                   .get("status") == "True", 60, what="d0 Ready")
        # Stopped: every server process frozen; a new resource arrives.
        sim.ctl("clear-requests")
        self.freeze()
        t0 = time.monotonic()
        sim.apply(resource("d1", "dbout"))
        time.sleep(FROZEN)
        # Port closed: the server shut down.
        self.thaw()
        pg.pause()
        closed = time.monotonic()

        def unreachable():
            c = condition(sim.get("appdb", "d1", "dbout"), "Ready")
            return c if c and c["reason"] == "DatabaseUnreachable" else None
        wait_until(unreachable, 30, what="d1 DatabaseUnreachable")
        # Three gaps at least (backoffs of 1, 2, 4 s, each plus the run's own
        # time, which the load stretches): two can grow by less than 1.5 times.
        wait_until(lambda: len(self.status_patches("d1")) >= 4, 60, interval=0.5,
                   what="four attempts while the port is closed")
        time.sleep(max(0.0, CLOSED - (time.monotonic() - closed)))
        ts = self.status_patches("d1")
        gaps = [round(b - a, 2) for a, b in zip(ts, ts[1:])]
        self.assertIsNone(op.proc.poll(), "the operator exited")
        self.assertGreaterEqual(len(gaps), 3, "too few attempts to see a backoff: %s" % ts)
        self.assertGreater(gaps[-1], gaps[0] * 1.5, "no growing backoff: %s" % gaps)
        self.assertEqual(op.http("/healthz")[0], 200)
        # Back: both converge.
        pg.resume()
        back = time.monotonic()
        for n in ("d0", "d1"):
            wait_until(lambda: (condition(sim.get("appdb", n, "dbout"), "Ready") or {})
                       .get("status") == "True", 120, what="%s Ready after the outage" % n)
        converged = time.monotonic() - back
        self.assertTrue(pg.can_login("d1_u0", "pw-d10-1", "d1"))

        # Reconnects: the operator's sessions are terminated over and over while
        # it resyncs every second; descriptors and memory after a warm-up, then
        # after RECONNECTS more connections.
        def cut():
            pg.superuser_sql("select count(pg_catalog.pg_terminate_backend(pid)) from "
                             "pg_catalog.pg_stat_activity where usename = '%s'" % pg.admin)

        def reconnect_to(target):
            while self.connections() < target:
                cut()
                time.sleep(0.3)
        reconnect_to(self.connections() + 5)
        pid = op.proc.pid
        fds0, rss0, c0 = self.quiet_fds(pid), proc_rss_kb(pid), self.connections()
        r0 = time.monotonic()
        reconnect_to(c0 + RECONNECTS)
        time.sleep(1.5)  # let the last runs finish
        fds1, rss1, c1 = self.quiet_fds(pid), proc_rss_kb(pid), self.connections()
        for n in ("d0", "d1"):
            wait_until(lambda: (condition(sim.get("appdb", n, "dbout"), "Ready") or {})
                       .get("status") == "True", 60, what="%s Ready after the reconnects" % n)
        figure("db-outage", frozen_seconds=FROZEN, closed_seconds=CLOSED,
               attempts_while_closed=len(ts), backoff_gaps_seconds=gaps,
               converged_seconds=round(converged, 1), reconnects=c1 - c0,
               reconnect_seconds=round(time.monotonic() - r0, 1), fds_before=fds0,
               fds_after=fds1, rss_kb_before=rss0, rss_kb_after=rss1,
               total_seconds=round(time.monotonic() - t0, 1))
        # The admin connection's socket may be open or just cut when read, and a
        # run's own connection in flight: two either way; a leak grows with the
        # reconnects.
        self.assertLessEqual(fds1, fds0 + 2, "descriptors grew over %d reconnects" % (c1 - c0))
        self.assertLess(rss1 - rss0, 4096, "resident memory grew by %d kB" % (rss1 - rss0))


if __name__ == "__main__":
    unittest.main()
