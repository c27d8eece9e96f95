"""AWS Signature Version 4, written from the published algorithm for the
fake AWS endpoint: it recomputes the signature of every signed request it
gets. Checked against the AWS signature test suite vectors in
testdata/sigv4_vectors.json (test_sigv4.py). Python 3 standard library only.
"""
import hashlib
import hmac
import re
import urllib.parse

ALGORITHM = "AWS4-HMAC-SHA256"
UNRESERVED = "-_.~"


def uri_encode(s, keep_slash=False):
    """Percent-encodes as SigV4 asks: unreserved kept, uppercase hex."""
    safe = UNRESERVED + ("/" if keep_slash else "")
    return urllib.parse.quote(s, safe=safe)


def canonical_uri(path):
    """The decoded path, each segment encoded once ("/" when empty)."""
    if not path:
        return "/"
    return uri_encode(path, keep_slash=True)


def canonical_query(params):
    """params: (name, value) pairs, decoded. Sorted by encoded name, then value."""
    enc = sorted((uri_encode(k), uri_encode(v)) for k, v in params)
    return "&".join("%s=%s" % kv for kv in enc)


def canonical_header_value(v):
    """Trims and collapses runs of spaces, as the algorithm asks."""
    return re.sub(r" +", " ", v.strip())


def canonical_headers(headers, signed):
    """headers: (name, value) pairs; signed: lowercase names to include."""
    by_name = {}
    for k, v in headers:
        by_name.setdefault(k.lower(), []).append(canonical_header_value(v))
    lines = []
    for name in signed:
        if name not in by_name:
            raise KeyError(name)
        lines.append("%s:%s\n" % (name, ",".join(by_name[name])))
    return "".join(lines)


def canonical_request(method, path, params, headers, signed, payload_hash):
    return "\n".join([
        method,
        canonical_uri(path),
        canonical_query(params),
        canonical_headers(headers, signed),
        ";".join(signed),
        payload_hash,
    ])


def sha256_hex(data):
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


def string_to_sign(amz_date, scope, creq):
    return "\n".join([ALGORITHM, amz_date, scope, sha256_hex(creq)])


def _hmac(key, msg):
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def signing_key(secret, date, region, service):
    k = _hmac(("AWS4" + secret).encode(), date)
    k = _hmac(k, region)
    k = _hmac(k, service)
    return _hmac(k, "aws4_request")


def signature(secret, amz_date, region, service, creq):
    scope = "%s/%s/%s/aws4_request" % (amz_date[:8], region, service)
    sts = string_to_sign(amz_date, scope, creq)
    return hmac.new(signing_key(secret, amz_date[:8], region, service), sts.encode(),
                    hashlib.sha256).hexdigest()


AUTH_RE = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]{64})$")


def parse_authorization(value):
    """Returns (access_key, date, region, service, signed_headers, signature) or None."""
    m = AUTH_RE.match(value or "")
    if not m:
        return None
    parts = m.group(1).split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        return None
    signed = m.group(2).split(";")
    return parts[0], parts[1], parts[2], parts[3], signed, m.group(3)


def verify_presigned(url_without_scheme, secret_for, now_epoch, service="rds-db"):
    """Verifies a presigned GET URL such as an RDS IAM token.
    secret_for(access_key) -> (secret, token) or None. Returns (ok, reason)."""
    import calendar
    import time
    host, _, rest = url_without_scheme.partition("/")
    path, _, query = ("/" + rest).partition("?")
    params = urllib.parse.parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    d = dict(params)
    sig = d.pop("X-Amz-Signature", None)
    if sig is None or d.get("X-Amz-Algorithm") != ALGORITHM:
        return False, "not a presigned SigV4 URL"
    akid, date, region, svc, term = d["X-Amz-Credential"].split("/")
    if svc != service or term != "aws4_request":
        return False, "wrong service scope %s" % svc
    known = secret_for(akid)
    if known is None:
        return False, "unknown access key"
    secret, token = known
    if token is not None and d.get("X-Amz-Security-Token") != token:
        return False, "session token missing or wrong"
    amz_date = d["X-Amz-Date"]
    t = calendar.timegm(time.strptime(amz_date, "%Y%m%dT%H%M%SZ"))
    if now_epoch > t + int(d["X-Amz-Expires"]) or t > now_epoch + 300:
        return False, "expired or from the future"
    signed = d["X-Amz-SignedHeaders"].split(";")
    creq = canonical_request("GET", path, [(k, v) for k, v in params if k != "X-Amz-Signature"],
                             [("host", host)], signed, sha256_hex(b""))
    want = signature(secret, amz_date, region, svc, creq)
    return (hmac.compare_digest(want, sig), "signature mismatch" if want != sig else "ok")
