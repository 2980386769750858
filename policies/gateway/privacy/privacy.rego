# METADATA
# title: Personal information
# description: |
#   Records about natural persons and individual businesses are personal credit information: they
#   are read only under the requesting department's statutory duty or under the subject's specific,
#   time-bounded authorization (clause (14)).
#
#   What a presented grant covers is decided by gateway.coverage (covered_items, field_limits and the
#   reasons it gives when a grant does not cover the query): input.grant is the grant as stored
#   (gateway.domain.grants.Grant.query_document), never as claimed by the caller. Whether the purpose
#   is a statutory duty is decided here, from the merged catalog in which national purposes cannot
#   be overridden.
# custom:
#   code: privacy
#   clause: "(14)"
package gateway.privacy

# METADATA
# title: The query needs a grant (personal subjects, no statutory duty)
# description: |
#   The one definition: some subject is a natural person or an individual business, and the purpose
#   is not a statutory duty in the merged catalog. gateway.coverage gives its refusals only then.
grant_needed if {
	data.gateway.request.personal_subject
	not data.gateway.request.statutory_duty
}

# METADATA
# title: Known items a presented grant covers for this requester, purpose and subjects
covered contains id if {
	some id in data.gateway.request.known_ids
	id in data.gateway.coverage.covered_items
}

# METADATA
# title: The fields a grant limits an item to, for items released on the grant's account
field_limits[id] := names if {
	grant_needed
	some id in covered
	limits := data.gateway.coverage.field_limits[id]
	is_array(limits)
	names := {name | some name in limits}
}

# METADATA
# title: Personal information is read under a statutory duty or a matching grant
# custom:
#   code: personal_information_needs_duty_or_grant
#   clause: "(14)"
deny contains {
	"code": "personal_information_needs_duty_or_grant",
	"clause": "(14)",
	"message": "personal information is shared only under a statutory duty or the subject's specific, current authorization",
	"item": id,
} if {
	grant_needed
	not is_object(input.grant) # a presented grant explains itself through the grant reasons below
	some id in data.gateway.request.known_ids
	not id in covered
}

# METADATA
# title: Why a presented grant does not cover the query
# description: |
#   The grant reasons (revoked, expired, another subject, recipient, purpose, item...), each with
#   its own code and clause in gateway.coverage.
# custom:
#   clause: "(14)"
deny contains reason if {
	grant_needed
	some id in data.gateway.request.known_ids
	not id in covered
	some reason in data.gateway.coverage.release_reasons
}

# METADATA
# title: Personal information released under the requester's statutory duty
# custom:
#   code: statutory_duty
#   clause: "(14)"
info contains {
	"code": "statutory_duty",
	"clause": "(14)",
	"message": "personal information is released under the requesting department's statutory duty",
	"item": id,
} if {
	data.gateway.request.personal_subject
	data.gateway.request.statutory_duty
	some id in data.gateway.request.known_ids
}

# METADATA
# title: Personal information released under the subject's authorization
# custom:
#   code: grant
#   clause: "(14)"
info contains {
	"code": "grant",
	"clause": "(14)",
	"message": "personal information is released under the subject's specific, current authorization",
	"item": id,
} if {
	grant_needed
	some id in covered
}
