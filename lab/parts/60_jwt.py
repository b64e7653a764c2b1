"""API gateway JWT assurance in the lab: two real Apache httpd JWT gateways in front of a small model
backend, both fetching the identity provider's JWKS over TLS from a local CA, probed with the full attack
matrix. mod_oauth2 (what role jwt_gateway deploys) refuses everything but a token whose nbf lies in the
future and one that lives longer than a day; mod_auth_openidc also accepts a token without exp and one
issued in the future. The probe requires all of these by default, so both gateways fail it."""

# Checked by lab/prereq.py before prepare(); when this part fails, its plays in site.yml get no hosts.
REQUIRES = ("apache",)
PLAY_HOSTS = ("api_jwt_probe_hosts",)


def prepare(lab, work):
    idp = lab.up("jwt_idp")
    gateways = [("mod_oauth2 gateway (as role jwt_gateway deploys it)", lab.up("jwt_gw_oauth2")),
                ("mod_auth_openidc gateway (for comparison)", lab.up("jwt_gw_openidc"))]
    print("[lab] api_jwt_probe: JWKS %s, gateways %s" % (idp["jwks_url"], ", ".join(g["url"] for _, g in gateways)))
    return {
        # The lab shows the verdict; it does not stop the other controls' plays.
        "api_jwt_probe_fail": False,
        "api_jwt_probe_endpoints": [
            {
                "name": name,
                "url": gw["url"],
                "method": "POST",
                "body": {"inputs": [[0.1, 0.2, 0.3]]},
                "issuer": idp["issuer"],
                "audience": idp["audience"],
                "signing_key_path": idp["signing_key_path"],
                "kid": idp["kid"],
                "injection_url": idp["attacker_jwks_url"],
                "injection_x5u_url": idp["attacker_x5u_url"],
                "injection_key_path": idp["attacker_key_path"],
                "injection_kid": idp["attacker_kid"],
            }
            for name, gw in gateways
        ],
    }
