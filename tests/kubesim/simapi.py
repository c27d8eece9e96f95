"""kubesim API semantics: routing, authentication, authorization, CRUD with
the metadata rules, list/watch, discovery, OpenAPI and Tables. The HTTP
transport lives in the kubesim program; this module turns a parsed request
into a response."""

import base64
import copy
import json
import random
import re
import secrets as pysecrets
import threading
import time
import uuid

import simmeta
import simproto
import simrbac
import simres
import simschema
import simssa
import simvap
from simstore import Watcher
from simutil import (ApiError, FieldError, bad_request, bad_resource_version, storage_error, conflict, already_exists, not_found, invalid, gone,
                     forbidden, now_ts, parse_label_selector, label_match, parse_field_selector,
                     field_match, field_value, merge_patch, json_patch, strategic_merge)

ADMIN_USER = "kubernetes-admin"
MAX_BODY = 3 * 1024 * 1024  # --max-request-body-bytes
SYSTEM_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"]
GEN_CHARS = "bcdfghjklmnpqrstvwxz2456789"



CONFIG_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")


def _config_key_errors(body, fields):
    """The apiserver's IsConfigMapKey on every key of a Secret's or ConfigMap's data."""
    errs = []
    for f in fields:
        for key in (body.get(f) or {}):
            if len(key) > 253:
                errs.append(FieldError("Invalid value", "%s[%s]" % (f, key), key,
                                       "must be no more than 253 characters"))
            if not CONFIG_KEY.match(key):
                errs.append(FieldError("Invalid value", "%s[%s]" % (f, key), key,
                                       "a valid config key must consist of alphanumeric characters, '-', '_' or "
                                       "'.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for "
                                       "validation is '[-._a-zA-Z0-9]+')"))
            elif key in (".", ".."):
                errs.append(FieldError("Invalid value", "%s[%s]" % (f, key), key, "must not be '.' or '..'"))
    return errs

class Request:
    """A parsed HTTP request."""

    def __init__(self, method, path, query, headers, body):
        self.method = method
        self.path = path
        self.query = query  # {name: last value}
        self.headers = headers
        self.body = body
        self.user = None
        self.groups = []
        self.cert_user = None  # (CN, [O...]) of a verified client certificate

    def q(self, name, default=None):
        return self.query.get(name, default)


class Response:
    def __init__(self, code, obj, headers=None, raw=None, ctype="application/json"):
        self.code = code
        self.obj = obj
        self.headers = headers or {}
        self.raw = raw
        self.ctype = ctype


class WatchResponse:
    """A streaming watch; the transport calls run(write) with a function
    that writes one chunk."""

    def __init__(self, api, res, ns, req, table):
        self.api = api
        self.res = res
        self.ns = ns
        self.req = req
        self.table = table
        self.code = 200

    def run(self, write, set_sock):
        self.api.run_watch(self, write, set_sock)


