#!/usr/bin/env python3
"""Compares the operator's API calls with the RBAC rules the chart grants.

    check_rbac.py --log requests.jsonl --rendered RENDERED [--user USER]
                  [--log-user USER] [--allow-unused VERB:RESOURCE ...]

--log       the API simulator's request log: JSON lines with method, path,
            query (a string or an object), user and status.
--rendered  the chart as rendered (a YAML file, or a directory from
            `helm template --output-dir`).
--user      the operator's user name; default: the ServiceAccount the
            rendered RoleBindings name, as system:serviceaccount:NS:NAME.
--allow-unused  a grant that may go unused in this log, e.g. patch:events.
--log-user  judge the calls this user made (for example an admin identity the
            operator ran with in a test) against the ServiceAccount's grants;
            no other client may have used that identity in the log.

Two checks, both must hold:
 1. every request the operator made is allowed by the rendered rules (and
    none was answered 403);
 2. every verb the rules grant on every resource was used at least once
    (per namespace for namespaced Roles).
Discovery and other non-resource paths are listed, not judged: every
authenticated user may read them on a real cluster (system:discovery).
Exit status 0 when both hold, 1 otherwise, 2 on bad input.
"""

import argparse
import json
import os
import sys
from urllib.parse import parse_qs

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def parse_request(method, path, query):
    """The RBAC attributes of one request: a dict with verb, group, resource
    (with /subresource), namespace, name; or None for a non-resource path."""
    if isinstance(query, str):
        q = {k: v[-1] for k, v in parse_qs(query.lstrip("?")).items()}
    else:
        q = dict(query or {})
    if "?" in path:
        path, raw = path.split("?", 1)
        q.update({k: v[-1] for k, v in parse_qs(raw).items()})
    parts = [p for p in path.split("/") if p]
    if len(parts) >= 2 and parts[0] == "api":
        group, rest = "", parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, rest = parts[1], parts[3:]
    else:
        return None
    if not rest:
        return None
    ns = None
    if rest[0] == "namespaces" and len(rest) >= 3:
        ns, rest = rest[1], rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    method = method.upper()
    watch = str(q.get("watch", "")).lower() in ("true", "1")
    if method == "GET":
        verb = "watch" if watch else ("get" if name else "list")
    elif method == "POST":
        verb = "create"
    elif method == "PUT":
        verb = "update"
    elif method == "PATCH":
        verb = "patch"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = method.lower()
    return {"verb": verb, "group": group, "resource": resource + ("/" + sub if sub else ""),
            "namespace": ns, "name": name}


def load_rbac(objs):
    """(roles, bindings) from rendered objects."""
    roles = {}
    bindings = []
    for o in objs:
        kind = o.get("kind")
        md = o.get("metadata", {})
        if kind in ("Role", "ClusterRole"):
            roles[(kind, md.get("namespace") if kind == "Role" else None, md["name"])] = o.get("rules") or []
        elif kind in ("RoleBinding", "ClusterRoleBinding"):
            bindings.append(o)
    return roles, bindings


def subject_users(binding):
    users = set()
    for s in binding.get("subjects") or []:
        if s.get("kind") == "ServiceAccount":
            users.add("system:serviceaccount:%s:%s" % (s.get("namespace"), s["name"]))
        elif s.get("kind") == "User":
            users.add(s["name"])
    return users


def grants_for(user, roles, bindings):
    """Each grant: (scope namespace or None for all, role key, rule index, rule)."""
    out = []
    for b in bindings:
        if user not in subject_users(b):
            continue
        ref = b["roleRef"]
        scope = b["metadata"].get("namespace") if b["kind"] == "RoleBinding" else None
        key = (ref["kind"], scope if ref["kind"] == "Role" else None, ref["name"])
        for i, rule in enumerate(roles.get(key, [])):
            out.append((scope, key, i, rule))
    return out


def rule_allows(rule, req):
    def has(values, v):
        return "*" in values or v in values
    if not has(rule.get("apiGroups", []), req["group"]):
        return False
    if not has(rule.get("resources", []), req["resource"]):
        return False
    if not has(rule.get("verbs", []), req["verb"]):
        return False
    names = rule.get("resourceNames")
    if names:
        return req["name"] is not None and req["name"] in names
    return True


def check(log_lines, objs, user=None, allow_unused=(), log_user=None):
    """Returns (problems, report): lists of strings."""
    roles, bindings = load_rbac(objs)
    if user is None:
        sas = set()
        for b in bindings:
            sas |= {u for u in subject_users(b) if u.startswith("system:serviceaccount:")}
        if len(sas) != 1:
            return ["cannot tell the operator's user from the bindings: %s" % sorted(sas)], []
        user = sas.pop()
    grants = grants_for(user, roles, bindings)
    used = set()
    problems, report = [], []
    n_calls = 0
    nonresource = set()
    for lineno, line in enumerate(log_lines, 1):
        line = line.strip()
        if not line:
            continue
        try:
            rec = json.loads(line)
        except ValueError:
            problems.append("log line %d is not JSON" % lineno)
            continue
        if rec.get("user") != (log_user or user):
            continue
        req = parse_request(rec.get("method", ""), rec.get("path", ""), rec.get("query", ""))
        if req is None:
            nonresource.add("%s %s" % (rec.get("method"), rec.get("path", "").split("?")[0]))
            continue
        n_calls += 1
        what = "%s %s%s%s" % (req["verb"], req["resource"],
                              " %s" % req["name"] if req["name"] else "",
                              " in %s" % req["namespace"] if req["namespace"] else " (cluster-wide)")
        if int(rec.get("status", 0) or 0) == 403:
            problems.append("forbidden by the server: %s" % what)
        matched = [g for g in grants
                   if (g[0] is None or g[0] == req["namespace"]) and rule_allows(g[3], req)]
        if not matched:
            problems.append("not allowed by the rendered rules: %s" % what)
        for scope, key, i, rule in matched:
            used.add((scope, key, i, req["verb"], req["group"], req["resource"]))
    for scope, key, i, rule in grants:
        for g in rule.get("apiGroups", []):
            for r in rule.get("resources", []):
                for v in rule.get("verbs", []):
                    if (scope, key, i, v, g, r) in used:
                        continue
                    if "%s:%s" % (v, r) in allow_unused:
                        continue
                    problems.append("granted but never used: %s %s%s by %s %s%s" % (
                        v, r, " (%s)" % g if g else "",
                        key[0], key[2], " in %s" % scope if scope else ""))
    report.append("%d calls by %s checked against %d rules" % (n_calls, log_user or user, len(grants)))
    for p in sorted(nonresource):
        report.append("non-resource request (not judged): %s" % p)
    return problems, report


def load_rendered(path):
    import lib
    return lib.yaml_file_to_objects(path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--log", required=True)
    ap.add_argument("--rendered", required=True)
    ap.add_argument("--user")
    ap.add_argument("--allow-unused", action="append", default=[])
    ap.add_argument("--log-user")
    args = ap.parse_args(argv)
    try:
        with open(args.log) as f:
            lines = f.readlines()
        objs = load_rendered(args.rendered)
    except (OSError, AssertionError) as e:
        print("check_rbac: %s" % e, file=sys.stderr)
        return 2
    problems, report = check(lines, objs, args.user, args.allow_unused, args.log_user)
    for line in report:
        print(line)
    for p in problems:
        print("RBAC: " + p)
    print("rbac: %s" % ("ok" if not problems else "%d problems" % len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        import lib
        lib.cleanup()
