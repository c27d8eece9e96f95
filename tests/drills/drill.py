"""Shared pieces of the controller's drills (make drills): the scale of the
run (short inside `make test`, full on demand), figures, a catalog
fingerprint of what a resource provisioned, and /proc readings.

APPDB_DRILLS=full selects the full form; figures are appended as JSON lines
to APPDB_DRILLS_FIGURES (default: build/drills/figures.jsonl)."""
import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "e2e"))
from harness import ROOT, PgServer, proc_status_kb  # noqa: E402
from e2e import CRD, KubeSim, Operator  # noqa: E402

FULL = os.environ.get("APPDB_DRILLS", "short") == "full"
FORM = "full" if FULL else "short"


def scale(short, full):
    return full if FULL else short


def figure(drill, **values):
    """Records one drill's figures (stderr and the figures file)."""
    values = dict(values, drill=drill, form=FORM, at=time.strftime("%Y-%m-%dT%H:%M:%SZ",
                                                                    time.gmtime()))
    sys.stderr.write("figures %s\n" % json.dumps(values, sort_keys=True))
    path = os.environ.get("APPDB_DRILLS_FIGURES") or os.path.join(
        os.environ.get("APPDB_BUILD") or os.path.join(ROOT, "build"), "drills", "figures.jsonl")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a") as f:
        f.write(json.dumps(values, sort_keys=True) + "\n")


class Drill(unittest.TestCase):
    """A PostgreSQL, the simulator with the CRD and an operator (started
    unless start is False) for each test; the operator's log is kept."""
    extra = "resyncSeconds: 30\n"
    start = True

    def setUp(self):
        self.pg = PgServer()
        self.sim = KubeSim()
        self.sim.kubectl("apply", "-f", CRD)
        self.op = Operator(self.pg, self.sim, "dev", self.extra)
        if self.start:
            self.op.start()

    def tearDown(self):
        keep_log(self.id(), self.op)
        self.op.cleanup()
        self.sim.cleanup()
        self.pg.stop()


def keep_log(test_id, op):
    """Keeps the operator's log of a drill under build/drills/ for a look after."""
    d = os.path.join(os.environ.get("APPDB_BUILD") or os.path.join(ROOT, "build"), "drills")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, test_id.rsplit(".", 1)[-1] + ".log"), "w") as f:
        f.write(op.output())


def proc_fds(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def proc_rss_kb(pid):
    return proc_status_kb(pid, "VmRSS")[0]


# What one resource provisioned, with its own names replaced by X, so that
# resources of the same shape give the same text whatever their names.
FINGERPRINT_GLOBAL = """
select json_build_object(
  'database', (select json_build_object('owner', pg_get_userbyid(d.datdba),
       'encoding', pg_encoding_to_char(d.encoding), 'connlimit', d.datconnlimit,
       'acl', d.datacl::text, 'allowconn', d.datallowconn, 'istemplate', d.datistemplate)
     from pg_catalog.pg_database d where d.datname = '{db}'),
  'settings', (select json_agg(s.setconfig::text order by s.setconfig::text) from pg_catalog.pg_db_role_setting s
     where s.setdatabase = (select oid from pg_catalog.pg_database where datname = '{db}')
        or s.setrole in (select oid from pg_catalog.pg_roles where rolname like '{db}\\_%')),
  'roles', (select json_agg(json_build_object('name', r.rolname, 'super', r.rolsuper,
       'inherit', r.rolinherit, 'createrole', r.rolcreaterole, 'createdb', r.rolcreatedb,
       'login', r.rolcanlogin, 'repl', r.rolreplication, 'bypassrls', r.rolbypassrls,
       'connlimit', r.rolconnlimit, 'password', r.rolpassword is not null)
       order by r.rolname)
     from pg_catalog.pg_authid r where r.rolname like '{db}\\_%'),
  'members', (select json_agg(json_build_object('role', pg_get_userbyid(m.roleid),
       'member', pg_get_userbyid(m.member), 'admin', m.admin_option,
       'grantor', pg_get_userbyid(m.grantor) = '{admin}')
       order by pg_get_userbyid(m.roleid), pg_get_userbyid(m.member))
     from pg_catalog.pg_auth_members m
     where pg_get_userbyid(m.roleid) like '{db}\\_%' or pg_get_userbyid(m.member) like '{db}\\_%'))
"""

FINGERPRINT_LOCAL = """
select json_build_object(
  'schemas', (select json_agg(json_build_object('name', n.nspname,
       'owner', pg_get_userbyid(n.nspowner), 'acl', n.nspacl::text) order by n.nspname)
     from pg_catalog.pg_namespace n where n.nspname !~ '^pg_' and n.nspname <> 'information_schema'),
  'defaults', (select json_agg(json_build_object('role', pg_get_userbyid(a.defaclrole),
       'schema', a.defaclnamespace::regnamespace::text, 'type', a.defaclobjtype,
       'acl', a.defaclacl::text) order by a.defaclacl::text) from pg_catalog.pg_default_acl a),
  'relations', (select count(*) from pg_catalog.pg_class c join pg_catalog.pg_namespace n
       on n.oid = c.relnamespace where n.nspname !~ '^pg_' and n.nspname <> 'information_schema'))
"""


def fingerprint(pg, db):
    """The catalog of one resource's database and roles (database db, roles
    db_*), its names replaced by X."""
    g = pg.superuser_sql(FINGERPRINT_GLOBAL.format(db=db, admin=pg.admin))
    loc = pg.superuser_sql(FINGERPRINT_LOCAL, db=db)
    text = json.dumps([json.loads(g[0]), json.loads(loc[0])], sort_keys=True)
    return re.sub(r"\b%s(?=_|\b)" % re.escape(db), "X", text)


def databases(pg):
    return set(pg.superuser_sql("select datname from pg_catalog.pg_database"))


def roles(pg):
    return set(pg.superuser_sql("select rolname from pg_catalog.pg_roles"))
