"""Apache httpd + mod_auth_openidc (OAuth 2.0 resource-server mode) as a JWT gateway on loopback."""

from lab.services.jwt_apache import gateway_service


def service(lab):
    return gateway_service(lab, "jwt_gw_openidc", "openidc")
