"""The CRD: one file in three places, its shape, its CEL subset, and the
corpus checked offline against its schema (tests/packaging/structural.py).
The same corpus goes to the API simulator in test_corpus_api.py."""

import filecmp
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

import lib  # noqa: E402
import minicel  # noqa: E402
import structural  # noqa: E402


def test_copies_identical():
    for copy in ("helm/appdb-operator/crds/appdatabase.yaml", "manifests/crd.yaml"):
        path = os.path.join(lib.ROOT, copy)
        assert os.path.isfile(path), "%s is missing" % copy
        assert filecmp.cmp(lib.CRD, path, shallow=False), \
            "%s differs from crds/appdatabase.yaml: run hack/gen-manifests.sh" % copy


def test_names_and_scope():
    crd = lib.load_crd()
    spec = crd["spec"]
    assert crd["metadata"]["name"] == "appdatabases.db.platform.dev"
    assert spec["group"] == "db.platform.dev"
    assert spec["scope"] == "Namespaced"
    names = spec["names"]
    assert (names["kind"], names["plural"], names["singular"]) == ("AppDatabase", "appdatabases", "appdatabase")
    assert names["shortNames"] == ["appdb"]
    assert names["categories"] == ["platform"]
    assert [v["name"] for v in spec["versions"]] == ["v1alpha1"]
    v = spec["versions"][0]
    assert v["served"] and v["storage"]
    assert v["subresources"] == {"status": {}}


def test_printer_columns():
    v = lib.load_crd()["spec"]["versions"][0]
    cols = [(c["name"], c["jsonPath"]) for c in v["additionalPrinterColumns"]]
    assert cols == [
        ("Instance", ".spec.instance"),
        ("Database", ".spec.database.name"),
        ("Ready", '.status.conditions[?(@.type=="Ready")].status'),
        ("Reason", '.status.conditions[?(@.type=="Ready")].reason'),
        ("Age", ".metadata.creationTimestamp"),
    ], cols
    assert v["additionalPrinterColumns"][-1]["type"] == "date"


def _walk(schema, path, out):
    out.append((path, schema))
    for key, sub in schema.get("properties", {}).items():
        _walk(sub, path + "." + key if path else key, out)
    if "items" in schema:
        _walk(schema["items"], path + "[]", out)
    return out


def test_structural_schema():
    schema = lib.load_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    for path, node in _walk(schema, "", []):
        assert "type" in node, "%s has no type: the schema would not be structural" % (path or "(root)")
        assert not node.get("x-kubernetes-preserve-unknown-fields"), "%s keeps unknown fields" % path
        if node.get("x-kubernetes-list-type") == "map":
            item = node["items"]
            for key in node["x-kubernetes-list-map-keys"]:
                assert key in item.get("required", []), "%s: list-map key %s must be required" % (path, key)
    nodes = dict(_walk(schema, "", []))
    assert nodes["spec.users"]["x-kubernetes-list-map-keys"] == ["name"]
    assert nodes["spec.users"]["maxItems"] == 100
    assert nodes["spec.schemas"]["maxItems"] == 32
    assert nodes["spec.users[].access"]["enum"] == ["readonly", "readwrite", "owner"]
    assert (nodes["spec.users[].connectionLimit"]["minimum"], nodes["spec.users[].connectionLimit"]["maximum"]) == (-1, 10000)
    for ident in ("spec.database.name", "spec.database.owner", "spec.users[].name", "spec.schemas[]"):
        assert nodes[ident]["pattern"] == "^[a-z_][a-z0-9_]{0,62}$", ident
        assert nodes[ident]["maxLength"] == 63, ident
    assert set(schema["required"]) == {"spec"}
    assert set(nodes["spec"]["required"]) == {"instance", "database"}
    # The status is typed, field by field.
    status = nodes["status"]["properties"]
    for field in ("observedGeneration", "conditions", "database", "users", "lastRun", "pendingActions"):
        assert field in status, "status.%s is not in the schema" % field
    assert nodes["status.lastRun.result"]["enum"] == ["Changed", "Unchanged", "Blocked", "Failed", "Invalid"]
    assert nodes["status.conditions"]["x-kubernetes-list-map-keys"] == ["type"]


def test_cel_rules_in_subset():
    schema = lib.load_crd()["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    found = structural.rules(schema)
    assert len(found) >= 6, found
    for path, rule in found:
        try:
            minicel.compile_rule(rule)
        except minicel.CelError as e:
            raise AssertionError("%s: rule %r: %s" % (path, rule, e))


def test_cel_subset_refuses_others():
    for rule in ("self.matches('^a$')", "self.endsWith('x')", "size(self) > 3",
                 "self.exists_one(x, x == 1)", "self == 1 ? true : false", "self.filter(x, x)"):
        try:
            minicel.compile_rule(rule)
        except minicel.CelError:
            continue
        raise AssertionError("the subset parser accepted %r" % rule)


def test_corpus_headers():
    files = lib.corpus_files()
    valid = [p for p, h in files if h.get("expect") == "valid"]
    invalid = [p for p, h in files if "/invalid/" in p]
    assert len(valid) >= 10, "only %d valid corpus files" % len(valid)
    assert len(invalid) >= 50, "only %d invalid corpus files" % len(invalid)
    for path, h in files:
        kinds = [k for k in ("expect", "expect-field") if k in h]
        assert len(kinds) == 1, "%s: needs exactly one of expect/expect-field" % path
        if "/valid/" in path:
            assert h.get("expect") == "valid" and "api" not in h, path
        else:
            assert h.get("expect", "invalid") == "invalid", path
        if "api" in h:
            assert h["api"].split()[0] in ("skip", "c-only") and len(h["api"].split()) > 1, \
                "%s: api: skip|c-only <why>" % path


def check_corpus_file(path, h, crd):
    api = h.get("api", "").split(" ", 1)[0]
    if api == "skip":
        raise lib.Skip("api: skip")
    try:
        objs = lib.yaml_file_to_objects(path)
    except AssertionError as e:
        errs = [("(kubectl)", str(e))]
    else:
        assert len(objs) == 1, "%s: %d documents" % (path, len(objs))
        errs = structural.validate_resource(crd, objs[0])
    text = "; ".join("%s: %s" % e for e in errs)
    if h.get("expect") == "valid" or api == "c-only":
        assert not errs, "refused: " + text
    else:
        assert errs, "accepted, but %s expects an error at %s" % (
            os.path.basename(path), h.get("expect-field", "(document)"))
        field = h.get("expect-field")
        if field and not text.startswith("(kubectl)"):
            assert lib.field_named(text, field), "error does not name %s: %s" % (field, text)


def corpus_tests():
    crd = lib.load_crd()
    return [("corpus-offline " + os.path.relpath(p, lib.CORPUS), (lambda p=p, h=h: check_corpus_file(p, h, crd)))
            for p, h in lib.corpus_files() if not h.get("api", "").startswith("skip")]


def tests():
    return [(n, f) for n, f in sorted(globals().items()) if n.startswith("test_") and callable(f)] + corpus_tests()


if __name__ == "__main__":
    lib.main_for("crd", tests())
