"""Pausing and adoption through the controller and the API simulator.

db.platform.dev/paused: "true" stops all SQL for the resource: no
connection, no statement, no audit record; the status keeps its last
conditions and adds Reconciling=False with reason Paused; removing the
annotation resumes, with whatever changed in the spec meanwhile. And the
output of `appdb-operator import`, applied with kubectl, is adopted.
"""
import json
import os
import re
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import OPERATOR  # noqa: E402
from e2e import condition, wait_until  # noqa: E402
from test_controller import Base, namespace, ready, resource  # noqa: E402

PAUSED = "db.platform.dev/paused"


def paused(sim, name, ns, generation):
    def check():
        obj = sim.get("appdb", name, ns)
        c = condition(obj, "Reconciling")
        if c and c["status"] == "False" and c["reason"] == "Paused" and \
                c["observedGeneration"] == generation:
            return obj
        return None
    return check


class TestPause(Base):
    extra = "resyncSeconds: 2\n"

    def run_ids(self, name):
        """The run ids of the controller's log lines about team-p/NAME that say Paused."""
        return set(re.findall(r"run=([0-9a-f]{32})\S* .*Paused",
                              "\n".join(l for l in self.op.output().splitlines()
                                        if "team-p/" + name in l or "name=" + name in l)))

    def test_pause_stops_all_sql_and_resumes(self):
        self.sim.apply(resource("psd", "team-p", annotations={PAUSED: "true"}))
        obj = wait_until(paused(self.sim, "psd", "team-p", 1), 30, what="Paused")
        self.assertIsNone(condition(obj, "Ready"))  # never reconciled: nothing to keep
        wait_until(lambda: len(self.run_ids("psd")) >= 2, 30, what="two paused runs")
        self.assertFalse(self.pg.database_exists("psd"))
        self.assertEqual(self.pg.superuser_sql(
            "select count(*) from pg_roles where rolname like 'psd%'"), ["0"])
        apps = set(self.pg.superuser_sql("select application_name from pg_stat_activity"))
        log = self.pg.log_text()
        for run in self.run_ids("psd"):
            self.assertNotIn("appdb-operator/" + run, apps)
            self.assertNotIn(run, log)
        self.assertEqual([a for a in self.op.audit() if a["resource"] == "team-p/psd"], [])

        # Removing the annotation resumes.
        self.sim.kubectl("annotate", "appdb", "psd", "-n", "team-p", PAUSED + "-")
        wait_until(ready(self.sim, "psd", "team-p"), 60, what="Ready")
        self.assertTrue(self.pg.can_login("psd_u0", "pw-psd0-1", "psd"))

        # Paused again, and the spec changes meanwhile: nothing runs, Ready is kept.
        self.sim.kubectl("annotate", "appdb", "psd", "-n", "team-p", PAUSED + "=true")
        patch = json.dumps([{"op": "add", "path": "/spec/users/0/connectionLimit", "value": 7}])
        self.sim.kubectl("patch", "appdb", "psd", "-n", "team-p", "--type=json", "-p", patch)
        obj = wait_until(paused(self.sim, "psd", "team-p", 2), 30, what="Paused at generation 2")
        self.assertEqual(condition(obj, "Ready")["status"], "True")
        self.assertEqual(obj["status"]["observedGeneration"], 1)
        self.assertEqual(self.pg.superuser_sql(
            "select rolconnlimit from pg_roles where rolname = 'psd_u0'"), ["-1"])
        self.sim.kubectl("annotate", "appdb", "psd", "-n", "team-p", PAUSED + "-")
        wait_until(ready(self.sim, "psd", "team-p", generation=2), 60, what="Ready at 2")
        self.assertEqual(self.pg.superuser_sql(
            "select rolconnlimit from pg_roles where rolname = 'psd_u0'"), ["7"])
        c = condition(self.sim.get("appdb", "psd", "team-p"), "Reconciling")
        self.assertNotEqual(c["reason"], "Paused")

    def test_import_output_is_applied_and_adopted(self):
        ok, _, err = self.pg.user_sql(self.pg.admin, self.pg.admin_password,
                                      "create role crm_owner nologin; "
                                      "create role crm_app login password 'crm-hand-pw'")
        self.assertTrue(ok, err)
        self.pg.superuser_sql("create database crm owner crm_owner")
        self.pg.superuser_sql("set role crm_owner; create table public.leads (v text); "
                              "insert into public.leads values ('lead-1'); "
                              "grant select, insert, update, delete on public.leads to crm_app",
                              "crm")
        r = subprocess.run([OPERATOR, "import", "--config", self.op.config, "--instance",
                            "local", "--namespace", "team-i"], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.sim.apply(namespace("team-i"))
        self.sim.apply(r.stdout)
        wait_until(ready(self.sim, "crm", "team-i"), 60, what="the imported crm Ready")
        ok, out, err = self.pg.user_sql("crm_app", "crm-hand-pw",
                                        "insert into public.leads values ('lead-2'); "
                                        "select count(*) from public.leads", "crm")
        self.assertTrue(ok, err)
        self.assertEqual(out.split(), ["2"])
        actions = [a for rec in self.op.audit() if rec["resource"] == "team-i/crm"
                   for a in rec.get("actions", [])]
        self.assertIn("adopt role crm_app", actions)
        self.assertIn("adopt database crm", actions)


if __name__ == "__main__":
    unittest.main()
