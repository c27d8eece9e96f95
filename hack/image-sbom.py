#!/usr/bin/env python3
"""The image's software bill of materials, as CycloneDX 1.5 JSON, made from
the image's own dpkg database (/var/lib/dpkg/status, copied out of a
created, never started, container) and its labels.

  hack/image-sbom.py --image appdb-operator:0.1.0 --out FILE ENGINE...

ENGINE is the engine's command (podman or docker, with any flags). Every
package dpkg has installed becomes a component with its version, its
architecture and a pkg:deb purl; the operator binary is one more, with the
build's version and revision. Standard library only.
"""

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
import uuid


def engine_run(engine, *args):
    p = subprocess.run(list(engine) + list(args), capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit("image-sbom: %s %s: %s" % (engine[0], " ".join(args), p.stderr.strip()))
    return p.stdout


def copy_out(engine, image, paths, dest):
    """Copies paths out of image into dest (same base names); absent ones are skipped."""
    cid = engine_run(engine, "create", image).strip()
    try:
        for path in paths:
            subprocess.run(list(engine) + ["cp", "%s:%s" % (cid, path), os.path.join(dest, os.path.basename(path))],
                           capture_output=True)
    finally:
        subprocess.run(list(engine) + ["rm", "-f", "-v", cid], capture_output=True)


def dpkg_status(text):
    """Installed packages from a dpkg status file: a list of field dicts."""
    out = []
    for para in text.split("\n\n"):
        fields, key = {}, None
        for line in para.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if fields.get("Package") and fields.get("Status", "").endswith(" installed"):
            out.append(fields)
    return sorted(out, key=lambda f: (f["Package"], f.get("Architecture", "")))


def os_release(text):
    rel = {}
    for line in text.splitlines():
        k, _, v = line.partition("=")
        if k:
            rel[k] = v.strip().strip('"')
    return rel


def purl(name, version, arch, distro):
    q = lambda s: urllib.parse.quote(s, safe=".-_~")  # noqa: E731
    return "pkg:deb/debian/%s@%s?arch=%s&distro=%s" % (q(name), q(version), q(arch), q(distro))


def bom(packages, rel, labels, image, image_id):
    distro = "%s-%s" % (rel.get("ID", "debian"), rel.get("VERSION_ID", ""))
    components = []
    for p in packages:
        arch = p.get("Architecture", "")
        props = [{"name": "dpkg:architecture", "value": arch}]
        if p.get("Source"):
            props.append({"name": "dpkg:source", "value": p["Source"]})
        ref = purl(p["Package"], p["Version"], arch, distro)
        components.append({"type": "library", "bom-ref": ref, "name": p["Package"], "version": p["Version"],
                           "purl": ref, "properties": props})
    version = labels.get("org.opencontainers.image.version", "")
    operator = {"type": "application", "bom-ref": "appdb-operator@" + version, "name": "appdb-operator",
                "version": version,
                "properties": [{"name": "path", "value": "/usr/local/bin/appdb-operator"},
                               {"name": "revision", "value": labels.get("org.opencontainers.image.revision", "")}]}
    lic = labels.get("org.opencontainers.image.licenses", "")
    if lic and lic != "NOASSERTION":
        operator["licenses"] = [{"expression": lic}]
    name, _, tag = image.rpartition(":")
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": "urn:uuid:%s" % uuid.uuid4(),
        "version": 1,
        "metadata": {
            "timestamp": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {"components": [{"type": "application", "name": "hack/image-sbom.py"}]},
            "component": {"type": "container", "bom-ref": image, "name": name or image, "version": tag,
                          "properties": [{"name": "image:id", "value": image_id}]
                          + [{"name": "label:" + k, "value": v} for k, v in sorted(labels.items())]},
        },
        "components": [operator] + components,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("engine", nargs="+")
    a = ap.parse_args()
    labels = json.loads(engine_run(a.engine, "image", "inspect", "--format", "{{json .Config.Labels}}", a.image)) or {}
    image_id = engine_run(a.engine, "image", "inspect", "--format", "{{.Id}}", a.image).strip()
    with tempfile.TemporaryDirectory() as d:
        copy_out(a.engine, a.image, ["/var/lib/dpkg/status", "/usr/lib/os-release"], d)
        try:
            with open(os.path.join(d, "status"), encoding="utf-8") as f:
                packages = dpkg_status(f.read())
        except OSError:
            sys.exit("image-sbom: %s has no /var/lib/dpkg/status" % a.image)
        rel = {}
        if os.path.exists(os.path.join(d, "os-release")):
            with open(os.path.join(d, "os-release")) as f:
                rel = os_release(f.read())
    doc = bom(packages, rel, labels, a.image, image_id)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f, indent=1, sort_keys=False)
        f.write("\n")
    os.replace(tmp, a.out)
    print("image-sbom: %d packages from %s's dpkg database -> %s" % (len(packages), a.image, a.out), file=sys.stderr)


if __name__ == "__main__":
    main()
