#!/usr/bin/env python3
"""kubesim benchmark: 1000 custom resources created, listed, watched and
status-patched over HTTPS with keep-alive, timed.

  tests/kubesim/bench.py [-n 1000]
"""

import argparse
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from simtest import Sim, read_events, widget, WPATH, TESTDATA  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=1000)
    n = ap.parse_args().n
    sim = Sim()
    try:
        sim.kubectl("apply", "-f", os.path.join(TESTDATA, "widget-crd.yaml"))
        sim.kubectl("create", "namespace", "bench")
        h = {"Authorization": "Bearer " + sim.token, "Content-Type": "application/json"}

        # a watcher counting ADDED and MODIFIED events while we write
        st, body, _ = sim.http("GET", WPATH % "bench")
        rv = body["metadata"]["resourceVersion"]
        wc, wr = sim.watch(WPATH % "bench" + "?watch=true&allowWatchBookmarks=true&resourceVersion=" + rv,
                           timeout=120)
        seen = {"ADDED": 0, "MODIFIED": 0}
        last = {}

        def count():
            for line in iter(wr.readline, b""):
                ev = json.loads(line)
                if ev["type"] in seen:
                    seen[ev["type"]] += 1
                    last[ev["type"]] = time.monotonic()
                    if seen["MODIFIED"] >= n:
                        return
        t = threading.Thread(target=count, daemon=True)
        t.start()

        c = sim.conn(60)
        t0 = time.monotonic()
        for i in range(n):
            c.request("POST", WPATH % "bench", body=json.dumps(widget("w%04d" % i, "bench")), headers=h)
            r = c.getresponse()
            r.read()
            assert r.status == 201, r.status
        create = time.monotonic() - t0

        t0 = time.monotonic()
        c.request("GET", WPATH % "bench", headers=h)
        r = c.getresponse()
        items = json.loads(r.read())["items"]
        list_all = time.monotonic() - t0
        assert len(items) == n

        t0 = time.monotonic()
        cont, total = "", 0
        while True:
            c.request("GET", WPATH % "bench" + "?limit=500" + ("&continue=" + cont if cont else ""), headers=h)
            body = json.loads(c.getresponse().read())
            total += len(body["items"])
            cont = body["metadata"].get("continue")
            if not cont:
                break
        list_pages = time.monotonic() - t0
        assert total == n

        t0 = time.monotonic()
        c.request("GET", WPATH % "bench", headers=dict(h, Accept="application/json;as=Table;v=v1;g=meta.k8s.io"))
        rows = json.loads(c.getresponse().read())["rows"]
        table = time.monotonic() - t0
        assert len(rows) == n

        t0 = time.monotonic()
        hp = dict(h, **{"Content-Type": "application/merge-patch+json"})
        for i in range(n):
            c.request("PATCH", WPATH % "bench" + "/w%04d/status" % i, headers=hp,
                      body=json.dumps({"status": {"conditions": [{"type": "Ready", "status": "True"}]}}))
            r = c.getresponse()
            r.read()
            assert r.status == 200, r.status
        patch = time.monotonic() - t0
        t.join(30)
        watch_lag = max(0.0, last.get("MODIFIED", 0) - (t0 + patch))

        t0 = time.monotonic()
        c2, r2 = sim.watch(WPATH % "bench" + "?watch=true&timeoutSeconds=30", timeout=60)
        evs = read_events(r2, n=n, max_seconds=60)
        watch_initial = time.monotonic() - t0
        assert len(evs) == n
        c2.close()

        t0 = time.monotonic()
        sim.kubectl("get", "widgets", "-n", "bench")
        kubectl_get = time.monotonic() - t0

        port = sim.port
        t0 = time.monotonic()
        sim.stop()
        sim.start(port=port)
        restart = time.monotonic() - t0
        wc.close()
        c.close()
        size = sum(os.path.getsize(os.path.join(sim.dir, f)) for f in ("snapshot.json", "journal.jsonl"))

        print("kubesim bench, %d custom resources (HTTPS, one keep-alive connection)" % n)
        print("  create (POST)            %6.2f s  %7.0f/s" % (create, n / create))
        print("  list all                 %6.3f s" % list_all)
        print("  list in pages of 500     %6.3f s" % list_pages)
        print("  list as Table            %6.3f s" % table)
        print("  status patch (PATCH)     %6.2f s  %7.0f/s" % (patch, n / patch))
        print("  watch saw                %d ADDED, %d MODIFIED; last event %.3f s after the last write"
              % (seen["ADDED"], seen["MODIFIED"], watch_lag))
        print("  watch initial state      %6.3f s for %d ADDED events" % (watch_initial, len(evs)))
        print("  kubectl get (table)      %6.3f s" % kubectl_get)
        print("  restart (stop+reload)    %6.3f s, state %.1f MB on disk" % (restart, size / 1e6))
    finally:
        sim.close()


if __name__ == "__main__":
    main()
