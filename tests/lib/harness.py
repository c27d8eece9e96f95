"""Shared test harness: a throwaway PostgreSQL, the operator binary, manifests.

Python 3 standard library only. The server is real (hack/pg-throwaway.sh):
TLS on loopback, a delegated non-superuser admin like an RDS master user, and
every DDL statement in its log so tests can count what ran.
"""
import json
import os
import shutil
import subprocess
import tempfile
import textwrap

ROOT = os.environ.get("APPDB_ROOT") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
OPERATOR = os.environ.get("APPDB_OPERATOR") or os.path.join(ROOT, "bin", "appdb-operator")
# The same program built with the failpoints (APPDB_FAILPOINTS), for the crash tests only.
FAILPOINT_OPERATOR = os.environ.get("APPDB_OPERATOR_FAILPOINTS") or os.path.join(
    ROOT, "build", "test", "appdb-operator")


class PgServer:
    """A PostgreSQL server in a temporary directory, stopped by stop().

    major: the major version to start (13 to 18); else $APPDB_PG_MAJOR, else
    the throwaway server's default (hack/pg-throwaway.sh).
    """

    def __init__(self, major=None):
        self.dir = tempfile.mkdtemp(prefix="appdb-pg-")
        major = major or os.environ.get("APPDB_PG_MAJOR")
        args = [os.path.join(ROOT, "hack", "pg-throwaway.sh")]
        if major:
            args += ["--major", str(major)]
        subprocess.run(args + ["start", self.dir], check=True, stdout=subprocess.DEVNULL)
        self.env = {}
        with open(os.path.join(self.dir, "env")) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                self.env[k] = v
        self.port = int(self.env["PGPORT"])
        self.admin = self.env["PGADMIN_USER"]
        self.admin_password = self.env["PGADMIN_PASSWORD"]
        self.ca = self.env["PGCA"]
        self.log = self.env["PGLOG"]
        self.major = int(self.env["PGMAJOR"])
        self.bindir = self.env["PGBINDIR"]

    def stop(self):
        subprocess.run([os.path.join(ROOT, "hack", "pg-throwaway.sh"), "stop", self.dir],
                       check=False)

    def _pg_ctl(self, *args):
        cmd = [os.path.join(self.bindir, "pg_ctl"), "-D", os.path.join(self.dir, "data"),
               "-w"] + list(args)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       user="postgres" if os.geteuid() == 0 else None)

    def pause(self):
        """Stops the server (an outage); resume() starts it again on the same port."""
        self._pg_ctl("-m", "fast", "stop")

    def resume(self):
        self._pg_ctl("-l", self.log, "start")

    def superuser_sql(self, sql, db="postgres"):
        """Runs sql as the superuser over the local socket; returns stdout rows."""
        # Pinned like the operator's sessions, so a tenant's ALTER DATABASE ... SET
        # (tests plant hostile ones) cannot get in the harness's way.
        env = dict(os.environ, PGOPTIONS="-c search_path=pg_catalog,public -c role=none "
                   "-c statement_timeout=0 -c lock_timeout=0 -c default_transaction_read_only=off")
        r = subprocess.run(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", self.env["PGSOCK"],
             "-p", str(self.port), "-U", "postgres", "-d", db, "-c", sql],
            capture_output=True, text=True, env=env,
            user="postgres" if os.geteuid() == 0 else None)
        if r.returncode != 0:
            raise RuntimeError("superuser sql failed: %s" % r.stderr)
        return [l for l in r.stdout.splitlines() if l != ""]

    def user_sql(self, user, password, sql, db="postgres"):
        """Runs sql as user over TLS; returns (ok, stdout, stderr)."""
        env = dict(os.environ, PGPASSWORD=password)
        conninfo = ("host=127.0.0.1 port=%d user=%s dbname=%s sslmode=verify-full "
                    "sslrootcert=%s connect_timeout=5" % (self.port, user, db, self.ca))
        r = subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", conninfo,
                            "-c", sql], capture_output=True, text=True, env=env)
        return r.returncode == 0, r.stdout, r.stderr

    def can_login(self, user, password, db="postgres"):
        return self.user_sql(user, password, "select 1", db)[0]

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def statements(self):
        """The statements the server logged (log_statement = 'ddl')."""
        return [l for l in self.log_text().splitlines() if "statement:" in l]

    def database_exists(self, name):
        return self.superuser_sql(
            "select count(*) from pg_database where datname = '%s'" % name) == ["1"]

    def admin_memberships(self):
        """Roles the admin is a usable member of (SET or INHERIT).

        Before 16 every membership is usable. From 16 a membership has options,
        and CREATE ROLE gives the creator one WITH ADMIN but without SET and
        INHERIT, which it keeps (tests/engine/test_versions.py pins that).
        """
        usable = " and (m.set_option or m.inherit_option)" if self.major >= 16 else ""
        return self.superuser_sql(
            "select r.rolname from pg_auth_members m join pg_roles r on r.oid = m.roleid "
            "join pg_roles a on a.oid = m.member where a.rolname = '%s'%s" % (self.admin, usable))


