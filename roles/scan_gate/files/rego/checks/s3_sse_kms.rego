# METADATA
# title: S3 bucket encrypted with an allowed KMS key
# description: >-
#   Every S3 bucket must use SSE-KMS (sse_algorithm aws:kms) with a kms_master_key_id from the
#   allowed list in data.ainative.allowed_kms_keys. SSE-S3 (AES256), no encryption, or a KMS key
#   outside the list is refused.
# scope: package
# schemas:
#   - input: schema["cloud"]
# related_resources:
#   - https://docs.aws.amazon.com/AmazonS3/latest/userguide/UsingKMSEncryption.html
# custom:
#   id: AINATIVE-IAC-001
#   avd_id: AINATIVE-IAC-001
#   provider: aws
#   service: s3
#   severity: HIGH
#   short_code: s3-sse-kms-allowed-key
#   recommended_action: >-
#     Add an aws_s3_bucket_server_side_encryption_configuration for the bucket with
#     sse_algorithm = "aws:kms" and kms_master_key_id set to an approved key.
#   input:
#     selector:
#       # "cloud" is the state Trivy adapts from Terraform (HCL and plan JSON) and CloudFormation.
#       - type: cloud
#         subtypes:
#           - provider: aws
#             service: s3
package user.ainative.s3_sse_kms

import rego.v1

allowed_keys := {key | some key in data.ainative.allowed_kms_keys}

deny contains res if {
	some bucket in input.aws.s3.buckets
	bucket.encryption.algorithm.value != "aws:kms"
	res := result.new(
		sprintf("S3 bucket %q is not encrypted with SSE-KMS (algorithm %q)", [bucket.name.value, bucket.encryption.algorithm.value]),
		bucket.encryption.algorithm,
	)
}

deny contains res if {
	some bucket in input.aws.s3.buckets
	bucket.encryption.algorithm.value == "aws:kms"
	not bucket.encryption.kmskeyid.value in allowed_keys
	res := result.new(
		sprintf("S3 bucket %q uses KMS key %q, which is not in the allowed list", [bucket.name.value, bucket.encryption.kmskeyid.value]),
		bucket.encryption.kmskeyid,
	)
}
