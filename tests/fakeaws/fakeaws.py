#!/usr/bin/env python3
"""A fake AWS endpoint for the tests, Python 3 standard library only.

Serves, on one loopback port:
  - Secrets Manager GetSecretValue (JSON 1.1: POST /, X-Amz-Target), every
    request's SigV4 signature recomputed with sigv4.py and refused unless it
    matches exactly;
  - STS AssumeRoleWithWebIdentity (Query protocol POST /, XML answer), unsigned;
  - the EKS Pod Identity credentials URL (GET /pod-identity/credentials, the
    token in Authorization);
  - a control API under /_control/ to set secrets and versions, inject
    errors (ResourceNotFoundException, AccessDeniedException,
    DecryptionFailure, ThrottlingException, 500), throttle the next N
    calls, expire issued credentials, skew the clock, serve a secret's
    previous version (a reader lagging a rotation), and read counters.

It never prints a secret or credential: stdout gets one line "PORT <n>".
It exits by itself after --max-seconds.
"""
import argparse
import base64
import calendar
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sigv4  # noqa: E402

LOCK = threading.Lock()


def now():
    return time.time()


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


class State:
    def __init__(self):
        self.reset()

    def reset(self):
        self.region = "us-east-1"
        self.secrets = {}        # id -> {"versions": [...], "error": code|None}
        self.keys = {}           # access key -> {"secret", "token", "expires", "uses_left", "source"}
        self.irsa = {"role_arn": None, "token": None, "duration": 3600}
        self.pod = {"token": None, "duration": 3600}
        self.inject = {"sm": [], "sts": [], "pod": []}   # queued (status, code, retry_after)
        self.expire_after_uses = None
        self.skew = 0
        self.counts = {"sm": 0, "sm_ok": 0, "sts": 0, "sts_ok": 0, "pod": 0, "pod_ok": 0, "sts_expect": 0,
                       "signature_rejected": 0}
        self.errors = {}
        self.log = []            # (service, action, detail), never a value

    def note(self, service, result, detail=""):
        self.errors[result] = self.errors.get(result, 0) + 1
        self.log.append({"service": service, "result": result, "detail": detail})
        del self.log[:-500]

    def issue(self, source, duration):
        akid = "ASIA" + secrets.token_hex(8).upper()
        cred = {"secret": secrets.token_urlsafe(30), "token": secrets.token_urlsafe(60),
                "expires": now() + duration, "uses_left": self.expire_after_uses,
                "source": source}
        self.keys[akid] = cred
        return akid, cred


