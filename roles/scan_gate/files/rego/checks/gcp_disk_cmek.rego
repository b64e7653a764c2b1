# METADATA
# title: GCP disk encrypted with a customer-managed key
# description: >-
#   Every google_compute_disk must set disk_encryption_key.kms_key_self_link (a Cloud KMS key the
#   organization manages). Google-managed encryption and raw customer-supplied keys are refused.
# scope: package
# schemas:
#   - input: schema["cloud"]
# related_resources:
#   - https://cloud.google.com/compute/docs/disks/customer-managed-encryption
# custom:
#   id: AINATIVE-IAC-002
#   avd_id: AINATIVE-IAC-002
#   provider: google
#   service: compute
#   severity: HIGH
#   short_code: disk-customer-managed-key
#   recommended_action: Set disk_encryption_key { kms_key_self_link = <Cloud KMS key> } on the disk.
#   input:
#     selector:
#       - type: cloud
#         subtypes:
#           - provider: google
#             service: compute
package user.ainative.gcp_disk_cmek

import rego.v1

deny contains res if {
	some disk in input.google.compute.disks
	disk.encryption.kmskeylink.value == ""
	res := result.new(
		sprintf("GCP disk %q has no customer-managed key (disk_encryption_key.kms_key_self_link)", [disk.name.value]),
		disk.encryption,
	)
}
