"""Checks the fake's SigV4 implementation against the published vectors.
Run: python3 tests/fakeaws/test_sigv4.py (prints 'sigv4: N passed, M failed')."""
import calendar
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigv4  # noqa: E402


def main():
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "testdata",
                           "sigv4_vectors.json")) as f:
        v = json.load(f)
    passed = failed = 0
    for c in v["cases"]:
        signed = c["signed"].split(";")
        creq = sigv4.canonical_request(c["method"], c["path"], c["query"], c["headers"], signed,
                                       sigv4.sha256_hex(c["body"]))
        got = sigv4.signature(v["secret_key"], v["amz_date"], v["region"], v["service"], creq)
        if got == c["signature"]:
            passed += 1
        else:
            failed += 1
            print("FAIL %s: got %s" % (c["name"], got))
    k = v["signing_key_example"]
    got = sigv4.signing_key(k["secret_key"], k["date"], k["region"], k["service"]).hex()
    if got == k["key_hex"]:
        passed += 1
    else:
        failed += 1
        print("FAIL signing key example: got %s" % got)
    r = v["rds_token"]
    now = calendar.timegm(time.strptime(r["now"], "%Y-%m-%dT%H:%M:%SZ"))
    ok, why = sigv4.verify_presigned(r["token"], lambda a: (r["secret_key"], None) if a == r["access_key"] else None, now)
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL rds token: %s" % why)
    # A tampered token must fail.
    bad = r["token"].replace("someusername", "someusernamf")
    ok, _ = sigv4.verify_presigned(bad, lambda a: (r["secret_key"], None), now)
    if not ok:
        passed += 1
    else:
        failed += 1
        print("FAIL tampered rds token accepted")
    print("sigv4: %d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
