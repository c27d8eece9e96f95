"""A minimal PostgreSQL front door for the iamAuth test: it speaks TLS and
the start of the v3 protocol, asks for a cleartext password, hands the
password (an RDS IAM token) to a callback, and refuses the login. It lets a
test see exactly what the operator sends as the admin password.
Python 3 standard library only."""
import socket
import ssl
import struct
import threading

SSL_REQUEST = 80877103
GSSENC_REQUEST = 80877104


def _read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


class FakePg:
    """Listens on 127.0.0.1; on_password(user, password) is called per login."""

    def __init__(self, certfile, keyfile, on_password):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(certfile, keyfile)
        self.on_password = on_password
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.sock.settimeout(0.5)
        self.port = self.sock.getsockname()[1]
        self.stopping = False
        self.errors = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                conn.settimeout(10)
                self._session(conn)
            except Exception as e:  # noqa: BLE001
                self.errors.append(repr(e))
            finally:
                conn.close()

    def _session(self, conn):
        while True:
            length, code = struct.unpack("!ii", _read_exact(conn, 8))
            if code == GSSENC_REQUEST:
                conn.sendall(b"N")
                continue
            if code != SSL_REQUEST:
                raise ValueError("client did not ask for TLS")
            conn.sendall(b"S")
            break
        tls = self.ctx.wrap_socket(conn, server_side=True)
        length = struct.unpack("!i", _read_exact(tls, 4))[0]
        body = _read_exact(tls, length - 4)
        parts = body[4:].split(b"\0")
        params = dict(zip(parts[0::2], parts[1::2]))
        user = params.get(b"user", b"").decode()
        tls.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
        kind = _read_exact(tls, 1)
        length = struct.unpack("!i", _read_exact(tls, 4))[0]
        payload = _read_exact(tls, length - 4)
        if kind != b"p":
            raise ValueError("expected a password message")
        self.on_password(user, payload.rstrip(b"\0").decode())
        fields = (b"SFATAL\0VFATAL\0C28P01\0Mpassword authentication failed for user \""
                  + user.encode() + b"\"\0\0")
        tls.sendall(b"E" + struct.pack("!i", len(fields) + 4) + fields)
        try:
            tls.unwrap()
        except (ssl.SSLError, OSError):
            pass

    def stop(self):
        self.stopping = True
        self.sock.close()
        self.thread.join(timeout=5)