class Api:
    """All API state: store, registry, tokens, faults, request log."""

    def __init__(self, store, bookmark_seconds=10.0):
        self.store = store
        self.lock = store.lock
        self.bookmark_seconds = bookmark_seconds
        self.log = []
        self.log_lock = threading.Lock()
        self.faults = []  # dicts: method, regex, status, count, retry_after
        self.delays = []  # dicts: method, regex, seconds
        self.openapi_cache = None
        self.ns_cleanup_delay = 0.5
        self.snapshots = {}  # (skey, ns, rv) -> objects of a paginated list
        if "admin_token" not in store.extra:
            store.set_extra("admin_token", pysecrets.token_urlsafe(32))
        if "sa_tokens" not in store.extra:
            store.set_extra("sa_tokens", {})
        self.rebuild()
        self.bootstrap()

    # ---- registry -------------------------------------------------------------
    def rebuild(self):
        with self.lock:
            res = simres.builtins()
            crds, _ = self.store.list("apiextensions.k8s.io/customresourcedefinitions")
            for crd in crds:
                if (crd.get("metadata") or {}).get("deletionTimestamp"):
                    continue
                res.extend(simres.crd_resources(crd))
            self.resources = res
            self.by_gvr = {(r.group, r.version, r.plural): r for r in res}
            self.openapi_cache = None

    def res_for_skey(self, skey):
        for r in self.resources:
            if r.skey == skey and r.version == r.storage_version and r.group != "events.k8s.io":
                return r
        return None

    def bootstrap(self):
        """Create the namespaces and RBAC objects every cluster starts with."""
        with self.lock:
            for ns in SYSTEM_NAMESPACES:
                if not self.store.get("/namespaces", "", ns):
                    self._create(self.by_gvr[("", "v1", "namespaces")], "",
                                 {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}, {})
            for obj in simrbac.bootstrap_objects():
                plural = obj["kind"].lower() + "s"
                r = self.by_gvr[("rbac.authorization.k8s.io", "v1", plural)]
                if not self.store.get(r.skey, "", obj["metadata"]["name"]):
                    self._create(r, "", obj, {})

    # ---- authentication -------------------------------------------------------
    def authenticate(self, req):
        auth = req.headers.get("Authorization", "")
        if req.cert_user:
            # x509 comes first in the real authenticator chain: CN is the
            # user, O the groups
            req.user = req.cert_user[0]
            req.groups = list(req.cert_user[1]) + ["system:authenticated"]
            self._impersonate(req)
            return
        if not auth:
            req.user, req.groups = "system:anonymous", ["system:unauthenticated"]
            return
        if not auth.startswith("Bearer "):
            raise ApiError(401, "Unauthorized", "Unauthorized")
        tok = auth[7:].strip()
        if tok == self.store.extra["admin_token"]:
            req.user, req.groups = ADMIN_USER, ["system:masters", "system:authenticated"]
        else:
            sa = self.store.extra["sa_tokens"].get(tok)
            if not sa:
                raise ApiError(401, "Unauthorized", "Unauthorized")
            ns, name = sa.split("/", 1)
            req.user = "system:serviceaccount:%s:%s" % (ns, name)
            req.groups = ["system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"]
        self._impersonate(req)

    def _impersonate(self, req):
        imp = req.headers.get("Impersonate-User")
        if imp:
            if not simrbac.authorize(self.store, req.user, req.groups,
                                     {"verb": "impersonate", "group": "", "resource": "users", "name": imp}):
                raise ApiError(403, "Forbidden", 'users "%s" is forbidden: User "%s" cannot impersonate resource '
                               '"users" in API group "" at the cluster scope' % (imp, req.user),
                               {"name": imp, "kind": "users"})
            groups = [g.strip() for g in req.headers.get_all("Impersonate-Group") or []] \
                if hasattr(req.headers, "get_all") else []
            m = re.match(r"^system:serviceaccount:([^:]+):([^:]+)$", imp)
            if m:
                groups += ["system:serviceaccounts", "system:serviceaccounts:" + m.group(1)]
            req.user, req.groups = imp, groups + ["system:authenticated"]

    def mint_token(self, ns, sa):
        tok = pysecrets.token_urlsafe(32)
        with self.lock:
            toks = dict(self.store.extra["sa_tokens"])
            toks[tok] = "%s/%s" % (ns, sa)
            self.store.set_extra("sa_tokens", toks)
        return tok

    def rotate_token(self, ns, sa):
        with self.lock:
            key = "%s/%s" % (ns, sa)
            toks = {t: v for t, v in self.store.extra["sa_tokens"].items() if v != key}
            self.store.set_extra("sa_tokens", toks)
        return self.mint_token(ns, sa)

    # ---- entry point ----------------------------------------------------------
    def handle(self, req):
        self.authenticate(req)
        p = req.path.rstrip("/") or "/"
        if p in ("/healthz", "/livez", "/readyz", "/version") or p.startswith("/healthz/") or \
                p.startswith("/livez/") or p.startswith("/readyz/"):
            self.authorize_path(req, p)
            if p == "/version":
                return Response(200, {"major": "1", "minor": "36", "emulationMajor": "1", "emulationMinor": "36",
                                      "minCompatibilityMajor": "1", "minCompatibilityMinor": "35",
                                      "gitVersion": "v1.36.3-kubesim", "gitCommit": "0" * 40,
                                      "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
                                      "goVersion": "go1.25", "compiler": "gc", "platform": "linux/amd64"})
            return Response(200, None, raw=b"ok", ctype="text/plain; charset=utf-8")
        if p in ("/api", "/apis") and "as=APIGroupDiscoveryList" in req.headers.get("Accept", "") and \
                "v=v2;" in req.headers.get("Accept", "").replace(" ", "") + ";":
            self.authorize_path(req, p)
            with self.lock:
                doc = simres.aggregated(self.resources, p == "/api")
            return Response(200, doc, ctype="application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList")
        if p == "/api":
            self.authorize_path(req, p)
            return Response(200, {"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [
                {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:443"}]})
        if p == "/apis":
            self.authorize_path(req, p)
            with self.lock:
                gvs = simres.group_versions(self.resources)
            groups = [simres.api_group(g, vs) for g, vs in gvs.items() if g]
            return Response(200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
        if p.startswith("/openapi"):
            self.authorize_path(req, p)
            return self.openapi(req, p)
        parts = p.strip("/").split("/")
        if parts[0] == "api":
            if len(parts) < 2 or parts[1] != "v1":
                raise not_found("", "", p)
            group, version, rest = "", "v1", parts[2:]
        elif parts[0] == "apis" and len(parts) >= 2:
            group = parts[1]
            if len(parts) == 2:
                self.authorize_path(req, p)
                with self.lock:
                    vs = simres.group_versions(self.resources).get(group)
                if not vs:
                    raise ApiError(404, "NotFound", "the server could not find the requested resource",
                                   {})
                return Response(200, simres.api_group(group, vs))
            version, rest = parts[2], parts[3:]
        else:
            self.authorize_path(req, p)
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        if not rest:
            self.authorize_path(req, p)
            with self.lock:
                if not any(r.group == group and r.version == version for r in self.resources):
                    raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
                return Response(200, simres.api_resource_list(self.resources, group, version))
        return self.resource_request(req, group, version, rest)

    def authorize_path(self, req, p):
        if not simrbac.authorize(self.store, req.user, req.groups, {"verb": req.method.lower(), "path": p}):
            raise ApiError(403, "Forbidden", 'forbidden: User "%s" cannot %s path "%s"'
                           % (req.user, req.method.lower(), p), {})

    def openapi(self, req, p):
        with self.lock:
            if self.openapi_cache is None:
                self.openapi_cache = simres.openapi_root(self.resources)
            root, docs = self.openapi_cache
        if p == "/openapi/v3":
            return Response(200, root)
        if p.startswith("/openapi/v3/"):
            key = p[len("/openapi/v3/"):]
            if key in docs:
                return Response(200, None, raw=docs[key])
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        # /openapi/v2: kubectl asks for protobuf; answer 404 like a server
        # without it so that kubectl falls back to its compiled-in types.
        raise ApiError(404, "NotFound", "the server could not find the requested resource", {})

    # ---- resource requests ------------------------------------------------------
    def resource_request(self, req, group, version, rest):
        ns = None
        if rest[0] == "namespaces" and len(rest) >= 3 and rest[2] not in ("status", "finalize"):
            ns, rest = rest[1], rest[2:]
        plural = rest[0]
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if len(rest) > 3:
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        with self.lock:
            r = self.by_gvr.get((group, version, plural))
        if r is None or (ns is not None and not r.namespaced):
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        watch = req.q("watch") in ("true", "1")
        m = req.method
        if m == "GET":
            verb = "watch" if watch else ("get" if name else "list")
        else:
            verb = {"POST": "create", "PUT": "update", "PATCH": "patch",
                    "DELETE": "delete" if name else "deletecollection"}.get(m)
            if verb is None:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                               "resource", {})
        if m == "POST" and name and sub == "token" and r.skey == "/serviceaccounts":
            verb = "create"
        if m == "POST" and name and not sub:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                           "resource", {})
        aname = name
        if not name and verb in ("list", "watch"):
            fs = req.q("fieldSelector") or ""
            mm = re.search(r"(?:^|,)metadata\.name==?([^,]+)", fs)
            if mm:
                aname = mm.group(1)
        attrs = {"verb": verb, "group": group, "resource": plural, "subresource": sub, "namespace": ns,
                 "name": aname}
        if not simrbac.authorize(self.store, req.user, req.groups, attrs):
            what = plural + ("/" + sub if sub else "")
            qual = plural + ("." + group if group else "")
            subject = '%s "%s"' % (qual, name) if name else qual
            scope = 'in the namespace "%s"' % ns if ns else "at the cluster scope"
            raise forbidden(group, plural, name, '%s is forbidden: User "%s" cannot %s resource "%s" in API group '
                            '"%s" %s' % (subject, req.user, verb, what, group, scope))
        if sub == "scale" and r.scale:
            return self.scale_request(req, r, ns, name)
        if sub and not (sub == "status" and r.status) and not (sub == "token" and r.skey == "/serviceaccounts"):
            raise ApiError(404, "NotFound", "the server could not find the requested resource", {})
        if r.create_only:
            if m != "POST":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                               "resource", {})
            return self.review(req, r)
        if sub == "token":
            return self.token_request(req, r, ns, name)
        table = "as=Table" in req.headers.get("Accept", "")
        if m == "GET":
            if watch:
                self.selectors(req, r)  # a bad selector is a 400 before the stream starts
                rvq = req.q("resourceVersion")
                if not _rv_ok(rvq):
                    raise storage_error(bad_resource_version(rvq))
                return WatchResponse(self, r, ns, req, table)
            if name:
                if not _rv_ok(req.q("resourceVersion")):
                    raise storage_error(bad_resource_version(req.q("resourceVersion")))
                obj = self.get(r, ns, name)
                return self.render(req, r, obj, table, single=True)
            return self.list(req, r, ns, table)
        body = None
        if m in ("POST", "PUT", "PATCH") or (m == "DELETE" and req.body):
            body = self.decode(req, r, m == "PATCH")
        dry = req.q("dryRun") == "All"
        if m == "POST":
            if name:
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method", {})
            with self.lock:
                obj, warnings = self.create(req, r, ns, body, dry)
            return Response(201, self.out(r, obj), headers=self.warn_headers(warnings))
        if m == "PUT":
            with self.lock:
                obj, code, warnings = self.update(req, r, ns, name, sub, body, dry)
            return Response(code, self.out(r, obj), headers=self.warn_headers(warnings))
        if m == "PATCH":
            with self.lock:
                obj, code, warnings = self.patch(req, r, ns, name, sub, body, dry)
            return Response(code, self.out(r, obj), headers=self.warn_headers(warnings))
        if m == "DELETE":
            with self.lock:
                if name:
                    return self.delete(req, r, ns, name, body or {}, dry)
                return self.delete_collection(req, r, ns, body or {}, dry)
        raise ApiError(405, "MethodNotAllowed", "the server does not allow this method", {})

    @staticmethod
    def warn_headers(warnings):
        if not warnings:
            return {}
        return {"Warning": ['299 - "%s"' % w.replace('"', '\\"') for w in warnings]}

    def decode(self, req, r, patch):
        raw = req.body or b""
        if len(raw) > MAX_BODY:
            raise too_large("limit is %d" % MAX_BODY)
        ctype = req.headers.get("Content-Type", "application/json").split(";")[0].strip()
        if ctype == "application/apply-patch+yaml":
            try:
                return ("apply", json.loads(raw))
            except ValueError:
                return ("apply", _yaml_subset(raw.decode()))
        if ctype == "application/vnd.kubernetes.protobuf" and not patch:
            try:
                obj = simproto.decode(raw)
            except (ValueError, IndexError, UnicodeDecodeError):
                obj = None
            if obj is not None:
                return obj
        if ctype not in ("application/json", "application/merge-patch+json", "application/json-patch+json",
                         "application/strategic-merge-patch+json", ""):
            raise ApiError(415, "UnsupportedMediaType", 'the body of the request was in an unknown format - '
                           'accepted media types include: application/json, application/yaml', {})
        try:
            data = json.loads(raw) if raw else {}
        except ValueError as e:
            raise bad_request("couldn't get version/kind; json parse error: %s" % e)
        if patch:
            kinds = {"application/merge-patch+json": "merge", "application/json-patch+json": "json",
                     "application/strategic-merge-patch+json": "strategic"}
            if ctype not in kinds:
                raise ApiError(415, "UnsupportedMediaType", 'the body of the request was in an unknown format - '
                               'accepted media types include: application/json-patch+json, '
                               'application/merge-patch+json, application/apply-patch+yaml', {})
            if kinds[ctype] == "strategic" and r.crd is not None:
                raise ApiError(415, "UnsupportedMediaType", 'the body of the request was in an unknown format - '
                               'accepted media types include: application/json-patch+json, '
                               'application/merge-patch+json, application/apply-patch+yaml', {})
            return (kinds[ctype], data)
        if not isinstance(data, dict):
            raise bad_request("couldn't get version/kind; json parse error: expected an object")
        self.check_times(r, data)
        return data

    @staticmethod
    def check_times(r, obj):
        """Time and MicroTime fields of typed objects must decode (400)."""
        if r.crd is not None:
            return
        err = simmeta.decode_times(r, obj)
        if err:
            kind = obj.get("kind") or r.kind
            raise bad_request('%s in version "%s" cannot be handled as a %s: %s' % (kind, r.version, r.kind, err))

    # ---- output -------------------------------------------------------------
    def out(self, r, obj):
        """An object as served in r's version."""
        if obj is None:
            return None
        if obj.get("kind") == "Status":
            return obj
        o = _jcopy(obj)
        if r.group == "events.k8s.io":
            return to_events_v1(o)
        o["apiVersion"] = r.api_version
        o["kind"] = r.kind
        if r.schema is not None:
            simschema.apply_defaults(r.schema, o)
        return o

    def render(self, req, r, obj, table, single=False):
        o = self.out(r, obj)
        if table:
            return Response(200, self.table(req, r, [o], (obj.get("metadata") or {}).get("resourceVersion")),
                            ctype="application/json;as=Table;v=v1;g=meta.k8s.io")
        accept = req.headers.get("Accept", "")
        if "as=PartialObjectMetadata" in accept:
            return Response(200, {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                  "metadata": o.get("metadata")})
        return Response(200, o)

    def table(self, req, r, objs, rv, cont=None):
        cols, cells = simres.table_columns(r)
        include = req.q("includeObject", "Metadata")
        rows = []
        for o in objs:
            row = {"cells": cells(from_events_v1(copy.deepcopy(o)) if r.group == "events.k8s.io" else o)}
            if include == "Object":
                row["object"] = o
            elif include != "None":
                row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                 "metadata": o.get("metadata")}
            rows.append(row)
        meta = {"resourceVersion": str(rv) if rv is not None else ""}
        if cont:
            meta["continue"] = cont
        return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta, "columnDefinitions": cols,
                "rows": rows}

    # ---- get / list -------------------------------------------------------------
    def get(self, r, ns, name):
        obj = self.store.get(r.skey, ns, name)
        if obj is None:
            raise not_found(r.group, r.plural, name)
        return obj

    def field_fn(self, r):
        def fn(obj, field):
            if r.skey == "/events" and r.group == "events.k8s.io":
                field = {"regarding.kind": "involvedObject.kind", "regarding.name": "involvedObject.name",
                         "regarding.namespace": "involvedObject.namespace",
                         "regarding.uid": "involvedObject.uid",
                         "reportingController": "reportingComponent"}.get(field, field)
            if r.skey == "/events" and field == "source":
                return (obj.get("source") or {}).get("component", "")
            if field == "metadata.namespace" and not r.namespaced:
                return ""
            return field_value(obj, field)
        return fn

    def selectors(self, req, r):
        labels = parse_label_selector(req.q("labelSelector") or "")
        fields = parse_field_selector(req.q("fieldSelector") or "")
        allowed = {"metadata.name", "metadata.namespace"}
        if r.skey == "/events":
            allowed |= {"involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                        "involvedObject.uid", "involvedObject.apiVersion", "involvedObject.resourceVersion",
                        "involvedObject.fieldPath", "reason", "reportingComponent", "source", "type",
                        "regarding.kind", "regarding.name", "regarding.namespace", "regarding.uid",
                        "reportingController"}
        elif r.skey == "/secrets":
            allowed.add("type")
        elif r.skey == "/namespaces":
            allowed.add("status.phase")
        elif r.skey == "/pods":
            allowed |= {"spec.nodeName", "status.phase", "spec.serviceAccountName"}
        allowed |= set(r.selectable)
        for f, _, _ in fields:
            if f not in allowed:
                raise bad_request('"%s" is not a known field selector: only "%s"'
                                  % (f, '", "'.join(sorted(a for a in allowed if a.startswith("metadata")))))
        return labels, fields

    def matches(self, r, labels, fields, obj):
        if obj is None:
            return False
        return label_match(labels, (obj.get("metadata") or {}).get("labels")) and \
            field_match(fields, obj, self.field_fn(r))

    def list(self, req, r, ns, table):
        labels, fields = self.selectors(req, r)
        rvq = req.q("resourceVersion")
        match = req.q("resourceVersionMatch")
        limit = int(req.q("limit") or 0)
        cont = req.q("continue")
        with self.lock:
            if cont and rvq not in (None, "", "0"):
                raise bad_request("specifying resource version is not allowed when using continue")
            if rvq and rvq != "0":
                if not _rv_ok(rvq):
                    raise bad_request("invalid resource version: " + bad_resource_version(rvq))
                rvn = int(rvq)
                if match == "Exact" and rvn < self.store.compacted:
                    raise gone("The resourceVersion for the provided list is too old.")
                if rvn > self.store.rv:
                    raise ApiError(504, "Timeout", "Too large resource version: %d, current: %d"
                                   % (rvn, self.store.rv), {"causes": [{"reason": "ResourceVersionTooLarge",
                                                                        "message": "Too large resource version"}],
                                                            "retryAfterSeconds": 1})
            objs, rv = self.store.list(r.skey, ns)
            start = None
            if cont:
                try:
                    tok = json.loads(base64.urlsafe_b64decode(cont + "=" * (-len(cont) % 4)))
                    rv_tok, start = int(tok["rv"]), tuple(tok["start"])
                except (ValueError, KeyError, TypeError):
                    raise bad_request("continue key is not valid: invalid continue token")
                if rv_tok < self.store.compacted:
                    raise gone("The provided continue parameter is too old to display a consistent list "
                               "result. You can start a new list without the continue parameter, or use the "
                               "continue token in this response to retrieve the remainder of the results. "
                               "Continuing with the provided token results in an inconsistent list - objects "
                               "that were created, modified, or deleted between the time the first chunk was "
                               "returned and now may show up in the list.")
                rv = rv_tok
                snap = self.snapshots.get((r.skey, ns, rv))
                if snap is not None:
                    objs = snap  # the state at the first page's resourceVersion
            items = []
            next_tok = None
            remaining = 0
            for o in objs:
                md = o.get("metadata") or {}
                key = (md.get("namespace", ""), md.get("name"))
                if start is not None and key <= start:
                    continue
                if not self.matches(r, labels, fields, o):
                    continue
                if limit and len(items) >= limit:
                    remaining += 1
                    continue
                items.append(o)
            if remaining:
                if not cont:
                    # remember this state so that the next pages are consistent
                    self.snapshots[(r.skey, ns, rv)] = objs
                    while len(self.snapshots) > 16:
                        self.snapshots.pop(next(iter(self.snapshots)))
                last = items[-1]["metadata"]
                next_tok = base64.urlsafe_b64encode(json.dumps(
                    {"rv": rv, "start": [last.get("namespace", ""), last["name"]]}).encode()).decode().rstrip("=")
        out = [self.out(r, o) for o in items]
        if table:
            t = self.table(req, r, out, rv, next_tok)
            return Response(200, t, ctype="application/json;as=Table;v=v1;g=meta.k8s.io")
        if r.crd is None:
            for o in out:
                o.pop("kind", None)
                o.pop("apiVersion", None)
        meta = {"resourceVersion": str(rv)}
        if next_tok:
            meta["continue"] = next_tok
            meta["remainingItemCount"] = remaining
        return Response(200, {"kind": r.kind + "List", "apiVersion": r.api_version, "metadata": meta,
                              "items": out})

    # ---- watch ----------------------------------------------------------------
    def run_watch(self, wr, write, set_sock):
        r, ns, req = wr.res, wr.ns, wr.req
        labels, fields = self.selectors(req, r)
        rvq = req.q("resourceVersion")
        bookmarks = req.q("allowWatchBookmarks") in ("true", "1")
        initial_events = req.q("sendInitialEvents") in ("true", "1")
        timeout = req.q("timeoutSeconds")
        timeout = float(timeout) if timeout else random.uniform(1800, 3600)
        deadline = time.monotonic() + timeout
        w = Watcher(r.skey, ns)
        set_sock(w)

        def emit(etype, obj):
            if etype in ("BOOKMARK", "ERROR"):
                o = obj
            else:
                o = self.out(r, obj)
                if wr.table:
                    o = self.table(req, r, [o], (o.get("metadata") or {}).get("resourceVersion"))
            write((json.dumps({"type": etype, "object": o}, separators=(",", ":")) + "\n").encode())

        def bookmark(rv, extra=None):
            md = {"resourceVersion": str(rv), "creationTimestamp": None}
            if extra:
                md["annotations"] = extra
            emit("BOOKMARK", {"kind": r.kind, "apiVersion": r.api_version, "metadata": md})

        with self.lock:
            backlog = []
            initial = []
            if rvq in (None, "", "0") or initial_events:
                objs, cur = self.store.list(r.skey, ns)
                initial = [o for o in objs if self.matches(r, labels, fields, o)]
                start_rv = cur
            else:
                try:
                    start_rv = int(rvq)
                except ValueError:
                    raise bad_request('invalid resource version: "%s"' % rvq)
                backlog = self.store.since(r.skey, ns, start_rv)
                if backlog is None:
                    err = gone("too old resource version: %d (%d)" % (start_rv, self.store.compacted)).body()
                    emit("ERROR", err)
                    return
            self.store.add_watcher(w)
            cur_rv = self.store.rv
        try:
            for o in initial:
                emit("ADDED", o)
            if initial_events and bookmarks:
                bookmark(start_rv, {"k8s.io/initial-events-end": "true"})
            last_rv = start_rv
            for ev in backlog:
                last_rv = self._deliver(r, labels, fields, ev, emit, last_rv)
            last_rv = max(last_rv, cur_rv if not backlog and not initial else last_rv)
            next_bm = time.monotonic() + self.bookmark_seconds
            while True:
                nowt = time.monotonic()
                if nowt >= deadline:
                    break
                wait = min(deadline - nowt, 1.0)
                if w.closed():
                    break
                if bookmarks:
                    wait = min(wait, max(0.0, next_bm - nowt))
                try:
                    ev = w.q.get(timeout=wait)
                except Exception:
                    ev = False
                if ev is None:
                    raise ConnectionAbortedError("watch cut")
                if ev is False:
                    if bookmarks and time.monotonic() >= next_bm:
                        with self.lock:
                            # events are queued under this lock: an empty
                            # queue means everything up to store.rv was sent
                            if not w.q.empty():
                                continue
                            brv = self.store.rv if not self.store.paused else last_rv
                        bookmark(brv)
                        next_bm = time.monotonic() + self.bookmark_seconds
                    continue
                if ev[0] <= last_rv:
                    continue
                last_rv = self._deliver(r, labels, fields, ev, emit, last_rv)
        finally:
            self.store.remove_watcher(w)

    def _deliver(self, r, labels, fields, ev, emit, last_rv):
        rv, _skey, _ns, etype, obj, prev = ev
        now_m = self.matches(r, labels, fields, obj) if etype != "DELETED" else False
        was_m = self.matches(r, labels, fields, prev)
        if etype == "DELETED":
            if self.matches(r, labels, fields, obj) or was_m:
                emit("DELETED", obj)
        elif etype == "ADDED":
            if now_m:
                emit("ADDED", obj)
        else:
            if now_m and was_m:
                emit("MODIFIED", obj)
            elif now_m:
                emit("ADDED", obj)
            elif was_m:
                emit("DELETED", obj)
        return max(last_rv, rv)

    # ---- writes -------------------------------------------------------------------
    def check_namespace(self, r, ns, creating=True, name=""):
        if not r.namespaced:
            return
        nso = self.store.get("/namespaces", "", ns)
        if nso is None:
            raise not_found("", "namespaces", ns)
        if creating and (nso.get("metadata") or {}).get("deletionTimestamp"):
            raise ApiError(403, "Forbidden", "%s \"%s\" is forbidden: unable to create new content in namespace "
                           "%s because it is being terminated" % (simres_qual(r), name, ns),
                           {"group": r.group, "kind": r.plural,
                            "causes": [{"reason": "NamespaceTerminating",
                                        "message": "namespace %s is being terminated" % ns,
                                        "field": "metadata.namespace"}]})

    def create(self, req, r, ns, body, dry):
        if r.namespaced:
            bns = (body.get("metadata") or {}).get("namespace")
            if bns and bns != ns:
                raise bad_request("the namespace of the provided object does not match the namespace sent on "
                                  "the request")
        self.check_kind(r, body)
        self.check_namespace(r, ns, name=(body.get("metadata") or {}).get("name") or "")
        strict = req.q("fieldValidation", "Warn")
        return self._create(r, ns, body, {"dry": dry, "strict": strict, "user": req.user, "groups": req.groups,
                                          "manager": self.manager(req, "CreateOptions")})

    def check_kind(self, r, body):
        av, kind = body.get("apiVersion"), body.get("kind")
        if kind and kind != r.kind and not (r.skey == "/events" and kind == "Event"):
            raise bad_request("the server could not find the requested resource (kind %s does not match %s)"
                              % (kind, r.kind))
        if av and kind == r.kind and av != r.api_version and r.crd is None:
            raise bad_request("the API version in the data (%s) does not match the expected API version (%s)"
                              % (av, r.api_version))

    def _create(self, r, ns, body, opts):
        body = copy.deepcopy(body)
        if r.group == "events.k8s.io":
            body = from_events_v1(body)
        md = body.setdefault("metadata", {})
        if not isinstance(md, dict):
            raise bad_request("metadata must be an object")
        if not md.get("name") and md.get("generateName"):
            md["name"] = md["generateName"][:simmeta.GENERATE_NAME_MAX] + "".join(
                random.choice(GEN_CHARS) for _ in range(5))
        name = md.get("name") or ""
        errs = simmeta.validate(r, md) if _validates_meta(r) else []
        if r.namespaced:
            md["namespace"] = ns
        else:
            md.pop("namespace", None)
        body, warnings = self.admit(r, body, None, errs, opts)
        if r.crd is not None:
            warnings += simmeta.finalizer_warnings(body["metadata"].get("finalizers"), None)
        if self.store.get(r.skey, ns or "", name) is not None:
            raise already_exists(r.group, r.plural, name)
        if opts.get("user"):
            warnings += simvap.admit(self.store, r, "CREATE", self.out(r, body), None, opts["user"],
                                     opts.get("groups") or [], ns, name, None, opts.get("dry"))
        md = body["metadata"]
        md["uid"] = str(uuid.uuid4())
        md["creationTimestamp"] = now_ts()
        for k in ("deletionTimestamp", "deletionGracePeriodSeconds", "managedFields", "selfLink"):
            md.pop(k, None)
        if opts.get("managed") is not None:
            md["managedFields"] = opts["managed"]
        elif opts.get("manager"):
            md["managedFields"] = simssa.update(r, None, body, opts["manager"], None)
        if not md.get("managedFields"):
            md.pop("managedFields", None)
        if r.gen:
            md["generation"] = 1
        else:
            md.pop("generation", None)
        body["apiVersion"] = "%s/%s" % (r.group, r.storage_version) if r.group else r.storage_version
        body["kind"] = r.kind
        if opts.get("dry"):
            md.pop("resourceVersion", None)
            return body, warnings
        rv = self.store.next_rv()
        md["resourceVersion"] = str(rv)
        self.store.put(r.skey, ns or "", name, body, rv)
        if r.skey == "apiextensions.k8s.io/customresourcedefinitions":
            self.rebuild()
        return body, warnings

    def admit(self, r, body, old, errs, opts):
        """Kind-specific defaults and validation; raises 422 on errors."""
        warnings = []
        k = r.skey
        if k == "/secrets":
            sd = body.pop("stringData", None)
            data = body.get("data") or {}
            for key, val in data.items():
                try:
                    base64.b64decode(val.replace("\n", "").replace("\r", ""), validate=True)
                except (ValueError, TypeError):
                    raise bad_request("Secret in version \"v1\" cannot be handled as a Secret: illegal base64 "
                                      "data at input byte 0")
            if sd:
                for key, val in sd.items():
                    data[key] = base64.b64encode(str(val).encode()).decode()
            if data or "data" in body:
                body["data"] = data
            errs.extend(_config_key_errors(body, ("data",)))
            if not body.get("type"):
                body["type"] = "Opaque"
            if old is not None and old.get("type", "Opaque") != body.get("type"):
                errs.append(FieldError("Invalid value", "type", body.get("type"), "field is immutable"))
            if old is not None and old.get("immutable") and (old.get("data") != body.get("data")):
                errs.append(FieldError("Forbidden", "data", detail="field is immutable when `immutable` is set"))
        elif k == "/namespaces":
            md = body["metadata"]
            md.setdefault("labels", {})["kubernetes.io/metadata.name"] = md.get("name", "")
            body.setdefault("spec", {}).setdefault("finalizers", ["kubernetes"])
            if old is None:
                body["status"] = {"phase": "Active"}
        elif k == "/events":
            errs.extend(simmeta.validate_event(body, r.group == "events.k8s.io", old))
            if body.get("firstTimestamp"):
                body.setdefault("count", 1)
        elif k == "apiextensions.k8s.io/customresourcedefinitions":
            self.admit_crd(body, old, errs)
        elif k in ("/configmaps",):
            errs.extend(_config_key_errors(body, ("data", "binaryData")))
            if old is not None and old.get("immutable") and (old.get("data") != body.get("data")):
                errs.append(FieldError("Forbidden", "data", detail="field is immutable when `immutable` is set"))
        elif k == "coordination.k8s.io/leases":
            spec = body.get("spec") or {}
            if "leaseDurationSeconds" in spec and (not isinstance(spec["leaseDurationSeconds"], int)
                                                   or spec["leaseDurationSeconds"] <= 0):
                errs.append(FieldError("Invalid value", "spec.leaseDurationSeconds", spec["leaseDurationSeconds"],
                                       "must be greater than 0"))
        if r.crd is not None and r.schema is not None:
            strict = opts.get("strict", "Warn")
            body, serrs, unknown = simschema.validate_object(r.schema, body, old, strict == "Strict")
            if unknown:
                if strict == "Strict":
                    raise bad_request('%s in version "%s" cannot be handled as a %s: strict decoding error: %s'
                                      % (r.kind, r.version, r.kind,
                                         ", ".join('unknown field "%s"' % u for u in unknown)))
                if strict == "Warn":
                    warnings.extend('unknown field "%s"' % u for u in unknown)
            errs.extend(serrs)
        if errs:
            name = (body.get("metadata") or {}).get("name", "")
            raise invalid(r.kind_group(), r.group, r.kind, name, errs)
        return body, warnings

    def admit_crd(self, body, old, errs):
        spec = body.get("spec") or {}
        names = spec.get("names") or {}
        group = spec.get("group")
        plural = names.get("plural")
        if not group:
            errs.append(FieldError("Required value", "spec.group"))
        if not plural:
            errs.append(FieldError("Required value", "spec.names.plural"))
        if not names.get("kind"):
            errs.append(FieldError("Required value", "spec.names.kind"))
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            errs.append(FieldError("Unsupported value", "spec.scope", spec.get("scope"),
                                   'supported values: "Cluster", "Namespaced"'))
        name = body["metadata"].get("name")
        if group and plural and name != "%s.%s" % (plural, group):
            errs.append(FieldError("Invalid value", "metadata.name", name,
                                   'must be spec.names.plural+"."+spec.group'))
        versions = spec.get("versions") or []
        if not versions:
            errs.append(FieldError("Invalid value", "spec.versions", [], "must have exactly one version marked "
                                   "as storage version"))
        elif sum(1 for v in versions if v.get("storage")) != 1:
            errs.append(FieldError("Invalid value", "spec.versions", "", "must have exactly one version marked "
                                   "as storage version"))
        for i, v in enumerate(versions):
            sch = (v.get("schema") or {}).get("openAPIV3Schema")
            if sch is None:
                errs.append(FieldError("Required value", "spec.versions[%d].schema.openAPIV3Schema" % i,
                                       detail="schemas are required"))
            else:
                for path, msg in simschema.structural_errors(sch, "spec.versions[%d].schema.openAPIV3Schema" % i):
                    errs.append(FieldError("Required value" if "Required" in msg else "Invalid value", path,
                                           detail=msg.replace("Required value: ", "")))
        spec.setdefault("conversion", {"strategy": "None"})
        names.setdefault("singular", (names.get("kind") or "").lower())
        names.setdefault("listKind", (names.get("kind") or "") + "List")
        old_conds = ((old or {}).get("status") or {}).get("conditions")
        body["status"] = {
            "acceptedNames": names,
            "conditions": old_conds or [
                {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
                 "message": "no conflicts found", "lastTransitionTime": now_ts()},
                {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
                 "message": "the initial names have been accepted", "lastTransitionTime": now_ts()}],
            "storedVersions": sorted(set([v.get("name") for v in versions if v.get("storage")] +
                                         ((old or {}).get("status") or {}).get("storedVersions", [])))}

    def manager(self, req, options):
        """The field manager of a write: fieldManager, else the User-Agent's
        first part; 422 when it is too long or not printable."""
        m = req.q("fieldManager") or ""
        errs = []
        if len(m) > 128:
            errs.append(FieldError("Too long", "fieldManager", detail="may not be more than 128 bytes"))
        for i, ch in enumerate(m):
            if not ch.isprintable():
                errs.append(FieldError("Invalid value", "fieldManager", m, "invalid character U+%04X (at position "
                                       "%d)" % (ord(ch), i)))
        if errs:
            raise invalid(options + ".meta.k8s.io", "meta.k8s.io", options, "", errs)
        return m or (req.headers.get("User-Agent") or "").split("/")[0] or "unknown"

    def update(self, req, r, ns, name, sub, body, dry, patched=False, managed=None, manager_sub=None):
        self.check_kind(r, body)
        manager = self.manager(req, "PatchOptions" if patched else "UpdateOptions")
        body_fields = (body.get("metadata") or {}).get("managedFields")
        if r.group == "events.k8s.io":
            body = from_events_v1(copy.deepcopy(body))
        md = body.get("metadata") or {}
        if md.get("name") and md["name"] != name:
            raise bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                              % (md["name"], name))
        if r.namespaced and md.get("namespace") and md["namespace"] != ns:
            raise bad_request("the namespace of the provided object does not match the namespace sent on the "
                              "request")
        old = self.store.get(r.skey, ns or "", name)
        if old is None:
            if r.create_on_update and not sub and not patched:
                self.check_namespace(r, ns)
                body.setdefault("metadata", {})["name"] = name
                obj, w = self._create(r, ns, body, {"dry": dry, "strict": req.q("fieldValidation", "Warn"),
                                                    "user": req.user, "groups": req.groups, "manager": manager})
                return obj, 201, w
            raise not_found(r.group, r.plural, name)
        want_rv = md.get("resourceVersion")
        if not want_rv and not patched and not r.unconditional_update:
            # custom resources, CRDs and Leases need a resourceVersion on update
            raise invalid(simres_qual(r), r.group, r.plural, name, [FieldError(
                "Invalid value", "metadata.resourceVersion", 0, "must be specified for an update")])
        if want_rv and want_rv != old["metadata"].get("resourceVersion"):
            raise conflict(r.group, r.plural, name)
        new = _jcopy(body)
        new["apiVersion"] = old["apiVersion"]
        new["kind"] = r.kind
        if sub == "status":
            merged = _jcopy(old)
            if "status" in new:
                merged["status"] = new["status"]
            else:
                merged.pop("status", None)
            new = merged
        else:
            nmd = new.setdefault("metadata", {})
            if r.status and r.skey != "/namespaces":
                if "status" in old:
                    new["status"] = copy.deepcopy(old["status"])
                else:
                    new.pop("status", None)
            elif r.skey == "/namespaces":
                new["status"] = copy.deepcopy(old.get("status"))
            for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                      "generation", "namespace", "name"):
                if k in old["metadata"]:
                    nmd[k] = old["metadata"][k]
                else:
                    nmd.pop(k, None)
            nmd.pop("managedFields", None)
            if old["metadata"].get("deletionTimestamp"):
                added = set(nmd.get("finalizers") or []) - set(old["metadata"].get("finalizers") or [])
                if added:
                    raise invalid(r.kind_group(), r.group, r.kind, name, [FieldError(
                        "Forbidden", "metadata.finalizers", detail="no new finalizers can be added if the object "
                        "is being deleted, found new finalizers %s" % simmeta.go_string_slice(sorted(added)))])
        errs = [] if sub == "status" or not _validates_meta(r) else simmeta.validate(r, new["metadata"],
                                                                                     old["metadata"])
        new, warnings = self.admit(r, new, old, errs, {"dry": dry, "strict": req.q("fieldValidation", "Warn")})
        if r.crd is not None and sub != "status":
            warnings += simmeta.finalizer_warnings(new["metadata"].get("finalizers"),
                                                   old["metadata"].get("finalizers"))
        nmd = new["metadata"]
        nmd["resourceVersion"] = old["metadata"].get("resourceVersion")
        if r.gen:
            def specish(o):
                return {k: v for k, v in o.items() if k not in ("metadata", "status" if r.status else "")}
            if specish(new) != specish(old):
                nmd["generation"] = old["metadata"].get("generation", 1) + 1
        warnings += simvap.admit(self.store, r, "UPDATE", self.out(r, new), self.out(r, old), req.user, req.groups,
                                 ns, name, sub, dry)
        nmd.pop("managedFields", None)
        if managed is None:
            managed = simssa.update(r, old, new, manager, manager_sub or sub, body_fields)
        if managed:
            nmd["managedFields"] = managed
        if new == old:
            return old, 200, warnings
        if dry:
            return new, 200, warnings
        if old["metadata"].get("deletionTimestamp") and not nmd.get("finalizers"):
            if r.skey != "/namespaces" or not (new.get("spec") or {}).get("finalizers"):
                rv = self.store.next_rv()
                nmd["resourceVersion"] = str(rv)
                self.store.delete(r.skey, ns or "", name, new, rv)
                self.after_delete(r, ns, name)
                return new, 200, warnings
        rv = self.store.next_rv()
        nmd["resourceVersion"] = str(rv)
        self.store.put(r.skey, ns or "", name, new, rv)
        if r.skey == "apiextensions.k8s.io/customresourcedefinitions":
            self.rebuild()
        return new, 200, warnings

    def patch(self, req, r, ns, name, sub, body, dry):
        kind, data = body
        force = req.q("force")
        if kind == "apply" and not req.q("fieldManager"):
            raise invalid("PatchOptions.meta.k8s.io", "meta.k8s.io", "PatchOptions", "", [FieldError(
                "Required value", "fieldManager", detail="is required for apply patch")])
        if kind != "apply" and force is not None:
            raise invalid("PatchOptions.meta.k8s.io", "meta.k8s.io", "PatchOptions", "", [FieldError(
                "Forbidden", "force", detail="may not be specified for non-apply patch")])
        manager = self.manager(req, "PatchOptions")
        if kind == "apply" and not isinstance(data, dict):
            raise bad_request("invalid apply patch")
        old = self.store.get(r.skey, ns or "", name)
        if old is None:
            if kind == "apply":
                if sub:
                    raise not_found(r.group, r.plural, name)
                self.check_namespace(r, ns)
                data.setdefault("metadata", {})["name"] = name
                obj, managed = simssa.apply(r, None, data, manager, None, force == "true")
                obj, w = self._create(r, ns, obj, {"dry": dry, "strict": req.q("fieldValidation", "Strict"),
                                                   "user": req.user, "groups": req.groups, "managed": managed})
                return obj, 201, w
            raise not_found(r.group, r.plural, name)
        cur = self.out(r, old)
        if kind == "merge":
            if not isinstance(data, dict):
                raise bad_request("json: cannot unmarshal into a merge patch")
            new = merge_patch(cur, data)
        elif kind == "json":
            if isinstance(data, list) and len(data) > 10000:
                raise too_large("The allowed maximum operations in a JSON patch is 10000, got %d" % len(data))
            new = json_patch(cur, data)
        elif kind == "strategic":
            new = strategic_merge(cur, data)
        else:
            new, managed = simssa.apply(r, cur, data, manager, sub, force == "true")
            new.setdefault("metadata", {})["managedFields"] = managed
        if not isinstance(new, dict):
            raise bad_request("patched object is not an object")
        if r.crd is None and simmeta.decode_times(r, new):
            # a patched object that does not decode is 422 at "patch"
            raise invalid("", "", "", "", [FieldError("Invalid value", "patch", json.dumps(
                new, separators=(",", ":")), simmeta.decode_times(r, new))])
        nmd = new.setdefault("metadata", {})
        pmd = (data.get("metadata") if isinstance(data, dict) else None) or {}
        if "resourceVersion" not in pmd:
            nmd["resourceVersion"] = old["metadata"].get("resourceVersion")
        if kind != "json":
            new_strict = req.q("fieldValidation", "Strict" if kind == "apply" else "Warn")
        else:
            new_strict = req.q("fieldValidation", "Warn")
        req.query = dict(req.query, fieldValidation=new_strict)
        return self.update(req, r, ns, name, sub, new, dry, patched=True,
                           managed=new["metadata"].get("managedFields") if kind == "apply" else None)

    def delete(self, req, r, ns, name, opts, dry):
        old = self.store.get(r.skey, ns or "", name)
        if old is None:
            raise not_found(r.group, r.plural, name)
        pre = opts.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != old["metadata"].get("uid"):
            raise conflict(r.group, r.plural, name, "Precondition failed: UID in precondition: %s, UID in object "
                           "meta: %s" % (pre["uid"], old["metadata"].get("uid")))
        if pre.get("resourceVersion") and pre["resourceVersion"] != old["metadata"].get("resourceVersion"):
            raise conflict(r.group, r.plural, name, "Precondition failed: ResourceVersion in precondition: %s, "
                           "ResourceVersion in object meta: %s" % (pre["resourceVersion"],
                                                                   old["metadata"].get("resourceVersion")))
        simvap.admit(self.store, r, "DELETE", None, self.out(r, old), req.user, req.groups, ns, name, None, dry)
        obj = self._delete(r, ns, name, old, opts, dry)
        if obj is None or dry:
            return Response(200, self.out(r, obj or old))
        if obj.get("metadata", {}).get("deletionTimestamp") and self.store.get(r.skey, ns or "", name):
            return Response(200, self.out(r, obj))
        if r.return_object:
            return Response(200, self.out(r, obj))
        return Response(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                              "details": {"name": name, "group": r.group, "kind": r.plural,
                                          "uid": obj["metadata"].get("uid")}})

    def _delete(self, r, ns, name, old, opts, dry):
        """Delete or mark for deletion; returns the last state."""
        if dry:
            return old
        finalizers = old["metadata"].get("finalizers") or []
        ns_final = r.skey == "/namespaces"
        if finalizers or ns_final:
            if old["metadata"].get("deletionTimestamp"):
                if ns_final:
                    self.schedule_ns_cleanup(name)
                return old
            new = copy.deepcopy(old)
            new["metadata"]["deletionTimestamp"] = now_ts()
            new["metadata"]["deletionGracePeriodSeconds"] = 0
            if new["metadata"].get("generation"):
                new["metadata"]["generation"] += 1  # like markAsDeleting
            if ns_final:
                new["status"] = {"phase": "Terminating"}
            rv = self.store.next_rv()
            new["metadata"]["resourceVersion"] = str(rv)
            self.store.put(r.skey, ns or "", name, new, rv)
            if ns_final:
                self.schedule_ns_cleanup(name)
                return new
            if r.skey == "apiextensions.k8s.io/customresourcedefinitions":
                self.rebuild()
            return new
        if r.skey == "apiextensions.k8s.io/customresourcedefinitions":
            self.crd_cleanup(old)
        new = copy.deepcopy(old)
        rv = self.store.next_rv()
        new["metadata"]["resourceVersion"] = str(rv)
        self.store.delete(r.skey, ns or "", name, new, rv)
        self.after_delete(r, ns, name)
        return new

    def after_delete(self, r, ns, name):
        if r.skey == "apiextensions.k8s.io/customresourcedefinitions":
            self.rebuild()
        if r.namespaced and ns:
            nso = self.store.get("/namespaces", "", ns)
            if nso and nso["metadata"].get("deletionTimestamp"):
                self.namespace_cleanup(ns)

    def crd_cleanup(self, crd):
        spec = crd.get("spec") or {}
        skey = "%s/%s" % (spec.get("group"), (spec.get("names") or {}).get("plural"))
        objs, _ = self.store.list(skey)
        for o in objs:
            new = copy.deepcopy(o)
            rv = self.store.next_rv()
            new["metadata"]["resourceVersion"] = str(rv)
            self.store.delete(skey, o["metadata"].get("namespace", ""), o["metadata"]["name"], new, rv)
        self.store.drop_all(skey)

    def schedule_ns_cleanup(self, ns):
        """The namespace controller runs a moment later, like the real one."""
        def run():
            with self.lock:
                self.namespace_cleanup(ns)
        t = threading.Timer(self.ns_cleanup_delay, run)
        t.daemon = True
        t.start()

    def namespace_cleanup(self, ns):
        """The namespace controller: delete everything in ns, then ns."""
        if getattr(self, "_ns_cleaning", None) == ns:
            return
        self._ns_cleaning = ns
        try:
            for skey, name in self.store.namespaces_used(ns):
                r = self.res_for_skey(skey)
                o = self.store.get(skey, ns, name)
                if o is None or r is None:
                    continue
                if not o["metadata"].get("deletionTimestamp") or not o["metadata"].get("finalizers"):
                    self._delete(r, ns, name, o, {}, False)
            if not self.store.namespaces_used(ns):
                nso = self.store.get("/namespaces", "", ns)
                if nso is not None:
                    new = copy.deepcopy(nso)
                    new["spec"]["finalizers"] = []
                    if not new["metadata"].get("finalizers"):
                        rv = self.store.next_rv()
                        new["metadata"]["resourceVersion"] = str(rv)
                        self.store.delete("/namespaces", "", ns, new, rv)
        finally:
            self._ns_cleaning = None

    def delete_collection(self, req, r, ns, opts, dry):
        labels, fields = self.selectors(req, r)
        objs, _ = self.store.list(r.skey, ns)
        out = []
        for o in objs:
            if self.matches(r, labels, fields, o):
                out.append(self.out(r, self._delete(r, o["metadata"].get("namespace"), o["metadata"]["name"], o,
                                                    opts, dry)))
        return Response(200, {"kind": r.kind + "List", "apiVersion": r.api_version,
                              "metadata": {"resourceVersion": str(self.store.rv)}, "items": out})

    # ---- reviews and tokens ---------------------------------------------------------
    def review(self, req, r):
        body = self.decode(req, r, False)
        spec = body.get("spec") or {}
        k = r.kind
        if k in ("SelfSubjectAccessReview", "SubjectAccessReview"):
            if k == "SubjectAccessReview":
                user, groups = spec.get("user", ""), spec.get("groups") or []
            else:
                user, groups = req.user, req.groups
            ra = spec.get("resourceAttributes")
            if ra:
                attrs = {"verb": ra.get("verb", ""), "group": ra.get("group", ""),
                         "resource": ra.get("resource", ""), "subresource": ra.get("subresource") or None,
                         "namespace": ra.get("namespace") or None, "name": ra.get("name") or None}
            else:
                nra = spec.get("nonResourceAttributes") or {}
                attrs = {"verb": nra.get("verb", ""), "path": nra.get("path", "")}
            allowed = simrbac.authorize(self.store, user, groups, attrs)
            body["status"] = {"allowed": allowed}
            if allowed:
                body["status"]["reason"] = "allowed by RBAC"
        elif k == "SelfSubjectRulesReview":
            rules = simrbac.rules_for(self.store, req.user, req.groups, spec.get("namespace"))
            body["status"] = {"resourceRules": [x for x in rules if x.get("resources")],
                              "nonResourceRules": [x for x in rules if x.get("nonResourceURLs")],
                              "incomplete": False}
        elif k == "SelfSubjectReview":
            body["status"] = {"userInfo": {"username": req.user, "groups": req.groups}}
        elif k == "TokenReview":
            tok = spec.get("token", "")
            sa = self.store.extra["sa_tokens"].get(tok)
            if sa:
                ns, name = sa.split("/", 1)
                body["status"] = {"authenticated": True, "user": {
                    "username": "system:serviceaccount:%s:%s" % (ns, name),
                    "groups": ["system:serviceaccounts", "system:serviceaccounts:" + ns, "system:authenticated"]}}
            else:
                body["status"] = {"authenticated": False}
        body["apiVersion"], body["kind"] = r.api_version, r.kind
        body.setdefault("metadata", {})["creationTimestamp"] = None
        return Response(201, body)

    def scale_request(self, req, r, ns, name):
        """The /scale subresource (autoscaling/v1 Scale)."""
        spec_path, status_path, sel_path = r.scale

        def path_parts(p):
            return [x for x in p.strip(".").split(".") if x]

        def get_at(o, p):
            for part in path_parts(p):
                o = o.get(part) if isinstance(o, dict) else None
            return o

        def scale_of(obj):
            md = obj["metadata"]
            sel = None
            if sel_path:
                sel = get_at(obj, sel_path)
            elif r.crd is None:
                ml = ((obj.get("spec") or {}).get("selector") or {}).get("matchLabels") or {}
                sel = ",".join("%s=%s" % kv for kv in sorted(ml.items()))
            st = {"replicas": get_at(obj, status_path) or 0}
            if sel:
                st["selector"] = sel
            return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                    "metadata": {k: md[k] for k in ("name", "namespace", "uid", "resourceVersion",
                                                    "creationTimestamp") if k in md},
                    "spec": {"replicas": get_at(obj, spec_path) or 0}, "status": st}
        with self.lock:
            obj = self.get(r, ns, name)
            cur = scale_of(obj)
            if req.method == "GET":
                return Response(200, cur)
            if req.method not in ("PUT", "PATCH"):
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested "
                               "resource", {})
            body = self.decode(req, r, req.method == "PATCH")
            if req.method == "PATCH":
                kind, data = body
                new = merge_patch(cur, data) if kind in ("merge", "strategic") else \
                    json_patch(cur, data) if kind == "json" else merge_patch(cur, data)
            else:
                new = body
            want_rv = (new.get("metadata") or {}).get("resourceVersion")
            if want_rv and want_rv != obj["metadata"].get("resourceVersion"):
                raise conflict(r.group, r.plural, name)
            replicas = (new.get("spec") or {}).get("replicas")
            if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
                raise invalid("Scale.autoscaling", "autoscaling", "Scale", name, [FieldError(
                    "Invalid value", "spec.replicas", replicas, "must be greater than or equal to 0")])
            parent = self.out(r, obj)
            tgt = parent
            parts = path_parts(spec_path)
            for part in parts[:-1]:
                tgt = tgt.setdefault(part, {})
            tgt[parts[-1]] = replicas
            parent["metadata"].pop("resourceVersion", None)
            updated, _, _ = self.update(req, r, ns, name, None, parent, req.q("dryRun") == "All", patched=True,
                                        manager_sub="scale")
            return Response(200, scale_of(updated))

    def token_request(self, req, r, ns, name):
        self.get(r, ns, name)
        body = self.decode(req, r, False)
        tok = self.mint_token(ns, name)
        exp = int((body.get("spec") or {}).get("expirationSeconds") or 3600)
        return Response(201, {"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
                              "metadata": {"name": name, "namespace": ns, "creationTimestamp": None},
                              "spec": body.get("spec") or {"expirationSeconds": exp},
                              "status": {"token": tok, "expirationTimestamp": time.strftime(
                                  "%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + exp))}})


def _jcopy(o):
    """A deep copy of JSON data, faster than copy.deepcopy."""
    return json.loads(json.dumps(o))


def too_large(msg):
    return ApiError(413, "RequestEntityTooLarge", "Request entity too large: " + msg)


def _validates_meta(r):
    """core/v1 Events are not checked for metadata (legacy), events.k8s.io are."""
    return r.skey != "/events" or r.group == "events.k8s.io"


def _rv_ok(rv):
    """A resourceVersion parameter the storage layer can parse (uint64)."""
    return rv in (None, "") or (rv.isascii() and rv.isdigit() and int(rv) < 2 ** 64)


def simres_qual(r):
    return r.plural + ("." + r.group if r.group else "")


def _yaml_subset(text):
    raise bad_request("apply patches must be sent as JSON")


EV_MAP = [("involvedObject", "regarding"), ("message", "note"), ("source", "deprecatedSource"),
          ("firstTimestamp", "deprecatedFirstTimestamp"), ("lastTimestamp", "deprecatedLastTimestamp"),
          ("count", "deprecatedCount"), ("reportingComponent", "reportingController")]


def to_events_v1(o):
    """core/v1 Event -> events.k8s.io/v1 Event."""
    out = {k: v for k, v in o.items() if k not in [a for a, _ in EV_MAP]}
    for a, b in EV_MAP:
        if a in o:
            out[b] = o[a]
    out["apiVersion"], out["kind"] = "events.k8s.io/v1", "Event"
    return out


def from_events_v1(o):
    """events.k8s.io/v1 Event -> core/v1 Event."""
    if o.get("apiVersion") != "events.k8s.io/v1":
        return o
    out = {k: v for k, v in o.items() if k not in [b for _, b in EV_MAP]}
    for a, b in EV_MAP:
        if b in o:
            out[a] = o[b]
    out["apiVersion"], out["kind"] = "v1", "Event"
    return out

