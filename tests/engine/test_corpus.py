"""The shared corpus (tests/corpus) through the engine and a real PostgreSQL.

Every invalid or hostile manifest exits 1 with a message naming its field,
and the server runs no statement for it; every valid one validates.
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from harness import ROOT, PgServer, Workspace  # noqa: E402

CORPUS = os.path.join(ROOT, "tests", "corpus")
PG = None


def setUpModule():
    global PG
    PG = PgServer()


def tearDownModule():
    PG.stop()


def header(path):
    """The '# key: value' comment lines at the top of a corpus file."""
    out = {}
    with open(path, "rb") as f:
        for raw in f:
            line = raw.decode("utf-8", "replace").strip()
            if not line.startswith("#"):
                break
            key, _, value = line[1:].strip().partition(":")
            out.setdefault(key.strip(), value.strip())
    return out


def files(kind):
    d = os.path.join(CORPUS, kind)
    return sorted(os.path.join(d, f) for f in os.listdir(d) if f.endswith(".yaml"))


class TestCorpus(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ws = Workspace(PG)

    @classmethod
    def tearDownClass(cls):
        cls.ws.cleanup()

    def test_corpus_is_large_enough(self):
        self.assertGreaterEqual(len(files("invalid")), 40)
        self.assertGreaterEqual(len(files("valid")), 10)

    def test_invalid_manifests_are_refused_with_the_field(self):
        for path in files("invalid"):
            with self.subTest(file=os.path.basename(path)):
                h = header(path)
                before = len(PG.statements())
                code, out, err = self.ws.run("reconcile", path, timeout=60)
                self.assertEqual(code, 1, err[-500:])
                if "expect-field" in h:
                    self.assertIn(h["expect-field"], err, "the message must name the field")
                self.assertEqual(len(PG.statements()), before, "a statement ran for it")
                self.assertNotIn("Traceback", err)
                self.assertLess(len(err), 20000, "the message is bounded")

    def test_valid_manifests_validate(self):
        for path in files("valid"):
            with self.subTest(file=os.path.basename(path)):
                code, out, err = self.ws.run("validate", path)
                self.assertEqual(code, 0, err)


if __name__ == "__main__":
    unittest.main()
