"""Licence policy: SPDX expression parsing and judging, and Trivy 0.59 licence results -> findings."""

import pytest

from ansible_collections.ainative.security.plugins.module_utils.core.errors import InputError
from ansible_collections.ainative.security.plugins.module_utils.scanners import licenses
from ansible_collections.ainative.security.plugins.module_utils.scanners.licenses import LicensePolicy

ALLOW = LicensePolicy(allow=["MIT", "Apache-2.0"])
DENY_GPL3 = LicensePolicy(deny=["GPL-3.0*"])


# The shape Trivy 0.59.1 writes for `rootfs --scanners license --list-all-pkgs` (seen on the lab rootfs).
REPORT = {
    "SchemaVersion": 2,
    "Results": [
        {"Target": "Python", "Class": "lang-pkgs", "Type": "python-pkg", "Packages": [
            {"Name": "requests", "Version": "2.31.0", "Licenses": ["Apache-2.0"],
             "Identifier": {"PURL": "pkg:pypi/requests@2.31.0"}},
            {"Name": "nolic", "Version": "1.0", "FilePath": "usr/lib/python3/dist-packages/nolic-1.0.dist-info/METADATA",
             "Identifier": {"PURL": "pkg:pypi/nolic@1.0"}},
        ]},
        {"Target": "OS Packages", "Class": "license", "Licenses": [
            {"Severity": "HIGH", "Category": "restricted", "PkgName": "bash", "FilePath": "",
             "Name": "GPL-3.0-or-later", "Text": "", "Confidence": 1, "Link": ""},
            {"Severity": "LOW", "Category": "notice", "PkgName": "zlib1g", "FilePath": "", "Name": "Zlib"},
        ]},
        {"Target": "Python", "Class": "license", "Licenses": [
            {"Severity": "LOW", "Category": "notice", "PkgName": "requests", "Name": "Apache-2.0",
             "FilePath": "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA"},
            {"Severity": "UNKNOWN", "Category": "unknown", "PkgName": "dual", "Name": "MIT OR GPL-3.0",
             "FilePath": "usr/lib/python3/dist-packages/dual-1.0.dist-info/METADATA"},
            {"Severity": "UNKNOWN", "Category": "unknown", "PkgName": "weird", "Name": "My Corp Licence v7",
             "FilePath": "usr/lib/python3/dist-packages/weird-1.0.dist-info/METADATA"},
        ]},
        {"Target": "Loose File License(s)", "Class": "license-file"},
    ],
}


def decision(policy, name, category=None):
    return licenses.decide(policy, name, category)[0]


@pytest.mark.parametrize("text, tree", [
    ("MIT", ("id", "MIT", None)),
    ("MIT OR GPL-3.0", ("or", [("id", "MIT", None), ("id", "GPL-3.0", None)])),
    ("mit or apache-2.0", ("or", [("id", "mit", None), ("id", "apache-2.0", None)])),
    ("(MIT OR BSD-2-Clause) AND Zlib",
     ("and", [("or", [("id", "MIT", None), ("id", "BSD-2-Clause", None)]), ("id", "Zlib", None)])),
    ("A AND B OR C", ("or", [("and", [("id", "A", None), ("id", "B", None)]), ("id", "C", None)])),
    ("GPL-2.0-only WITH Classpath-exception-2.0", ("id", "GPL-2.0-only", "Classpath-exception-2.0")),
])
def test_spdx_expressions_parse_with_and_binding_tighter_than_or(text, tree):
    assert licenses.parse(text) == tree


@pytest.mark.parametrize("text", ["", "My Corp Licence v7", "MIT OR", "(MIT", "MIT)", "AND MIT", "MIT WITH"])
def test_what_is_no_spdx_expression_does_not_parse(text):
    assert licenses.parse(text) is None


def test_attack_gpl3_only_fails_an_allow_list_of_mit_and_apache():
    assert licenses.decide(ALLOW, "GPL-3.0-only") == ("not_allowed", "HIGH", [])


def test_strict_twin_allowed_licences_pass_in_any_case():
    for name in ("MIT", "mit", "Apache-2.0", "APACHE-2.0", "MIT AND Apache-2.0", "(MIT)"):
        assert decision(ALLOW, name) is None, name


@pytest.mark.parametrize("name", ["GPL-3.0", "GPL-3.0-only", "gpl-3.0-only", "GPL-3.0-or-later", "gpl-3.0-OR-LATER",
                                  "GPL-3.0+", "GPL-3.0-only WITH GCC-exception-3.1", "MIT AND GPL-3.0+",
                                  "GPL-3.0-or-later OR GPL-3.0-only"])
def test_attack_case_and_or_later_spellings_do_not_slip_past_a_gpl3_deny_glob(name):
    found, severity, hits = licenses.decide(DENY_GPL3, name)
    assert (found, severity, hits) == ("denied", "HIGH", ["GPL-3.0*"])


@pytest.mark.parametrize("deny", ["GPL-3.0", "gpl-3.0-only", "GPL-3.0+", "GPL-3.0-or-later"])
def test_a_plain_deny_entry_denies_the_whole_version_family(deny):
    policy = LicensePolicy(deny=[deny])
    for name in ("GPL-3.0", "GPL-3.0-only", "GPL-3.0-or-later", "GPL-3.0+"):
        assert decision(policy, name) == "denied", (deny, name)


def test_strict_twin_other_licences_pass_a_gpl3_deny_list():
    for name in ("MIT", "GPL-2.0-only", "LGPL-3.0-only", "AGPL-3.0-only", "Apache-2.0 AND BSD-3-Clause"):
        assert decision(DENY_GPL3, name) is None, name


