#!/usr/bin/env python3
"""Engine benchmark: provisioning N databases, then an unchanged pass.

Prints figures and ratios; fails on nothing but errors. Compares the
operator's first run with psql replaying the very statements the server
logged for it, on a second fresh server (PostgreSQL's own time for them).
usage: bench_engine.py [N]
"""
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import PgServer, Workspace, appdb, docs  # noqa: E402
import json  # noqa: E402


def versioned_secret(name, data, ns):
    doc = {"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": name, "namespace": ns, "resourceVersion": "1"},
           "type": "Opaque", "stringData": data}
    return json.dumps(doc) + "\n"


def run_measured(ws, *args):
    """Runs the operator; returns (seconds, exit code, stderr, max RSS in KB) of that process."""
    from harness import OPERATOR
    errf = open(os.path.join(ws.dir, "bench.err"), "w+")
    env = dict(os.environ)
    env.pop("ALLOW_DB_PROVISION", None)
    start = time.monotonic()
    p = subprocess.Popen([OPERATOR, args[0], "--config", ws.config, "-f", ws.manifests],
                         stdout=subprocess.DEVNULL, stderr=errf, env=env)
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.monotonic() - start
    errf.seek(0)
    return elapsed, p.returncode, errf.read(), usage.ru_maxrss


def timed(fn):
    start = time.monotonic()
    r = fn()
    return time.monotonic() - start, r


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    pg = PgServer()
    ws = Workspace(pg)
    replay = None
    try:
        texts = []
        for i in range(n):
            ns = "bench-%d" % (i % 10)
            texts.append(versioned_secret("db%d" % i, {"a": "pw-a-%d" % i, "b": "pw-b-%d" % i}, ns))
            texts.append(appdb("b%d" % i, ns=ns, db="bench_%d" % i,
                               users=[("bench_%d_app" % i, "readwrite", "db%d" % i, "a"),
                                      ("bench_%d_ro" % i, "readonly", "db%d" % i, "b")]))
        ws.write("bench.yaml", docs(*texts))
        first, code, err, rss1 = run_measured(ws, "reconcile")
        assert code == 0, err[-2000:]
        statements = pg.statements()
        second, code, err, rss2 = run_measured(ws, "reconcile")
        assert code == 0, err[-2000:]
        assert len(pg.statements()) == len(statements), "the unchanged pass executed DDL"

        # PostgreSQL's own time for the same statements, replayed by psql.
        replay = PgServer()
        by_db = []
        for line in statements:
            m = re.search(r"@(\S+) app=\S* LOG:  statement: (.*)$", line)
            if m:
                if by_db and by_db[-1][0] == m.group(1):
                    by_db[-1][1].append(m.group(2))
                else:
                    by_db.append((m.group(1), [m.group(2)]))
        replay.superuser_sql("alter role %s superuser" % replay.admin)
        env = dict(os.environ, PGPASSWORD=replay.admin_password)

        def run_psql():
            for db, stmts in by_db:
                conninfo = ("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=verify-full "
                            "sslrootcert=%s" % (replay.port, replay.admin, db, replay.ca))
                r = subprocess.run(["psql", "-X", "-q", conninfo], input=";\n".join(stmts) + ";\n",
                                   capture_output=True, text=True, env=env)
                if r.returncode != 0:
                    raise RuntimeError(r.stderr)
        psql_time, _ = timed(run_psql)

        print("engine benchmark: %d resources, 2 users each (versioned Secrets)" % n)
        print("  first run (provision):     %7.2f s  (%.1f ms per resource)" % (first, first * 1000 / n))
        print("  psql replay of its DDL:    %7.2f s  (%d statements)" % (psql_time, len(statements)))
        print("  ratio operator / psql:     %7.2f" % (first / psql_time))
        print("  unchanged pass:            %7.2f s  (%.2f ms per resource, 0 statements)"
              % (second, second * 1000 / n))
        print("  operator max resident memory: first run %.1f MB, unchanged pass %.1f MB"
              % (rss1 / 1024.0, rss2 / 1024.0))
    finally:
        ws.cleanup()
        pg.stop()
        if replay is not None:
            replay.stop()


if __name__ == "__main__":
    main()