class Workspace:
    """A temporary directory with an operator config for one PgServer."""

    def __init__(self, pg, environment="dev", extra=""):
        self.pg = pg
        self.dir = tempfile.mkdtemp(prefix="appdb-ws-")
        self.cache = os.path.join(self.dir, "cache")
        self.manifests = os.path.join(self.dir, "manifests")
        os.makedirs(self.manifests)
        self.admin_pw_file = os.path.join(self.dir, "admin-password")
        with open(self.admin_pw_file, "w") as f:
            f.write(pg.admin_password + "\n")
        self.config = os.path.join(self.dir, "config.yaml")
        self.write_config(environment, extra)

    def write_config(self, environment="dev", extra="", ca=None, ssl_mode="verify-full"):
        with open(self.config, "w") as f:
            f.write(textwrap.dedent("""\
                environment: %s
                instances:
                  local:
                    host: 127.0.0.1
                    port: %d
                    adminDatabase: postgres
                    sslMode: %s
                    sslRootCert: %s
                    admin:
                      user: %s
                      passwordFrom: {file: %s}
                cacheDir: %s
                """) % (environment, self.pg.port, ssl_mode, ca or self.pg.ca, self.pg.admin,
                        self.admin_pw_file, self.cache))
            f.write(extra)

    def write(self, name, text):
        path = os.path.join(self.manifests, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def run(self, command, *paths, env=None, timeout=120, binary=None):
        """Runs the operator (or binary); returns (exit code, stdout, stderr)."""
        args = [binary or OPERATOR, command, "--config", self.config]
        for p in paths or (self.manifests,):
            args += ["-f", p]
        full_env = dict(os.environ)
        full_env.pop("ALLOW_DB_PROVISION", None)
        full_env.pop("APPDB_ENVIRONMENT", None)
        full_env.update(env or {})
        r = subprocess.run(args, capture_output=True, text=True, env=full_env, timeout=timeout)
        return r.returncode, r.stdout, r.stderr

    def audit_lines(self):
        path = os.path.join(self.cache, "audit.jsonl")
        if not os.path.exists(path):
            return []
        with open(path) as f:
            return [json.loads(l) for l in f if l.strip()]

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def proc_status_kb(pid, *keys):
    """Fields of /proc/PID/status counted in KB (VmRSS, RssAnon, ...), in the order
    named; 0 for one the kernel does not give."""
    found = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in keys:
                found[k] = int(v.split()[0])
    return tuple(found.get(k, 0) for k in keys)


def appdb(name, ns="team-a", db=None, owner=None, users=(), schemas=None, annotations=None,
          instance="local", generation=None, uid=None):
    """An AppDatabase manifest as YAML text. users: (name, access, secret name, key)."""
    db = db or name
    owner = owner or (db + "_owner")
    meta = {"name": name, "namespace": ns}
    if annotations:
        meta["annotations"] = annotations
    if generation is not None:
        meta["generation"] = generation
    if uid is not None:
        meta["uid"] = uid
    spec = {"instance": instance, "database": {"name": db, "owner": owner}}
    if schemas is not None:
        spec["schemas"] = list(schemas)
    spec["users"] = []
    for u in users:
        uname, access, secret, key = u[:4]
        entry = {"name": uname, "access": access,
                 "passwordFrom": {"kubernetesSecret": {"name": secret, "key": key}}}
        if len(u) > 4:
            entry["connectionLimit"] = u[4]
        spec["users"].append(entry)
    doc = {"apiVersion": "db.platform.dev/v1alpha1", "kind": "AppDatabase",
           "metadata": meta, "spec": spec}
    return json.dumps(doc, indent=2) + "\n"


def secret(name, data, ns="team-a"):
    """A v1 Secret manifest with stringData."""
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
           "type": "Opaque", "stringData": data}
    return json.dumps(doc, indent=2) + "\n"


def docs(*texts):
    return "---\n".join(texts)
