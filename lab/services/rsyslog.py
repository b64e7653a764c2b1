"""A real rsyslogd on loopback: RFC 5424 over TCP (``port``), over TLS (``tls_port``, gtls driver) and over
mutual TLS (``mtls_port``: the client must show a certificate of the lab CA, ``client_cert``/``client_key``).

``prepare`` makes a throw-away CA and a server certificate for 127.0.0.1 (cryptography) and writes an
rsyslog configuration of its own; rsyslogd runs in the foreground (``-n``) with its own pid file, never
the machine's configuration. Every message received is written to ``messages`` as
``<severity>|<app-name>|<msgid>|<msg>``, so a test sees how rsyslog parsed it (a framing error would
split or merge messages).
"""

import datetime
import ipaddress
import os

from lab.harness import Service, free_port, tcp_ready

CONF = """
global(workDirectory="{state}"
       DefaultNetstreamDriverCAFile="{state}/ca.crt"
       DefaultNetstreamDriverCertFile="{state}/server.crt"
       DefaultNetstreamDriverKeyFile="{state}/server.key"
       maxMessageSize="64k")
module(load="imtcp" MaxSessions="100")
template(name="parsed" type="string" string="%syslogseverity%|%app-name%|%msgid%|%msg%\\n")
ruleset(name="received") {{
    action(type="omfile" file="{state}/messages" template="parsed" flushOnTXEnd="on" asyncWriting="off")
}}
input(type="imtcp" port="{port}" address="127.0.0.1" ruleset="received")
input(type="imtcp" port="{tls_port}" address="127.0.0.1" ruleset="received"
      StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="anon")
input(type="imtcp" port="{mtls_port}" address="127.0.0.1" ruleset="received"
      StreamDriver.Name="gtls" StreamDriver.Mode="1" StreamDriver.AuthMode="x509/certvalid")
"""


def _cert(subject, key, issuer, issuer_key, ca=False):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.x509.oid import NameOID
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=2))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_ca(state):
    """A CA, a server certificate for 127.0.0.1 and a client certificate in ``state`` (ca.crt, server.*, client.*)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("ainative lab syslog CA", ca_key, "ainative lab syslog CA", ca_key, ca=True)
    key = ec.generate_private_key(ec.SECP256R1())
    server = _cert("127.0.0.1", key, "ainative lab syslog CA", ca_key)
    client_key = ec.generate_private_key(ec.SECP256R1())
    client = _cert("findings_forward", client_key, "ainative lab syslog CA", ca_key)
    pem = serialization.Encoding.PEM

    def private(k):
        return k.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    for name, data in (("ca.crt", ca.public_bytes(pem)), ("server.crt", server.public_bytes(pem)),
                       ("server.key", private(key)), ("client.crt", client.public_bytes(pem)),
                       ("client.key", private(client_key))):
        fd = os.open(os.path.join(state, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)


def service(lab):
    tls_port, mtls_port = free_port(), free_port()

    def prepare(svc):
        make_ca(svc.dir)
        with open(os.path.join(svc.dir, "rsyslog.conf"), "w") as handle:
            handle.write(CONF.format(state=svc.dir, port=svc.port, tls_port=tls_port, mtls_port=mtls_port))
        open(os.path.join(svc.dir, "messages"), "w").close()
        svc.info.update(tls_port=tls_port, mtls_port=mtls_port, ca_path=os.path.join(svc.dir, "ca.crt"),
                        client_cert=os.path.join(svc.dir, "client.crt"), client_key=os.path.join(svc.dir, "client.key"),
                        messages=os.path.join(svc.dir, "messages"))

    def ready(svc):
        checks = [tcp_ready(port) for port in (svc.port, tls_port, mtls_port)]
        return lambda: all(check() for check in checks)

    return Service(lab, "rsyslog",
                   ["/usr/sbin/rsyslogd", "-n", "-f", "{state}/rsyslog.conf", "-i", "{state}/rsyslogd.pid"],
                   ready=ready, prepare=prepare, timeout=20)