STATE = State()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakeaws"

    def log_message(self, fmt, *args):
        pass

    # -- answers --------------------------------------------------------
    def send(self, status, body, ctype="application/x-amz-json-1.1", headers=None):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", secrets.token_hex(8))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def json_error(self, status, code, message, retry_after=None):
        STATE.note("secretsmanager", code)
        headers = {"x-amzn-ErrorType": code + ":http://internal.amazon.com/coral/"}
        if retry_after:
            headers["Retry-After"] = str(retry_after)
        self.send(status, json.dumps({"__type": code, "message": message}), headers=headers)

    def xml_error(self, status, code, message):
        STATE.note("sts", code)
        body = ('<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
                "<Type>Sender</Type><Code>%s</Code><Message>%s</Message></Error>"
                "<RequestId>%s</RequestId></ErrorResponse>" % (code, message, secrets.token_hex(8)))
        self.send(status, body, ctype="text/xml")

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > 1 << 20:
            raise ValueError("body too large")
        return self.rfile.read(n) if n else b""

    # -- routing --------------------------------------------------------
    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        if path.startswith("/_control/"):
            return self.control(path[len("/_control/"):], {})
        if path == "/pod-identity/credentials":
            return self.pod_identity()
        self.send(404, json.dumps({"message": "no such path"}))

    def do_POST(self):
        path = urllib.parse.urlsplit(self.path).path
        raw = self.body()
        if path.startswith("/_control/"):
            return self.control(path[len("/_control/"):], json.loads(raw or b"{}"))
        target = self.headers.get("X-Amz-Target")
        if target is not None:
            return self.secrets_manager(target, raw)
        form = dict(urllib.parse.parse_qsl(raw.decode(errors="replace"), keep_blank_values=True))
        if form.get("Action"):
            return self.sts(form)
        self.send(400, json.dumps({"__type": "UnknownOperationException"}))

    # -- SigV4 ----------------------------------------------------------
    def check_signature(self, raw, service):
        """Returns None when the request is authentic, else (status, code, message)."""
        auth = sigv4.parse_authorization(self.headers.get("Authorization"))
        if auth is None:
            return 400, "MissingAuthenticationTokenException", "Request is missing Authentication Token"
        akid, date, region, svc, signed, sig = auth
        cred = STATE.keys.get(akid)
        if cred is None:
            return 400, "UnrecognizedClientException", "The security token included in the request is invalid."
        if svc != service:
            return 400, "InvalidSignatureException", "Credential should be scoped to correct service: '%s'." % service
        if region != STATE.region:
            return 400, "InvalidSignatureException", "Credential should be scoped to a valid region."
        if "host" not in signed or "x-amz-date" not in signed or signed != sorted(signed):
            return 400, "InvalidSignatureException", "'Host' and 'X-Amz-Date' must be signed, names sorted."
        amz_date = self.headers.get("X-Amz-Date", "")
        try:
            t = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            return 400, "IncompleteSignatureException", "X-Amz-Date is not a date."
        if date != amz_date[:8]:
            return 400, "InvalidSignatureException", "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP."
        server_now = now() + STATE.skew
        if abs(server_now - t) > 300:
            return 400, "InvalidSignatureException", "Signature expired: %s is now earlier than %s (%s - 5 min.)" % (
                amz_date, time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(server_now - 300)),
                time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(server_now)))
        token = self.headers.get("X-Amz-Security-Token")
        if cred["token"] is not None:
            if token is None or token != cred["token"]:
                return 400, "UnrecognizedClientException", "The security token included in the request is invalid."
            if "x-amz-security-token" not in signed:
                return 400, "InvalidSignatureException", "X-Amz-Security-Token must be signed."
        elif token is not None:
            return 400, "UnrecognizedClientException", "The security token included in the request is invalid."
        parts = urllib.parse.urlsplit(self.path)
        params = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
        try:
            creq = sigv4.canonical_request(self.command, urllib.parse.unquote(parts.path), params,
                                           list(self.headers.items()), signed, sigv4.sha256_hex(raw))
        except KeyError as e:
            return 400, "InvalidSignatureException", "Signed header %s is missing." % e
        want = sigv4.signature(cred["secret"], amz_date, region, svc, creq)
        if want != sig:
            STATE.counts["signature_rejected"] += 1
            return 400, "InvalidSignatureException", (
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
        if cred["expires"] is not None and server_now >= cred["expires"]:
            return 400, "ExpiredTokenException", "The security token included in the request is expired"
        if cred["uses_left"] is not None:
            if cred["uses_left"] <= 0:
                return 400, "ExpiredTokenException", "The security token included in the request is expired"
            cred["uses_left"] -= 1
        return None

    # -- Secrets Manager -------------------------------------------------
    def secrets_manager(self, target, raw):
        with LOCK:
            STATE.counts["sm"] += 1
            if self.headers.get("Content-Type") != "application/x-amz-json-1.1":
                return self.json_error(400, "SerializationException", "wrong Content-Type")
            bad = self.check_signature(raw, "secretsmanager")
            if bad is not None:
                return self.json_error(*bad)
            if target != "secretsmanager.GetSecretValue":
                return self.json_error(400, "UnknownOperationException", "only GetSecretValue here")
            if STATE.inject["sm"]:
                status, code, ra = STATE.inject["sm"].pop(0)
                if status >= 500 and code is None:
                    return self.json_error(status, "InternalServiceError", "injected failure")
                return self.json_error(status, code, "Rate exceeded" if "Throttl" in code else "injected", ra)
            try:
                req = json.loads(raw)
                sid = req["SecretId"]
            except (ValueError, KeyError, TypeError):
                return self.json_error(400, "InvalidParameterException", "SecretId is required")
            s = STATE.secrets.get(sid)
            if s is None or not s["versions"]:
                return self.json_error(400, "ResourceNotFoundException", "Secrets Manager can't find the specified secret.")
            if s["error"] == "AccessDeniedException":
                return self.json_error(400, "AccessDeniedException",
                                       "User: arn:aws:sts::123456789012:assumed-role/appdb/x is not authorized to perform: "
                                       "secretsmanager:GetSecretValue on resource: %s" % sid)
            if s["error"] == "DecryptionFailure":
                return self.json_error(400, "DecryptionFailure",
                                       "Secrets Manager can't decrypt the protected secret text using the provided KMS key.")
            if s["error"]:
                return self.json_error(400, s["error"], "injected")
            # As Secrets Manager: VersionId or VersionStage picks the version
            # (both given must agree); neither is AWSCURRENT.
            want_id, want_stage = req.get("VersionId"), req.get("VersionStage")
            if want_id is None and want_stage is None:
                want_stage = "AWSCURRENT"
            v = next((x for x in reversed(s["versions"])
                      if (want_id is None or x["id"] == want_id)
                      and (want_stage is None or want_stage in x["stages"])), None)
            if v is None:
                return self.json_error(400, "ResourceNotFoundException",
                                       "Secrets Manager can't find the specified secret value for %s: %s"
                                       % ("VersionId" if want_id else "staging label", want_id or want_stage))
            if s.get("serve_previous", 0) > 0 and len(s["versions"]) > 1 and "AWSCURRENT" in v["stages"]:
                # A reader that lags a rotation: the previous version, n times.
                s["serve_previous"] -= 1
                v = s["versions"][-2]
            out = {"ARN": "arn:aws:secretsmanager:%s:123456789012:secret:%s-AbCdEf" % (STATE.region, sid),
                   "Name": sid, "VersionId": v["id"], "VersionStages": list(v["stages"]),
                   "CreatedDate": v["created"]}
            if v.get("binary") is not None:
                out["SecretBinary"] = v["binary"]
            else:
                out["SecretString"] = v["string"]
            STATE.counts["sm_ok"] += 1
            STATE.note("secretsmanager", "ok", sid)
            self.send(200, json.dumps(out))

    # -- STS ---------------------------------------------------------------
    def sts(self, form):
        with LOCK:
            STATE.counts["sts"] += 1
            if self.headers.get("Expect"):
                STATE.counts["sts_expect"] += 1
            if form.get("Action") != "AssumeRoleWithWebIdentity" or form.get("Version") != "2011-06-15":
                return self.xml_error(400, "InvalidAction", "Could not find operation %s" % form.get("Action"))
            if self.headers.get("Authorization"):
                return self.xml_error(400, "InvalidRequest", "AssumeRoleWithWebIdentity is not signed")
            if STATE.inject["sts"]:
                status, code, _ = STATE.inject["sts"].pop(0)
                return self.xml_error(status, code or "InternalFailure", "injected")
            if STATE.irsa["token"] is None or form.get("WebIdentityToken") != STATE.irsa["token"]:
                return self.xml_error(400, "InvalidIdentityToken", "Incorrect token audience")
            if form.get("RoleArn") != STATE.irsa["role_arn"]:
                return self.xml_error(403, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
            name = form.get("RoleSessionName", "")
            if not (2 <= len(name) <= 64):
                return self.xml_error(400, "ValidationError", "RoleSessionName length")
            akid, cred = STATE.issue("irsa", STATE.irsa["duration"])
            STATE.counts["sts_ok"] += 1
            STATE.note("sts", "ok")
            body = ('<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">\n'
                    "  <AssumeRoleWithWebIdentityResult>\n"
                    "    <SubjectFromWebIdentityToken>system:serviceaccount:appdb:appdb-operator</SubjectFromWebIdentityToken>\n"
                    "    <AssumedRoleUser><Arn>%s/%s</Arn><AssumedRoleId>AROAEXAMPLE:%s</AssumedRoleId></AssumedRoleUser>\n"
                    "    <Credentials>\n"
                    "      <SessionToken>%s</SessionToken>\n"
                    "      <SecretAccessKey>%s</SecretAccessKey>\n"
                    "      <Expiration>%s</Expiration>\n"
                    "      <AccessKeyId>%s</AccessKeyId>\n"
                    "    </Credentials>\n"
                    "    <Audience>sts.amazonaws.com</Audience>\n"
                    "  </AssumeRoleWithWebIdentityResult>\n"
                    "  <ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata>\n"
                    "</AssumeRoleWithWebIdentityResponse>\n") % (
                        STATE.irsa["role_arn"], name, name, cred["token"], cred["secret"],
                        iso(cred["expires"]), akid, secrets.token_hex(8))
            self.send(200, body, ctype="text/xml")

    # -- Pod Identity ------------------------------------------------------
    def pod_identity(self):
        with LOCK:
            STATE.counts["pod"] += 1
            if STATE.inject["pod"]:
                status, code, _ = STATE.inject["pod"].pop(0)
                STATE.note("pod", code or "error")
                return self.send(status, json.dumps({"code": code or "ServiceUnavailable", "message": "injected"}),
                                 ctype="application/json")
            if STATE.pod["token"] is None or self.headers.get("Authorization") != STATE.pod["token"]:
                STATE.note("pod", "AccessDeniedException")
                return self.send(401, json.dumps({"code": "AccessDeniedException", "message": "invalid token"}),
                                 ctype="application/json")
            akid, cred = STATE.issue("pod", STATE.pod["duration"])
            STATE.counts["pod_ok"] += 1
            STATE.note("pod", "ok")
            self.send(200, json.dumps({"AccessKeyId": akid, "SecretAccessKey": cred["secret"],
                                       "Token": cred["token"], "AccountId": "123456789012",
                                       "Expiration": iso(cred["expires"])}), ctype="application/json")

    # -- control -----------------------------------------------------------
    def control(self, op, req):
        with LOCK:
            out = {"ok": True}
            if op == "reset":
                STATE.reset()
            elif op == "region":
                STATE.region = req["region"]
            elif op == "put_secret":
                s = STATE.secrets.setdefault(req["id"], {"versions": [], "error": None})
                vid = req.get("version") or "v-" + secrets.token_hex(6)
                # PutSecretValue: the new version is AWSCURRENT, the one that
                # was becomes AWSPREVIOUS, and the label leaves the one before.
                for old in s["versions"]:
                    if "AWSPREVIOUS" in old["stages"]:
                        old["stages"].remove("AWSPREVIOUS")
                    if "AWSCURRENT" in old["stages"]:
                        old["stages"].remove("AWSCURRENT")
                        old["stages"].append("AWSPREVIOUS")
                v = {"id": vid, "created": now(), "stages": ["AWSCURRENT"]}
                if "binary" in req:
                    v["binary"] = base64.b64encode(req["binary"].encode()).decode()
                else:
                    v["string"] = req["string"] if isinstance(req["string"], str) else json.dumps(req["string"])
                s["versions"].append(v)
                out["version"] = vid
            elif op == "describe_secret":
                # DescribeSecret's VersionIdsToStages, for tests.
                out["versions"] = {v["id"]: list(v["stages"]) for v in STATE.secrets[req["id"]]["versions"]
                                   if v["stages"]}
            elif op == "serve_previous":
                STATE.secrets[req["id"]]["serve_previous"] = int(req.get("n", 1))
            elif op == "delete_secret":
                STATE.secrets.pop(req["id"], None)
            elif op == "secret_error":
                STATE.secrets.setdefault(req["id"], {"versions": [], "error": None})["error"] = req.get("code")
            elif op == "add_key":
                STATE.keys[req["access_key"]] = {"secret": req["secret_key"], "token": req.get("token"),
                                                 "expires": None, "uses_left": None, "source": "static"}
            elif op == "irsa":
                STATE.irsa = {"role_arn": req["role_arn"], "token": req["token"],
                              "duration": req.get("duration", 3600)}
            elif op == "pod":
                STATE.pod = {"token": req["token"], "duration": req.get("duration", 3600)}
            elif op == "inject":
                # {"service": "sm"|"sts"|"pod", "n": 2, "status": 400, "code": "ThrottlingException", "retry_after": 1}
                for _ in range(int(req.get("n", 1))):
                    STATE.inject[req.get("service", "sm")].append(
                        (int(req.get("status", 400)), req.get("code"), req.get("retry_after")))
            elif op == "expire":
                for c in STATE.keys.values():
                    if c["source"] != "static":
                        c["expires"] = now() - 1
            elif op == "expire_after_uses":
                STATE.expire_after_uses = req.get("uses")
            elif op == "skew":
                STATE.skew = int(req["seconds"])
            elif op == "verify_rds_token":
                def secret_for(akid):
                    c = STATE.keys.get(akid)
                    return (c["secret"], c["token"]) if c else None
                ok, why = sigv4.verify_presigned(req["token"], secret_for, now() + STATE.skew)
                out = {"ok": ok, "reason": why}
            elif op == "credentials":
                # For leak checks in tests: every secret value the fake knows.
                out = {"values": [c["secret"] for c in STATE.keys.values()] +
                       [c["token"] for c in STATE.keys.values() if c["token"]] +
                       [v.get("string") or v.get("binary") for s in STATE.secrets.values()
                        for v in s["versions"]] +
                       [t for t in (STATE.irsa["token"], STATE.pod["token"]) if t]}
            elif op == "stats":
                out = {"counts": STATE.counts, "errors": STATE.errors, "log": STATE.log,
                       "issued": sum(1 for c in STATE.keys.values() if c["source"] != "static")}
            else:
                return self.send(404, json.dumps({"ok": False, "error": "unknown control op " + op}),
                                 ctype="application/json")
            self.send(200, json.dumps(out), ctype="application/json")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--max-seconds", type=int, default=900)
    ap.add_argument("--tls-cert", help="serve https with this certificate (PEM)")
    ap.add_argument("--tls-key", help="and this key")
    args = ap.parse_args()
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    if args.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    srv.daemon_threads = True
    print("PORT %d" % srv.server_address[1], flush=True)
    timer = threading.Timer(args.max_seconds, srv.shutdown)
    timer.daemon = True
    timer.start()
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
