#!/usr/bin/env python3
"""The packaging suite (make test-packaging): the CRD and the corpus, the
Helm chart, the plain manifests, the RBAC checker, the Dockerfile, the
binary's hardening, the corpus and the install on the API simulator, and
the CRD upgrade with helm. Ends with `packaging: N passed, M failed`.
The image itself is the image suite (make image-test, test_image.py)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import lib  # noqa: E402
import test_check_rbac  # noqa: E402
import test_corpus_api  # noqa: E402
import test_crd  # noqa: E402
import test_crd_upgrade  # noqa: E402
import test_dockerfile  # noqa: E402
import test_hardening  # noqa: E402
import test_helm  # noqa: E402
import test_install  # noqa: E402
import test_manifests  # noqa: E402


def main():
    r = lib.Runner("packaging")
    try:
        for mod in (test_crd, test_dockerfile, test_hardening, test_helm, test_manifests, test_check_rbac,
                    test_crd_upgrade):
            for name, fn in mod.tests():
                r.run("%s: %s" % (mod.__name__, name), fn)
        for mod in (test_corpus_api, test_install):
            try:
                mod.setup()
                for name, fn in mod.tests():
                    r.run("%s: %s" % (mod.__name__, name), fn)
            finally:
                mod.teardown()
    finally:
        lib.cleanup()
    return r.finish()


if __name__ == "__main__":
    sys.exit(main())
