"""TLS and client certificates of the Kubernetes client, against a small
HTTPS server that requires a client certificate (Python's ssl module):
certificate-authority-data and certificate-authority file, client
certificate and key as -data and as files, a wrong CA refused, and
insecure-skip-tls-verify honoured only when it is set to true."""

import base64
import http.server
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import unittest

ROOT = os.environ.get("APPDB_ROOT", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("APPDB_BUILD", os.path.join(ROOT, "build"))
DRIVER = os.environ.get("APPDB_CTRL_DRIVER", os.path.join(BUILD, "ctrl", "ctrl_driver"))


def openssl(*args, cwd):
    subprocess.run(["openssl"] + list(args), cwd=cwd, check=True, capture_output=True)


def make_ca(d, name):
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
            name + ".key", "-out", name + ".crt", "-days", "2", "-subj", "/CN=" + name, cwd=d)


def make_cert(d, name, ca, san=None):
    openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", name + ".key",
            "-out", name + ".csr", "-subj", "/CN=" + name, cwd=d)
    ext = os.path.join(d, name + ".ext")
    with open(ext, "w") as f:
        f.write("subjectAltName=%s\n" % (san or "DNS:" + name))
    openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key", "-CAcreateserial",
            "-out", name + ".crt", "-days", "2", "-extfile", ext, cwd=d)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        cert = self.connection.getpeercert()
        cn = dict(x[0] for x in cert["subject"])["commonName"] if cert else ""
        body = json.dumps({"kind": "AppDatabaseList", "metadata": {"resourceVersion": "1"},
                           "items": [{"metadata": {"namespace": "tls", "name": cn}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="ctrl-tls-")
        make_ca(cls.dir, "ca")
        make_ca(cls.dir, "other-ca")
        make_cert(cls.dir, "server", "ca", "IP:127.0.0.1")
        make_cert(cls.dir, "client-a", "ca")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(os.path.join(cls.dir, "server.crt"), os.path.join(cls.dir, "server.key"))
        ctx.load_verify_locations(os.path.join(cls.dir, "ca.crt"))
        ctx.verify_mode = ssl.CERT_REQUIRED
        cls.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        cls.httpd.socket = ctx.wrap_socket(cls.httpd.socket, server_side=True)
        cls.port = cls.httpd.server_address[1]
        cls.thread = threading.Thread(target=cls.httpd.serve_forever, daemon=True)
        cls.thread.start()

    @classmethod
    def tearDownClass(cls):
        cls.httpd.shutdown()
        cls.httpd.server_close()
        shutil.rmtree(cls.dir)

    def b64(self, name):
        with open(os.path.join(self.dir, name), "rb") as f:
            return base64.b64encode(f.read()).decode()

    def kubeconfig(self, cluster, user):
        path = os.path.join(self.dir, "kubeconfig")
        with open(path, "w") as f:
            f.write("current-context: c\nclusters:\n- name: k\n  cluster:\n    server: https://127.0.0.1:%d\n%s"
                    "contexts: [{name: c, context: {cluster: k, user: u}}]\nusers:\n- name: u\n  user:\n%s"
                    % (self.port, cluster, user or "    {}\n"))
        return path

    def list(self, cluster, user):
        p = subprocess.run([DRIVER, "--kubeconfig", self.kubeconfig(cluster, user), "list"], capture_output=True,
                           text=True, timeout=30)
        self.assertNotIn("Sanitizer", p.stderr)
        return p.stdout

    def cert_data(self):
        return ("    client-certificate-data: %s\n    client-key-data: %s\n"
                % (self.b64("client-a.crt"), self.b64("client-a.key")))

    def test_ca_data_and_client_cert_data(self):
        out = self.list("    certificate-authority-data: %s\n" % self.b64("ca.crt"), self.cert_data())
        self.assertIn("list ok", out)
        self.assertIn("item tls/client-a", out)

    def test_ca_file_and_client_cert_files(self):
        out = self.list("    certificate-authority: ca.crt\n",
                        "    client-certificate: client-a.crt\n    client-key: %s\n"
                        % os.path.join(self.dir, "client-a.key"))
        self.assertIn("item tls/client-a", out)

    def test_without_client_certificate_refused(self):
        out = self.list("    certificate-authority-data: %s\n" % self.b64("ca.crt"), None)
        self.assertIn("list error transient", out)

    def test_wrong_ca_refused(self):
        out = self.list("    certificate-authority-data: %s\n" % self.b64("other-ca.crt"), self.cert_data())
        self.assertIn("list error transient", out)
        self.assertIn("TLS", out)

    def test_insecure_only_when_true(self):
        out = self.list("    certificate-authority-data: %s\n    insecure-skip-tls-verify: false\n"
                        % self.b64("other-ca.crt"), self.cert_data())
        self.assertIn("list error transient", out)
        out = self.list("    certificate-authority-data: %s\n    insecure-skip-tls-verify: true\n"
                        % self.b64("other-ca.crt"), self.cert_data())
        self.assertIn("item tls/client-a", out)


if __name__ == "__main__":
    unittest.main()
