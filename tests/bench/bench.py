#!/usr/bin/env python3
"""`make bench`: the figures of DESIGN section 10, each as a ratio against
its floor measured in the same run (absolute times drift between machines).

  provisioning   the operator's first `reconcile` over N new databases, serially
                 (workers: 1) and with its configured parallelism, against psql
                 replaying the very statements the server logged for it,
                 serially, one connection per database (median of alternating
                 rounds, each on a fresh server)
  unchanged      one in-database check (an unchanged `reconcile` pass, per
                 resource) against a bare connect-and-query loop with the same
                 TLS and SCRAM settings (build/bench/connloop); the controller's
                 instance-wide check (appdb_instance_check_seconds)
  memory         the controller's resident size with N resources cached against
                 `appdb-operator version`'s (the loaded libraries' floor)
  apply to Ready p50/p95 through the controller and the API simulator
  curve          time and memory at N = 10, 100, 1000
  idle CPU       the controller's CPU time over a quiet window
  drift          a grant revoked by hand in one database of many is repaired by
                 the controller's resync within one period

Nothing fails on a timing; an error (a run that fails, a drift not repaired)
does. --smoke: N = 10, one round, short windows (`make test`).
usage: bench.py [--n N] [--rounds R] [--smoke]
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import OPERATOR, PgServer, Workspace, proc_status_kb  # noqa: E402
from e2e import CRD, KubeSim, Operator, wait_until  # noqa: E402

CONNLOOP = os.environ.get("APPDB_CONNLOOP") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bench", "connloop")
STORE_COST = os.environ.get("APPDB_STORE_COST") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build", "bench", "store_cost")
PARALLEL_WORKERS = 4


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return "%d cores (nproc), %s" % (os.cpu_count(), model)


def pg_version(pg):
    return pg.superuser_sql("show server_version")[0]


def manifests_text(n, prefix, ns_count=10):
    """N AppDatabases with two users each; Secrets with a version, in ns_count namespaces."""
    out = []
    for i in range(ns_count if n >= ns_count else n):
        ns = "%s-%d" % (prefix, i)
        out.append({"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": "pw", "namespace": ns, "resourceVersion": "1"},
                    "type": "Opaque", "stringData": {"a": "bench-pw-a", "b": "bench-pw-b"}})
    for i in range(n):
        out.append(appdb_doc("%s-%d" % (prefix, i), "%s-%d" % (prefix, i % ns_count),
                             "local", "%s_%d" % (prefix, i)))
    return "\n---\n".join(json.dumps(d) for d in out) + "\n"


def appdb_doc(name, ns, instance, db):
    return {"apiVersion": "db.platform.dev/v1alpha1", "kind": "AppDatabase",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"instance": instance,
                     "database": {"name": db, "owner": db + "_owner"},
                     "users": [{"name": db + "_app", "access": "readwrite",
                                "passwordFrom": {"kubernetesSecret": {"name": "pw", "key": "a"}}},
                               {"name": db + "_ro", "access": "readonly",
                                "passwordFrom": {"kubernetesSecret": {"name": "pw", "key": "b"}}}]}}


def spawn(args, env=None, stderr=None):
    """Runs args through connloop --spawn: (seconds, max RSS in KB, exit status)."""
    r = subprocess.run([CONNLOOP, "--spawn"] + args, stdout=subprocess.PIPE, stderr=stderr,
                       text=True, env=env, check=True)
    t, rss, code = r.stdout.split()
    return float(t), int(rss), int(code)


def run_cli(ws, command="reconcile"):
    """Runs the CLI; returns (seconds, max RSS in KB). Raises on failure."""
    env = dict(os.environ)
    env.pop("ALLOW_DB_PROVISION", None)
    with open(os.path.join(ws.dir, "bench.err"), "w+") as errf:
        t, rss, code = spawn([OPERATOR, command, "--config", ws.config, "-f", ws.manifests],
                             env=env, stderr=errf)
        errf.seek(0)
        if code != 0:
            raise RuntimeError("%s exited %d: %s" % (command, code, errf.read()[-2000:]))
    return t, rss


def floor_rss_kb():
    """Max resident size of `appdb-operator version`: the libraries' floor."""
    return spawn([OPERATOR, "version"])[1]


