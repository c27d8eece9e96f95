"""spec.connection (DESIGN 11.4) through the controller and the API
simulator: the ConfigMap's values let psql connect with the password from
its source, the Secret's <user>.uri works as is, neither holds anything but
the listed keys, both are owned by the resource and follow a change of the
user list and of the instance's host; an object of that name the resource
does not own is left alone with a Warning Event."""
import base64
import json
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import appdb, secret, docs  # noqa: E402
from e2e import KubeSim, Operator, CRD, wait_until  # noqa: E402
from harness import PgServer  # noqa: E402
from test_controller import Base, namespace, ready  # noqa: E402

NS = "team-conn"


def resource(users, connection):
    doc = json.loads(appdb("conn", ns=NS, users=[(u, "readwrite", "conn-db", u) for u in users]))
    doc["spec"]["connection"] = connection
    return docs(namespace(NS), secret("conn-db", {u: "pw-" + u.replace("_", "-") for u in users}, ns=NS),
                json.dumps(doc) + "\n")


def psql(pg, conninfo, password=None):
    env = dict(os.environ, PGSSLROOTCERT=pg.ca, PGCONNECT_TIMEOUT="5")
    env.pop("PGPASSWORD", None)
    if password is not None:
        env["PGPASSWORD"] = password
    r = subprocess.run(["psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1", conninfo, "-c",
                        "select current_user || '@' || current_database()"],
                       capture_output=True, text=True, env=env, timeout=30)
    return r.stdout.strip() if r.returncode == 0 else "failed: " + r.stderr