def test_or_passes_when_one_branch_passes_and_is_denied_only_when_every_branch_is():
    assert decision(DENY_GPL3, "MIT OR GPL-3.0") is None
    assert decision(ALLOW, "MIT OR GPL-3.0") is None
    assert decision(DENY_GPL3, "GPL-3.0-only OR GPL-3.0-or-later") == "denied"
    both = LicensePolicy(allow=["MIT"], deny=["GPL-3.0*"])
    assert decision(both, "GPL-3.0-only OR BSD-3-Clause") == "not_allowed"


def test_and_needs_every_part_and_any_denied_part_denies():
    assert decision(ALLOW, "GPL-2.0 AND MIT") == "not_allowed"
    assert decision(LicensePolicy(allow=["MIT", "GPL-2.0-only"]), "GPL-2.0 AND MIT") is None
    assert decision(LicensePolicy(allow=["*"], deny=["GPL-2.0"]), "GPL-2.0-or-later AND MIT") == "denied"


def test_deny_wins_over_allow_and_globs_match():
    policy = LicensePolicy(allow=["*"], deny=["AGPL-*"])
    assert decision(policy, "AGPL-3.0-or-later") == "denied"
    assert decision(policy, "BSD-3-Clause") is None
    assert decision(LicensePolicy(allow=["BSD-*"]), "BSD-2-Clause") is None


def test_or_later_is_allowed_when_its_only_form_is_but_not_the_reverse():
    assert decision(LicensePolicy(allow=["GPL-2.0-only"]), "GPL-2.0-or-later") is None
    assert decision(LicensePolicy(allow=["GPL-2.0-or-later"]), "GPL-2.0-only") == "not_allowed"


def test_with_exception_is_judged_as_its_licence_unless_the_whole_form_is_allowed():
    text = "GPL-2.0-only WITH Classpath-exception-2.0"
    assert decision(LicensePolicy(deny=["GPL-2.0*"]), text) == "denied"
    listed = LicensePolicy(allow=["GPL-2.0 WITH Classpath-exception-2.0"], deny=["GPL-2.0*"])
    assert decision(listed, text) is None
    assert decision(listed, "GPL-2.0-only") == "denied"


def test_unknown_licences():
    # deny-only policy: a name Trivy cannot file, or no SPDX expression at all, is "unknown" at MEDIUM.
    assert licenses.decide(DENY_GPL3, "LicenseRef-Corp", "unknown") == ("unknown", "MEDIUM", [])
    assert licenses.decide(DENY_GPL3, "My Corp Licence v7") == ("unknown", "MEDIUM", [])
    assert licenses.decide(DENY_GPL3, None) == ("unknown", "MEDIUM", [])
    # with an allow list it is simply not allowed, unless listed exactly
    assert decision(ALLOW, "My Corp Licence v7") == "not_allowed"
    assert decision(LicensePolicy(allow=["my corp licence  v7"]), "My Corp Licence v7") is None
    assert licenses.decide(LicensePolicy(deny=["x"], unknown="none"), None)[1] is None


def test_findings_from_a_trivy_report():
    found = licenses.findings(REPORT, "rootfs", LicensePolicy(allow=["MIT", "Apache-2.0", "Zlib"]))
    by_pkg = dict((f["location"]["package"], f) for f in found)
    assert sorted(by_pkg) == ["bash", "nolic", "weird"]
    bash = by_pkg["bash"]
    assert (bash["id"], bash["kind"], bash["severity"], bash["details"]["decision"]) == \
        ("GPL-3.0-or-later", "license", "HIGH", "not_allowed")
    nolic = by_pkg["nolic"]
    assert (nolic["id"], nolic["severity"], nolic["details"]["decision"]) == ("license-unknown", "MEDIUM", "unknown")
    assert nolic["details"]["purl"] == "pkg:pypi/nolic@1.0"
    assert nolic["location"]["installed_version"] == "1.0"
    assert by_pkg["weird"]["location"]["path"].endswith("weird-1.0.dist-info/METADATA")
    assert all(f["control"] == "image_scan" and f["target"] == "rootfs" for f in found)


def test_findings_are_stable_and_not_duplicated():
    twice = dict(REPORT, Results=REPORT["Results"] + REPORT["Results"][1:2])
    first = licenses.findings(twice, "t", DENY_GPL3)
    assert [f["id"] for f in first].count("GPL-3.0-or-later") == 1
    assert [f["fingerprint"] for f in first] == [f["fingerprint"] for f in licenses.findings(REPORT, "t", DENY_GPL3)]


@pytest.mark.parametrize("value, message", [
    ({}, None),
    ({"allow": [], "deny": []}, "needs an 'allow' or a 'deny'"),
    ({"allow": ["MIT", " "]}, "empty entry"),
    ({"deny": ["GPL-3.0"], "severity": "loud"}, "licenses.severity 'loud' is no severity"),
    ({"deny": ["GPL-3.0"], "unknown": "sometimes"}, "licenses.unknown 'sometimes'"),
])
def test_policy_option_errors(value, message):
    if message is None:
        assert licenses.from_params({"licenses": value}) is None
        return
    with pytest.raises(InputError, match=message):
        licenses.from_params({"licenses": value})


def test_policy_from_params_defaults():
    policy = licenses.from_params({"licenses": {"deny": ["gpl-3.0*"], "severity": None, "unknown": None}})
    assert (policy.deny, policy.severity, policy.unknown) == (["GPL-3.0*"], "HIGH", "MEDIUM")
