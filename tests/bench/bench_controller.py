#!/usr/bin/env python3
"""Controller benchmark: apply to Ready for many resources, and the
operator's resident memory with many resources cached.

usage: bench_controller.py [READY_N] [CACHED_N]
"""
import json
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import PgServer  # noqa: E402
from e2e import CRD, KubeSim, Operator, wait_until  # noqa: E402


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def manifests(n, prefix, instance, ns="bench"):
    docs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}},
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "pw", "namespace": ns},
             "stringData": {"a": "bench-pw-a", "b": "bench-pw-b"}}]
    for i in range(n):
        docs.append({"apiVersion": "db.platform.dev/v1alpha1", "kind": "AppDatabase",
                     "metadata": {"name": "%s-%d" % (prefix, i), "namespace": ns},
                     "spec": {"instance": instance,
                              "database": {"name": "%s_%d" % (prefix, i),
                                           "owner": "%s_%d_owner" % (prefix, i)},
                              "users": [{"name": "%s_%d_app" % (prefix, i), "access": "readwrite",
                                         "passwordFrom": {"kubernetesSecret": {"name": "pw", "key": "a"}}},
                                        {"name": "%s_%d_ro" % (prefix, i), "access": "readonly",
                                         "passwordFrom": {"kubernetesSecret": {"name": "pw", "key": "b"}}}]}})
    return "\n".join(json.dumps(d) for d in docs)


def count_ready(sim, ns, reason, op=None):
    if op is not None and op.proc.poll() is not None:
        raise RuntimeError("the operator exited: " + op.output()[-2000:])
    out = sim.kubectl("get", "appdb", "-n", ns, "-o", "json", timeout=120).stdout
    items = json.loads(out)["items"]
    n = 0
    for o in items:
        for c in o.get("status", {}).get("conditions", []):
            if c["type"] == "Ready" and c.get("reason") == reason:
                n += 1
    return n


def main():
    ready_n = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    cached_n = int(sys.argv[2]) if len(sys.argv) > 2 else 1000
    pg = PgServer()
    sim = KubeSim()
    op = None
    try:
        sim.kubectl("apply", "-f", CRD)
        op = Operator(pg, sim, "dev", "workers: 4\nresyncSeconds: 3600\n").start()
        wait_until(lambda: op.http("/readyz")[0] == 200, 30, what="the operator ready")
        base = rss_kb(op.proc.pid)
        # Provisioning: apply to Ready.
        text = manifests(ready_n, "rb", "local")
        start = time.monotonic()
        sim.kubectl("apply", "-f", "-", input=text, timeout=600)
        applied = time.monotonic() - start
        wait_until(lambda: count_ready(sim, "bench", "Provisioned", op) >= ready_n, 1800, interval=1,
                   what="all Ready")
        total = time.monotonic() - start
        # Many resources cached: refused quickly (unknown instance), all kept.
        text = manifests(cached_n, "cb", "nowhere", ns="bench-cached")
        start = time.monotonic()
        sim.kubectl("apply", "-f", "-", input=text, timeout=1800)
        wait_until(lambda: count_ready(sim, "bench-cached", "InstanceUnknown", op) >= cached_n, 1800,
                   interval=2, what="all cached resources seen")
        seen = time.monotonic() - start
        time.sleep(2)
        rss = rss_kb(op.proc.pid)
        files = len([f for f in os.listdir(op.cache) if f.endswith(".json")])
        print("controller benchmark")
        print("  %d new databases: kubectl apply %.1f s, apply to all Ready %.1f s (%.0f ms each)"
              % (ready_n, applied, total, total * 1000 / ready_n))
        print("  %d more resources (unknown instance): all with status in %.1f s" % (cached_n, seen))
        print("  operator resident memory: %.1f MB at start, %.1f MB with %d resources cached"
              " (%d cache files)" % (base / 1024.0, rss / 1024.0, ready_n + cached_n, files))
    finally:
        if op:
            op.cleanup()
        sim.cleanup()
        pg.stop()


if __name__ == "__main__":
    main()
