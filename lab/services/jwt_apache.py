"""Private Apache httpd 2.4 JWT gateways on loopback (shared by ``jwt_gw_openidc`` and ``jwt_gw_oauth2``).

Each gateway proxies ``/v1/`` to the ``jwt_backend`` service behind a JWT check against the JWKS of the
``jwt_idp`` service (fetched over TLS, certificate verified against the lab CA), requiring the lab issuer
and audience. ``/open/v1/`` is the same backend with no check at all: the deliberately open endpoint the
probe must fail.

Apache's children run as ``www-data`` and read the CA bundle at request time, so the configuration and
the CA live in a world-readable runtime directory (public material only) that the launcher removes
when Apache stops. mod_oauth2 (liboauth2 1.4.5) has no CA-file option for ``jwks_uri``: libcurl uses the
system bundle, so the launcher bind-mounts "system bundle + lab CA" over it in a private mount
namespace of the Apache process only; nothing on the machine changes.

Run directly (what the harness starts): ``python jwt_apache.py RUNTIME_DIR CONF [CA_BUNDLE]``.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile

MODULES = ("mpm_event authz_core authn_core authz_user authz_host mime headers proxy proxy_http ssl "
           "socache_shmcb").split()
SYSTEM_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"

COMMON = """\
ServerRoot "{runtime}"
ServerName 127.0.0.1
Listen 127.0.0.1:{port}
PidFile {runtime}/httpd.pid
DefaultRuntimeDir {runtime}
ErrorLog {state}/error.log
LogLevel warn {loglevel}
{load_modules}
User www-data
Group www-data
TypesConfig /etc/mime.types
# The path only (%U): a token sent in the query string never reaches the log.
LogFormat "%h %m %U %>s user=%u" gw
CustomLog {state}/access.log gw
"""

OPENIDC = """\
OIDCCryptoPassphrase lab-not-secret-{port}
OIDCOAuthVerifyJwksUri {jwks_url}
OIDCCABundlePath {runtime}/ca.crt
OIDCOAuthSSLValidateServer On
OIDCOAuthRemoteUserClaim sub
OIDCOAuthAcceptTokenAs header
<VirtualHost 127.0.0.1:{port}>
  ProxyPass        /open/v1/ http://127.0.0.1:{backend_port}/v1/
  ProxyPass        /v1/ http://127.0.0.1:{backend_port}/v1/
  <Location /v1/>
    AuthType oauth20
    <RequireAll>
      Require valid-user
      Require claim aud:{audience}
      Require claim iss:{issuer}
    </RequireAll>
    RequestHeader set X-Remote-User "%{{REMOTE_USER}}s"
  </Location>
</VirtualHost>
"""

OAUTH2 = """\
<VirtualHost 127.0.0.1:{port}>
  ProxyPass        /open/v1/ http://127.0.0.1:{backend_port}/v1/
  ProxyPass        /v1/ http://127.0.0.1:{backend_port}/v1/
  <Location /v1/>
    AuthType oauth2
    OAuth2AcceptTokenIn header
    OAuth2TokenVerify jwks_uri {jwks_url} jwks_uri.ssl_verify=true&verify.exp=required&verify.iat=required&verify.iat.slack_before=300&verify.iat.slack_after=60
    <RequireAll>
      Require valid-user
      Require oauth2_claim aud:{audience}
      Require oauth2_claim iss:{issuer}
    </RequireAll>
    RequestHeader set X-Remote-User "%{{REMOTE_USER}}s"
  </Location>
</VirtualHost>
"""

VARIANTS = {
    "openidc": {"module": ("auth_openidc", "mod_auth_openidc.so"), "body": OPENIDC, "loglevel": "auth_openidc:info"},
    "oauth2": {"module": ("oauth2", "mod_oauth2.so"), "body": OAUTH2, "loglevel": "oauth2:info"},
}


def gateway_service(lab, name, variant):
    from lab.harness import Service, http_ready

    spec = VARIANTS[variant]
    runtime = tempfile.mkdtemp(prefix="ainative-%s-" % name)
    os.chmod(runtime, 0o755)
    conf = os.path.join(runtime, "httpd.conf")
    argv = [sys.executable, os.path.abspath(__file__), runtime, conf]
    if variant == "oauth2":
        argv.append(os.path.join(runtime, "ca-bundle.crt"))

    def prepare(svc):
        try:
            _prepare(svc)
        except Exception:
            shutil.rmtree(runtime, ignore_errors=True)
            raise

    def _prepare(svc):
        idp = lab.up("jwt_idp")
        backend = lab.up("jwt_backend")
        shutil.copyfile(idp["ca_cert"], os.path.join(runtime, "ca.crt"))
        if variant == "oauth2":
            with open(os.path.join(runtime, "ca-bundle.crt"), "wb") as out:
                for path in (SYSTEM_BUNDLE, idp["ca_cert"]):
                    with open(path, "rb") as handle:
                        out.write(handle.read().rstrip(b"\n") + b"\n")
        for path in os.listdir(runtime):
            os.chmod(os.path.join(runtime, path), 0o644)
        load = "\n".join("LoadModule %s_module /usr/lib/apache2/modules/mod_%s.so" % (m, m) for m in MODULES)
        load += "\nLoadModule %s_module /usr/lib/apache2/modules/%s" % spec["module"]
        values = dict(runtime=runtime, port=svc.port, state=svc.dir, loglevel=spec["loglevel"], load_modules=load,
                      jwks_url=idp["jwks_url"], backend_port=backend["port"], audience=idp["audience"],
                      issuer=idp["issuer"])
        with open(conf, "w") as handle:
            handle.write(COMMON.format(**values) + spec["body"].format(**values))
        os.chmod(conf, 0o644)
        check = subprocess.run(["apache2", "-t", "-f", conf], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               check=False)
        if check.returncode:
            raise RuntimeError("apache2 -t rejected %s: %s" % (conf, check.stdout.decode(errors="replace")))
        base = "http://127.0.0.1:%d" % svc.port
        svc.info.update({"variant": variant, "url": base + "/v1/predict", "open_url": base + "/open/v1/predict",
                         "config": conf, "runtime_dir": runtime, "issuer": idp["issuer"],
                         "audience": idp["audience"]})

    # Without a token the protected location answers 401 once Apache is up.
    return Service(lab, name, argv, prepare=prepare, timeout=30,
                   ready=lambda svc: http_ready("http://127.0.0.1:%d/v1/predict" % svc.port, ok=(401,)))


def launch(runtime, conf, bundle=None):
    """Run Apache in the foreground; remove the runtime directory when it stops."""
    argv = ["apache2", "-D", "FOREGROUND", "-f", conf]
    if bundle:
        argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                'mount --bind "$0" %s && exec "$@"' % SYSTEM_BUNDLE, bundle] + argv
    proc = subprocess.Popen(argv)

    def stop(signum, _frame):
        try:
            proc.send_signal(signum)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        return proc.wait()
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(launch(*sys.argv[1:]))
