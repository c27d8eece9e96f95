"""API outage drill: the API simulator's process is stopped while resources
wait to be provisioned; provisioning goes on from the operator's cache, and
when the simulator is back every status is right and every Event buffered
meanwhile arrives exactly once."""
import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from drill import Drill, figure, proc_rss_kb, scale  # noqa: E402
from e2e import condition, wait_until  # noqa: E402
from test_controller import resource  # noqa: E402

M = scale(5, 50)
OUTAGE = scale(5, 60)
CUTS = scale(5, 8)


class ApiOutageDrill(Drill):

    def items(self):
        r = self.sim.kubectl("get", "appdb", "-A", "-o", "json")
        return {(o["metadata"]["name"], o["metadata"]["namespace"]): o
                for o in json.loads(r.stdout)["items"]}

    def test_simulator_stopped_while_provisioning(self):
        pg, sim = self.pg, self.sim
        names = [("o%d" % i, "outage-%d" % (i % 3)) for i in range(M)]
        # PostgreSQL away first: the resources are read, cached, and wait.
        pg.pause()
        sim.apply("---\n".join(resource(n, ns) for n, ns in names))

        def all_waiting():
            items = self.items()
            return all((condition(items.get(k), "Ready") or {}).get("reason") ==
                       "DatabaseUnreachable" for k in names)
        t = time.monotonic()
        wait_until(all_waiting, 90, interval=0.5, what="every resource DatabaseUnreachable")
        sys.stderr.write("api outage drill: %.1f s to DatabaseUnreachable\n" % (time.monotonic() - t))
        rss0 = proc_rss_kb(self.op.proc.pid)
        # The simulator's process goes away; PostgreSQL comes back.
        sim.stop()
        t0 = time.monotonic()
        pg.resume()
        wait_until(lambda: all(pg.database_exists(n) for n, _ in names), max(60, OUTAGE + 30),
                   interval=0.5, what="provisioned from the cache with the API stopped")
        provisioned = time.monotonic() - t0
        self.assertEqual(self.op.http("/healthz")[0], 200, "alive while the API is away")
        for n, _ in names:
            self.assertTrue(pg.can_login("%s_u0" % n, "pw-%s0-1" % n, n))
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - t0)))
        outage = time.monotonic() - t0
        rss1 = proc_rss_kb(self.op.proc.pid)
        self.assertIsNone(self.op.proc.poll(), "the operator exited during the outage")
        sim.start()
        back = time.monotonic()

        def all_ready():
            items = self.items()
            out = [items.get(k) for k in names]
            ok = all((condition(o, "Ready") or {}).get("status") == "True" for o in out)
            return out if ok else None
        objs = wait_until(all_ready, 90, interval=0.5, what="every status Ready after the outage")
        to_ready = time.monotonic() - back
        for o in objs:
            st = o["status"]
            self.assertEqual(st.get("observedGeneration"), o["metadata"]["generation"])
            self.assertEqual(condition(o, "Ready")["reason"], "Provisioned")
            self.assertEqual(condition(o, "Reconciling")["status"], "False")
            self.assertTrue(st["lastRun"]["runId"])
        # Each buffered Provisioned Event exactly once: one object, count 1, the
        # run id of the status; give late duplicates a moment to show.
        def provisioned_events():
            evs = json.loads(sim.kubectl("get", "events", "-A", "-o", "json").stdout)["items"]
            by = {}
            for e in evs:
                if e.get("reason") == "Provisioned":
                    by.setdefault(e["involvedObject"]["name"], []).append(e)
            return by if all(n in by for n, _ in names) else None
        wait_until(provisioned_events, 60, interval=0.5, what="every Provisioned Event")
        time.sleep(1)
        by = provisioned_events()
        dup = {n: [(e["metadata"]["name"], e.get("count")) for e in by[n]] for n, _ in names
               if len(by[n]) != 1 or (by[n][0].get("count") or 1) != 1}
        figure("api-outage", resources=M, outage_seconds=round(outage, 1),
               provisioned_during_outage_seconds=round(provisioned, 1),
               ready_after_return_seconds=round(to_ready, 1), rss_kb_before=rss0,
               rss_kb_end_of_outage=rss1, duplicated_events=dup)
        self.assertEqual(dup, {}, "Events not delivered exactly once")
        # The Event names the run that provisioned (its audit record's run id).
        for n, ns in names:
            made = {a["runId"] for a in self.op.audit()
                    if a["resource"] == "%s/%s" % (ns, n) and a["result"] == "Changed"}
            run = by[n][0]["metadata"].get("annotations", {}).get("db.platform.dev/run-id")
            self.assertIn(run, made, "the Event of another run")

        self.check_cut_watches()

    def check_cut_watches(self):
        """Each cut watch (a network error) is one failure of the watch loop;
        the list that follows answers, so the next failure starts a fresh
        backoff (defect 5 of docs/reliability.md: the backoff used to grow
        over cuts and outages, 0.5, 1, 2, 4, 8 s). Run after the outage, in
        the same operator, whose watch loop has just failed many times."""
        sim = self.sim
        lists = re.compile(r"/appdatabases\?(?!.*watch)")

        def list_times(since):
            """The simulator's arrival times (wall clock) of the lists after since."""
            return [r["ts"] for r in sim.requests() if r["method"] == "GET" and r["ts"] > since
                    and lists.search(r["path"] + "?" + (r["query"] or ""))]
        wait_until(lambda: list_times(0), 30, interval=0.1, what="the first list")
        gaps = []
        for _ in range(CUTS):
            # The watch is registered once its request is in: cut until one is cut.
            # The gap is read off the simulator's clock, from the moment the cut
            # was made (at the latest when the control call returned) to the
            # next list's arrival, so that a slow poll under load adds nothing.
            def cut():
                t = time.time()
                return (t, time.time()) if json.loads(sim.ctl("cut-watches")).get("cut") \
                    else None
            before, after = wait_until(cut, 30, interval=0.1, what="a watch to cut")
            ts = wait_until(lambda: list_times(before), 60, interval=0.2,
                            what="the list after a cut")
            gaps.append(round(max(0.0, ts[0] - after), 2))
        figure("watch-cuts", cuts=CUTS, relist_after_s=gaps)
        self.assertIsNone(self.op.proc.poll())
        self.assertLess(max(gaps), 3.0, "the backoff grew over cut watches: %s" % gaps)


if __name__ == "__main__":
    unittest.main()