def libfloor_kb(pg, ws):
    """(total, anonymous, file-backed) KB of a process of the operator's libraries that
    initialised libcurl and made one TLS connection with libpq: the libraries in use."""
    r = subprocess.run([CONNLOOP, "--libfloor", "127.0.0.1", str(pg.port), pg.admin,
                        ws.admin_pw_file, pg.ca], capture_output=True, text=True, check=True)
    return tuple(int(x) for x in r.stdout.split())


def statements_by_db(pg):
    """The operator's logged statements, grouped by consecutive database."""
    by_db = []
    for line in pg.statements():
        m = re.search(r"@(\S+) app=appdb-operator\S* LOG:  statement: (.*)$", line)
        if m:
            if by_db and by_db[-1][0] == m.group(1):
                by_db[-1][1].append(m.group(2))
            else:
                by_db.append((m.group(1), [m.group(2)]))
    return by_db


def psql_replay(pg, by_db):
    """psql replays the statements serially, one connection per database run; seconds."""
    pg.superuser_sql("alter role %s superuser" % pg.admin)
    env = dict(os.environ, PGPASSWORD=pg.admin_password)
    start = time.monotonic()
    for db, stmts in by_db:
        conninfo = ("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=verify-full "
                    "sslrootcert=%s" % (pg.port, pg.admin, db, pg.ca))
        r = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", conninfo],
                           input=";\n".join(stmts) + ";\n", capture_output=True, text=True,
                           env=env)
        if r.returncode != 0:
            raise RuntimeError("psql replay: " + r.stderr[-2000:])
    return time.monotonic() - start


EXECUTE = re.compile(r"@(\S+) app=appdb-operator\S* LOG:  duration: [0-9.]+ ms  "
                     r"execute \S+: (.*)$")
PARAM = re.compile(r"\$\d+ = '((?:[^']|'')*)'")


def replay_floor(pg, ws):
    """Connect and run the operator's own in-database statements, nothing else.

    One more unchanged pass with every statement logged gives the statements
    the operator ran inside each application database and their parameters;
    connloop replays them, one new connection per database (seconds per database).
    """
    pg.superuser_sql("alter system set log_min_duration_statement = 0")
    pg.superuser_sql("select pg_catalog.pg_reload_conf()")
    time.sleep(0.3)
    off = len(pg.log_text())
    run_cli(ws)
    lines = pg.log_text()[off:].splitlines()
    pg.superuser_sql("alter system reset log_min_duration_statement")
    pg.superuser_sql("select pg_catalog.pg_reload_conf()")
    rows = []
    for i, line in enumerate(lines):
        m = EXECUTE.search(line)
        if not m or m.group(1) == "postgres":  # the admin session's, not a check's
            continue
        detail = lines[i + 1] if i + 1 < len(lines) and "DETAIL:  parameters:" in lines[i + 1] \
            else ""
        params = [v.replace("''", "'") for v in PARAM.findall(detail)]
        rows.append("\t".join([m.group(1)] + params + [m.group(2)]))
    path = os.path.join(ws.dir, "replay.tsv")
    with open(path, "w") as f:
        f.write("\n".join(rows) + "\n")
    return connloop(pg, ws, ["@" + path]), len(set(r.split("\t")[0] for r in rows))


def unchanged_row(pg, ws, n, first, rss1, prefix):
    """The unchanged pass after a first run, and its two floors: a bare
    connect-and-query, and connect plus the operator's own in-database statements."""
    before = len(pg.statements())
    second, rss2 = run_cli(ws)
    if len(pg.statements()) != before:
        raise RuntimeError("the unchanged pass executed DDL")
    floor = connloop(pg, ws, ["%s_%d" % (prefix, i) for i in range(n)])
    replay, n_replayed = replay_floor(pg, ws)
    if n_replayed != n:
        raise RuntimeError("replay: in-database statements for %d databases of %d"
                           % (n_replayed, n))
    return {"n": n, "first": first, "unchanged": second, "rss_first": rss1,
            "rss_unchanged": rss2, "check": second / n, "connect_floor": floor,
            "replay_floor": replay}


