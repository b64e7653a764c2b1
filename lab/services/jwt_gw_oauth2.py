"""Apache httpd + mod_oauth2 (liboauth2) as a JWT gateway on loopback, ``verify.exp=required``."""

from lab.services.jwt_apache import gateway_service


def service(lab):
    return gateway_service(lab, "jwt_gw_oauth2", "oauth2")