class TestConnectionObjects(Base):
    @classmethod
    def setUpClass(cls):
        cls.pg = PgServer()
        cls.sim = KubeSim()
        cls.sim.kubectl("apply", "-f", CRD)
        cls.op = Operator(cls.pg, cls.sim, cls.environment, cls.extra)
        cls.set_config("127.0.0.1")
        cls.op.start(cls.env)

    @classmethod
    def set_config(cls, host):
        with open(cls.op.config) as f:
            text = f.read()
        lines = [l for l in text.splitlines() if "allowConnectionSecrets" not in l]
        out = []
        for l in lines:
            if l.startswith("    host: "):
                l = "    host: " + host
            out.append(l)
            if l.startswith("    port: "):
                out.append("    allowConnectionSecrets: true")
        with open(cls.op.config, "w") as f:
            f.write("\n".join(out) + "\n")

    def data(self, kind, name):
        obj = self.sim.get(kind, name, NS)
        return obj, (obj or {}).get("data") or {}

    def secret_data(self):
        obj, d = self.data("secret", "conn-creds")
        return obj, {k: base64.b64decode(v).decode() for k, v in d.items()}

    def test_configmap_and_secret_connect_and_follow_changes(self):
        self.sim.apply(resource(["conn_app"], {"configMap": "conn-db-info", "secret": "conn-creds"}))
        obj = wait_until(ready(self.sim, "conn", NS), 60, what="Ready")
        cm, d = wait_until(lambda: (lambda o: o if o[0] else None)(self.data("configmap", "conn-db-info")),
                           30, what="the ConfigMap")
        self.assertEqual(d, {"host": "127.0.0.1", "port": str(self.pg.port), "dbname": "conn",
                             "sslmode": "verify-full", "conn_app.username": "conn_app"})
        for o in (cm, wait_until(lambda: self.data("secret", "conn-creds")[0], 30, what="the Secret")):
            self.assertEqual(o["metadata"]["ownerReferences"], [
                {"apiVersion": "db.platform.dev/v1alpha1", "kind": "AppDatabase", "name": "conn",
                 "uid": obj["metadata"]["uid"], "controller": True}])
        # psql from the ConfigMap's values, the password from its source.
        info = "host=%s port=%s dbname=%s sslmode=%s user=%s" % (
            d["host"], d["port"], d["dbname"], d["sslmode"], d["conn_app.username"])
        self.assertEqual(psql(self.pg, info, "pw-conn-app"), "conn_app@conn")
        sec, s = self.secret_data()
        self.assertEqual(sec["type"], "Opaque")
        self.assertEqual(sorted(s), ["conn_app.jdbcUrl", "conn_app.password", "conn_app.uri"])
        self.assertEqual(s["conn_app.password"], "pw-conn-app")
        self.assertEqual(psql(self.pg, s["conn_app.uri"]), "conn_app@conn")
        self.assertEqual(s["conn_app.jdbcUrl"], "jdbc:postgresql://127.0.0.1:%d/conn?sslmode=verify-full"
                         "&user=conn_app&password=pw-conn-app" % self.pg.port)

        # Keys someone else adds are taken out again; a second user is added.
        self.sim.kubectl("patch", "configmap", "conn-db-info", "-n", NS, "--type=merge",
                         "-p", '{"data": {"extra": "x"}}')
        self.sim.apply(resource(["conn_app", "conn_ro"], {"configMap": "conn-db-info", "secret": "conn-creds"}))
        wait_until(lambda: self.data("configmap", "conn-db-info")[1].get("conn_ro.username") == "conn_ro"
                   and "extra" not in self.data("configmap", "conn-db-info")[1], 60, what="the second user")
        wait_until(lambda: "conn_ro.uri" in self.secret_data()[1], 30, what="the second user's Secret keys")
        self.assertEqual(psql(self.pg, self.secret_data()[1]["conn_ro.uri"]), "conn_ro@conn")
        # The user list shrinks: its keys go.
        self.sim.apply(resource(["conn_ro"], {"configMap": "conn-db-info", "secret": "conn-creds"}))
        wait_until(lambda: sorted(self.secret_data()[1]) == ["conn_ro.jdbcUrl", "conn_ro.password", "conn_ro.uri"]
                   and "conn_app.username" not in self.data("configmap", "conn-db-info")[1], 60,
                   what="the removed user's keys gone")

        # The instance moves (a config change, the operator restarted): both follow.
        self.op.stop()
        self.set_config("localhost")
        self.op.start(self.env)
        wait_until(lambda: self.data("configmap", "conn-db-info")[1].get("host") == "localhost", 60,
                   what="the new host in the ConfigMap")
        uri = wait_until(lambda: (lambda u: u if "@localhost:" in u else None)(
            self.secret_data()[1].get("conn_ro.uri", "")), 30, what="the new host in the Secret")
        self.assertEqual(psql(self.pg, uri), "conn_ro@conn")
        # No password in the operator's log or in any Event.
        events = self.sim.kubectl("get", "events", "-n", NS, "-o", "json").stdout
        for text in (self.op.output(), events):
            self.assertNotIn("pw-conn-app", text)
            self.assertNotIn("pw-conn-ro", text)

    def test_object_not_owned_is_left_alone(self):
        self.sim.apply(docs(namespace("team-own"), json.dumps({
            "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "theirs", "namespace": "team-own"},
            "data": {"keep": "me"}})))
        doc = json.loads(appdb("own", ns="team-own", users=[("own_app", "readonly", "own-db", "p")]))
        doc["spec"]["connection"] = {"configMap": "theirs"}
        self.sim.apply(docs(secret("own-db", {"p": "pw-own"}, ns="team-own"), json.dumps(doc) + "\n"))
        wait_until(ready(self.sim, "own", "team-own"), 60, what="Ready")
        ev = wait_until(lambda: [e for e in json.loads(self.sim.kubectl(
            "get", "events", "-n", "team-own", "-o", "json").stdout)["items"]
            if e["reason"] == "ConnectionObjectNotOwned"], 30, what="the Warning Event")
        self.assertEqual(ev[0]["type"], "Warning")
        self.assertIn("ConfigMap theirs exists and is not owned", ev[0]["message"])
        self.assertEqual(self.sim.get("configmap", "theirs", "team-own")["data"], {"keep": "me"})
        self.assertNotIn("pw-own", self.op.output())


if __name__ == "__main__":
    unittest.main()