def provision_round(n, workers, row=False):
    """One operator run on a fresh server; returns (seconds, by_db statements, curve row)."""
    pg = PgServer()
    ws = Workspace(pg, extra="workers: %d\n" % workers)
    try:
        ws.write("bench.yaml", manifests_text(n, "p"))
        t, rss = run_cli(ws)
        by_db = statements_by_db(pg)
        return t, by_db, unchanged_row(pg, ws, n, t, rss, "p") if row else None
    finally:
        ws.cleanup()
        pg.stop()


def bench_provisioning(n, rounds, parallel_rounds=True):
    serial, parallel, replay = [], [], []
    row = None
    for k in range(rounds):
        t, by_db, r = provision_round(n, 1, row=k == 0)
        row = row or r
        serial.append(t)
        pg = PgServer()
        try:
            replay.append(psql_replay(pg, by_db))
        finally:
            pg.stop()
        if parallel_rounds:
            t, _, _ = provision_round(n, PARALLEL_WORKERS)
            parallel.append(t)
    parallel = parallel or [float("nan")]
    return {"serial": statistics.median(serial), "parallel": statistics.median(parallel),
            "psql": statistics.median(replay), "statements": sum(len(s) for _, s in by_db),
            "ratio_serial": statistics.median([s / p for s, p in zip(serial, replay)]),
            "ratio_parallel": statistics.median([s / p for s, p in zip(parallel, replay)])
            if parallel_rounds else float("nan"),
            "row": row}


def connloop(pg, ws, dbs, rounds=1):
    r = subprocess.run([CONNLOOP, "127.0.0.1", str(pg.port), pg.admin, ws.admin_pw_file, pg.ca,
                        str(rounds)] + dbs, capture_output=True, text=True, check=True)
    return float(r.stdout.strip())


def bench_curve(sizes, known):
    """Per N: first run, unchanged pass, max RSS (known: a row measured already)."""
    rows = []
    for n in sizes:
        if known is not None and known["n"] == n:
            rows.append(known)
            continue
        pg = PgServer()
        ws = Workspace(pg, extra="workers: 1\n")
        try:
            ws.write("bench.yaml", manifests_text(n, "c"))
            first, rss1 = run_cli(ws)
            rows.append(unchanged_row(pg, ws, n, first, rss1, "c"))
        finally:
            ws.cleanup()
            pg.stop()
    return rows


def rss_kb(pid):
    return proc_status_kb(pid, "VmRSS")[0]


def rss_parts_kb(pid):
    """VmRSS split as the kernel counts it: (anonymous, file-backed, shared memory) KB."""
    return proc_status_kb(pid, "RssAnon", "RssFile", "RssShmem")


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ready_items(sim, ns, reason="Provisioned"):
    """How many AppDatabases of ns have Ready with reason (Provisioned: and True)."""
    out = sim.kubectl("get", "appdb", "-n", ns, "-o", "json", timeout=300).stdout
    n = 0
    for o in json.loads(out)["items"]:
        for c in o.get("status", {}).get("conditions", []):
            if c["type"] == "Ready" and c.get("reason") == reason and (
                    reason != "Provisioned" or c.get("status") == "True"):
                n += 1
    return n


def is_ready(sim, ns, name):
    r = sim.kubectl("get", "appdb", name, "-n", ns, "-o", "json", check=False)
    if r.returncode != 0:
        return False
    for c in json.loads(r.stdout).get("status", {}).get("conditions", []):
        if c["type"] == "Ready" and c.get("status") == "True":
            return True
    return False


def metric(op, name, labels=None):
    """The value of one sample of /metrics (None when absent)."""
    _, text = op.http("/metrics")
    for line in text.splitlines():
        if line.startswith(name) and (labels is None or labels in line):
            head = line.split(" ")[0]
            if head == name or head.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return None


DEFACL_SQL = ("select count(*) from pg_catalog.pg_default_acl d, "
              "pg_catalog.aclexplode(d.defaclacl) a where d.defaclobjtype = 'r' "
              "and a.privilege_type = 'SELECT' and a.grantee = '%s'::pg_catalog.regrole")


def grant_revoked(pg, db, user):
    """1 when user has lost its default SELECT on the owner's future tables."""
    return pg.superuser_sql(DEFACL_SQL % user, db=db) == ["0"]


def revoke_default(pg, db, owner, user):
    pg.superuser_sql("alter default privileges for role %s in schema public revoke select on "
                     "tables from %s" % (owner, user), db=db)


def step(what, t0=[time.monotonic()]):
    now = time.monotonic()
    print("  [%5.1f s] %s" % (now - t0[0], what), file=sys.stderr, flush=True)


def reconciles(op):
    _, text = op.http("/metrics")
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines()
               if l.startswith("appdb_reconcile_total{"))


def bench_controller(ready_n, cached_n, many, idle_seconds, resync):
    """apply to Ready, memory, idle CPU, the instance-wide check and drift repair."""
    res = {}
    pg = PgServer()
    sim = KubeSim()
    op = None
    try:
        sim.kubectl("apply", "-f", CRD)
        # The many resources exist in PostgreSQL already: provisioned by the one-shot
        # CLI from the very objects the API holds (uid, Secret versions).
        docs = [json.loads(d) for d in manifests_text(many, "m").split("\n---\n") if d.strip()]
        spaces = sorted({d["metadata"]["namespace"] for d in docs})
        for d in docs:
            d["metadata"].pop("resourceVersion", None)
        for ns in spaces:
            sim.kubectl("create", "namespace", ns)
        sim.kubectl("apply", "-f", "-", input="\n".join(json.dumps(d) for d in docs),
                    timeout=1800)
        stored = []
        for ns in spaces:
            stored.append(json.loads(sim.kubectl("get", "secret", "pw", "-n", ns, "-o",
                                                 "json").stdout))
            stored += json.loads(sim.kubectl("get", "appdb", "-n", ns, "-o", "json",
                                             timeout=300).stdout)["items"]
        ws = Workspace(pg, extra="workers: %d\n" % PARALLEL_WORKERS)
        ws.write("many.yaml", "\n---\n".join(json.dumps(d) for d in stored) + "\n")
        run_cli(ws)
        ws.cleanup()
        before = len(pg.statements())
        step('# Phase 1, nothing due')
        # Phase 1, nothing due for a resync: the many resources seen unchanged, then
        # apply to Ready, memory, idle CPU.
        op = Operator(pg, sim, "dev", "workers: 4\nresyncSeconds: 3600\n").start()
        wait_until(lambda: op.http("/readyz")[0] == 200, 30, what="the operator ready")
        res["rss_start"] = rss_kb(op.proc.pid)
        res["rss_start_parts"] = rss_parts_kb(op.proc.pid)
        start = time.monotonic()
        wait_until(lambda: sum(ready_items(sim, ns) for ns in spaces) >= many, 1800, interval=1,
                   what="the many resources Ready")
        res["many_seen"] = time.monotonic() - start
        if len(pg.statements()) != before:
            raise RuntimeError("the controller changed something over unchanged resources: "
                               + "\n".join(pg.statements()[before:][:5]))
        step('sim.kubectl("create", "namespace", "read')
        sim.kubectl("create", "namespace", "ready")
        sim.kubectl("create", "secret", "generic", "pw", "-n", "ready",
                    "--from-literal=a=ready-pw-a", "--from-literal=b=ready-pw-b")
        times, kubectl_floor = [], []
        for i in range(ready_n):
            text = json.dumps(appdb_doc("r-%d" % i, "ready", "local", "r_%d" % i))
            start = time.monotonic()
            sim.kubectl("apply", "-f", "-", input=text)
            kubectl_floor.append(time.monotonic() - start)
            wait_until(lambda: is_ready(sim, "ready", "r-%d" % i), 120, interval=0.02,
                       what="r-%d Ready" % i)
            times.append(time.monotonic() - start)
        times.sort()
        res["ready_p50"] = statistics.median(times)
        res["ready_p95"] = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
        res["kubectl_floor"] = statistics.median(kubectl_floor)
        step('# Memory with cached_n')
        # Memory with cached_n resources of an unknown instance besides.
        sim.kubectl("create", "namespace", "cached")
        text = "\n".join(json.dumps(appdb_doc("k-%d" % i, "cached", "nowhere", "k_%d" % i))
                         for i in range(cached_n))
        sim.kubectl("apply", "-f", "-", input=text, timeout=1800)
        wait_until(lambda: ready_items(sim, "cached", "InstanceUnknown") >= cached_n, 1800,
                   interval=2, what="the cached resources seen")
        time.sleep(2)
        res["rss_cached"] = rss_kb(op.proc.pid)
        res["rss_cached_parts"] = rss_parts_kb(op.proc.pid)
        res["resources"] = ready_n + many + cached_n
        res["cached_n"] = cached_n
        step('c0 = cpu_seconds')
        c0 = cpu_seconds(op.proc.pid)
        time.sleep(idle_seconds)
        res["idle_cpu"] = cpu_seconds(op.proc.pid) - c0
        res["idle_seconds"] = idle_seconds
        if op.proc.poll() is not None:
            raise RuntimeError("the operator exited: " + op.output()[-2000:])
        op.cleanup()

        step('# Phase 2,')
        # Phase 2, resyncSeconds = resync: the two tiers, drift in one database of many.
        op = Operator(pg, sim, "dev", "workers: 4\nresyncSeconds: %d\n" % resync).start()
        wait_until(lambda: reconciles(op) >= res["resources"], 1800, interval=1,
                   what="the restart's reconciles")
        victim_db, victim = "m_%d" % (many // 2), "m_%d_ro" % (many // 2)
        step('revoke_default(pg,')
        revoke_default(pg, victim_db, victim_db + "_owner", victim)
        if not grant_revoked(pg, victim_db, victim):
            raise RuntimeError("the drift was not planted")
        start = time.monotonic()
        peak, stop = [0, 0], threading.Event()

        def sample():
            while not stop.is_set():
                rows = pg.superuser_sql(
                    "select count(*) filter (where datname like 'm\\_%'), count(*) "
                    "from pg_catalog.pg_stat_activity "
                    "where application_name like 'appdb-operator/%'")[0].split("|")
                peak[0], peak[1] = max(peak[0], int(rows[0])), max(peak[1], int(rows[1]))
                time.sleep(0.1)
        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            wait_until(lambda: not grant_revoked(pg, victim_db, victim), 2 * resync + 30,
                       interval=0.5, what="the revoked grant repaired")
        finally:
            stop.set()
            sampler.join()
        res["drift_repaired"] = time.monotonic() - start
        res["peak_in_db"], res["peak_all"] = peak
        res["resync"] = resync
        res["instance_check_sum"] = metric(op, "appdb_instance_check_seconds_sum")
        res["instance_check_count"] = metric(op, "appdb_instance_check_seconds_count")
        res["database_checks"] = metric(op, "appdb_database_checks_total")
        res["rss_end"] = rss_kb(op.proc.pid)
        if op.proc.poll() is not None:
            raise RuntimeError("the operator exited: " + op.output()[-2000:])
    finally:
        if op:
            op.cleanup()
        sim.cleanup()
        pg.stop()
    return res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--sizes", default="10,100,1000", help="the cost curve's N")
    ap.add_argument("--many", type=int, default=1000, help="resources on the instance")
    ap.add_argument("--resync", type=int, default=60, help="resyncSeconds of the drift phase")
    a = ap.parse_args()
    if a.smoke:
        n, rounds, sizes, ready_n, cached_n, many, idle, resync = 10, 1, [10], 3, 10, 10, 3, 4
    else:
        n, rounds, ready_n, cached_n, idle = a.n, a.rounds, 20, 1000, 60
        sizes, many, resync = [int(x) for x in a.sizes.split(",")], a.many, a.resync
    t0 = time.monotonic()
    floor = floor_rss_kb()
    pg = PgServer()
    version = pg_version(pg)
    ws = Workspace(pg)
    lib_floor = libfloor_kb(pg, ws)
    ws.cleanup()
    pg.stop()
    print("appdb-operator bench: %s; PostgreSQL %s (fsync off, TLS, SCRAM)"
          % (machine(), version), flush=True)
    if a.smoke:
        # Nothing is timed for real here: the two halves run side by side.
        box = {}

        def controller_half():
            try:
                box["ctrl"] = bench_controller(ready_n, cached_n, many, idle, resync)
            except Exception as e:  # noqa: BLE001 - raised again below
                box["error"] = e
        half = threading.Thread(target=controller_half)
        half.start()
        prov = bench_provisioning(n, rounds, parallel_rounds=False)
        half.join()
        if "error" in box:
            raise box["error"]
        ctrl = box["ctrl"]
        curve = bench_curve(sizes, prov["row"])
    else:
        prov = bench_provisioning(n, rounds)
        step("provisioning done")
        curve = bench_curve(sizes, prov["row"])
        step("curve done")
        ctrl = bench_controller(ready_n, cached_n, many, idle, resync)

    mb = 1024.0
    print()
    print("| figure | measured | floor | ratio | target |")
    print("|---|---|---|---|---|")
    print("| provisioning %d new databases, serial (workers: 1), median of %d | %.2f s | "
          "psql replay %.2f s (%d statements) | %.2f | <= 1.1 |"
          % (n, rounds, prov["serial"], prov["psql"], prov["statements"],
             prov["ratio_serial"]))
    print("| provisioning %d new databases, workers: %d | %.2f s | psql replay %.2f s | %.2f | "
          "< 1.0 |" % (n, PARALLEL_WORKERS, prov["parallel"], prov["psql"],
                       prov["ratio_parallel"]))
    big = curve[-1]
    print("| unchanged resource, one in-database check (N = %d) | %.1f ms | bare "
          "connect-and-query %.1f ms | %.2f | <= 1.2 |"
          % (big["n"], big["check"] * 1000, big["connect_floor"] * 1000,
             big["check"] / big["connect_floor"]))
    print("| the same, against the operator's own in-database statements replayed (N = %d) | "
          "%.1f ms | connect + those statements %.1f ms | %.2f | reported |"
          % (big["n"], big["check"] * 1000, big["replay_floor"] * 1000,
             big["check"] / big["replay_floor"]))
    if ctrl.get("instance_check_count"):
        per = ctrl["instance_check_sum"] / ctrl["instance_check_count"]
        print("| instance-wide check, %d resources on the instance, one round trip | %.3f s | "
              "target 0.5 s | %.2f | < 1.0 |" % (ctrl["resources"] - ctrl["cached_n"], per,
                                                 per / 0.5))
    else:
        print("| instance-wide check | not measured (no appdb_instance_check_seconds) | | | |")
    print("| in-database checks made by the controller (appdb_database_checks_total) | %s | | "
          "| |" % ("%d" % ctrl["database_checks"] if ctrl.get("database_checks") is not None
                   else "absent"))
    delta = (ctrl["rss_cached"] - floor) / mb
    print("| operator sessions on the instance at once during the resync (in databases / all) | "
          "%d / %d | maxConnectionsPerInstance 2 | %.2f | <= 1.0 |"
          % (ctrl["peak_in_db"], ctrl["peak_all"], ctrl["peak_in_db"] / 2.0))
    store = subprocess.run([STORE_COST, "1000"], capture_output=True, text=True,
                           check=True).stdout.split()
    print("| typed store, heap per resource (1000 resources; after a relist) | %s B; %s B | | | |"
          % (store[0], store[1]))
    print("| resident memory, %d resources in the store | %.1f MB | `version` %.1f MB | "
          "floor + %.1f MB (%.2f) | floor + 2 MB |"
          % (ctrl["resources"], ctrl["rss_cached"] / mb, floor / mb, delta,
             ctrl["rss_cached"] / floor))
    print("| the same, against the libraries in use (libcurl initialised, one libpq TLS "
          "connection) | %.1f MB | `connloop --libfloor` %.1f MB | floor + %.1f MB (%.2f) | "
          "floor + 2 MB |"
          % (ctrl["rss_cached"] / mb, lib_floor[0] / mb, (ctrl["rss_cached"] - lib_floor[0]) / mb,
             ctrl["rss_cached"] / lib_floor[0]))
    print("| apply to Ready, p50 of %d | %.2f s | kubectl apply %.2f s | %.2f | p50 < 1 s |"
          % (ready_n, ctrl["ready_p50"], ctrl["kubectl_floor"],
             ctrl["ready_p50"] / ctrl["kubectl_floor"]))
    print("| apply to Ready, p95 of %d | %.2f s | kubectl apply %.2f s | %.2f | reported |"
          % (ready_n, ctrl["ready_p95"], ctrl["kubectl_floor"],
             ctrl["ready_p95"] / ctrl["kubectl_floor"]))
    print("| idle CPU over %d s, %d resources | %.2f s (%.2f%%) | 0 | | near 0 |"
          % (ctrl["idle_seconds"], ctrl["resources"], ctrl["idle_cpu"],
             100.0 * ctrl["idle_cpu"] / ctrl["idle_seconds"]))
    print("| drift in 1 database of %d, repaired after | %.1f s | resync period %d s | %.2f | "
          "<= 1.0 |" % (ctrl["resources"] - ctrl["cached_n"], ctrl["drift_repaired"],
                        ctrl["resync"], ctrl["drift_repaired"] / ctrl["resync"]))
    print()
    print("cost curve (one-shot reconcile, workers: 1; floor: bare connect-and-query)")
    print("| N | first run | per resource | unchanged pass | per resource | connect floor | "
          "ratio | replay floor | ratio | max RSS first / unchanged |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in curve:
        print("| %d | %.2f s | %.1f ms | %.2f s | %.1f ms | %.1f ms | %.2f | %.1f ms | %.2f | "
              "%.1f / %.1f MB |"
              % (r["n"], r["first"], r["first"] * 1000 / r["n"], r["unchanged"],
                 r["check"] * 1000, r["connect_floor"] * 1000, r["check"] / r["connect_floor"],
                 r["replay_floor"] * 1000, r["check"] / r["replay_floor"],
                 r["rss_first"] / mb, r["rss_unchanged"] / mb))
    print("controller resident memory: %.1f MB at start, %.1f MB with %d resources, "
          "%.1f MB at the end" % (ctrl["rss_start"] / mb, ctrl["rss_cached"] / mb,
                                  ctrl["resources"], ctrl["rss_end"] / mb))
    for what, key in (("at start", "rss_start_parts"), ("with %d resources" % ctrl["resources"],
                                                        "rss_cached_parts")):
        a, f, sh = ctrl[key]
        print("controller resident memory %s: anonymous %.1f MB, file-backed %.1f MB (the "
              "libraries' pages it touched), shared %.1f MB" % (what, a / mb, f / mb, sh / mb))
    print("libraries in use (connloop --libfloor): anonymous %.1f MB, file-backed %.1f MB"
          % (lib_floor[1] / mb, lib_floor[2] / mb))
    print("bench: done in %.0f s" % (time.monotonic() - t0))


if __name__ == "__main__":
    main()
