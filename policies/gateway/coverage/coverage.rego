# METADATA
# title: What a stored authorization grant covers on the query path
# description: >-
#   Clause (14): personal credit information is released on a grant's account only when the grant
#   the gateway loaded from its store (input.grant, gateway.domain.grants.Grant.query_document, never
#   the caller's claim) is in force, was given by every personal subject of the query, names the
#   requester as recipient, the query's purpose and the item (and, when it limits them, the fields).
#   `covered_items` is what it covers, `query_reasons` why it does not, and `release_reasons` the
#   refusals gateway.privacy gives when the query needs a grant (gateway.privacy.grant_needed, the one
#   definition of that).
# custom:
#   clause: "(14)"
package gateway.coverage

query_purpose := input.purpose.code if is_object(input.purpose)

query_purpose := input.purpose if is_string(input.purpose)

# The stored grant the query presented (built by the gateway from its store, never from the caller).
presented := input.grant if is_object(input.grant)

presented_items := data.gateway.lib.as_array(object.get(presented, "items", null))

presented_purposes := data.gateway.lib.as_array(object.get(presented, "purposes", null))

requested_items := data.gateway.lib.as_array(object.get(input, "items", null))

query_subjects := data.gateway.lib.as_array(object.get(input, "subjects", null))

# Legal persons need no grant; a subject without a kind is treated as a person (fail closed).
personal_subject(subject) if not subject.kind

personal_subject(subject) if {
	is_string(subject.kind)
	subject.kind != "legal_person"
}

personal_subjects := [subject | some subject in query_subjects; personal_subject(subject)]

# Parsed once per evaluation (a rule value is computed once; a function call is not).
presented_from_ns := data.gateway.lib.instant(object.get(presented, "valid_from", null))

presented_until_ns := data.gateway.lib.instant(object.get(presented, "valid_until", null))

grant_in_force if {
	presented.revoked == false
	presented_from_ns <= data.gateway.request.now_ns
	data.gateway.request.now_ns < presented_until_ns
}

subject_matches if {
	count(personal_subjects) > 0
	every subject in personal_subjects {
		subject.commitment == presented.subject_commitment
	}
}

recipient_matches if input.requester.department == presented.recipient

purpose_matches if query_purpose in presented_purposes

requested_fields(requested) := requested.fields if is_array(requested.fields)

# object.get, not `requested.fields`: OPA fails `not f(x.missing)` where regorus succeeds.
requested_fields(requested) := [] if not is_array(object.get(requested, "fields", null))

fields_within(_, limits) if limits == null

fields_within(requested, limits) if {
	is_object(limits)
	not limits[requested.id]
}

# When the grant limits an item's fields, the query must name its fields, all within the limit:
# a query naming none would get whatever the purpose needs, which may be more than was consented to.
fields_within(requested, limits) if {
	allowed := data.gateway.lib.as_array(limits[requested.id])
	is_array(requested.fields)
	every name in requested.fields {
		name in allowed
	}
}

# METADATA
# title: Items a presented grant covers for this query
# description: >-
#   The requested item ids the stored grant covers: same subject for every personal subject, the
#   requester is the recipient, the purpose is one of the grant's, the item (and requested fields)
#   are in the grant, valid_from <= now < valid_until, not revoked.
# entrypoint: true
# custom:
#   clause: "(14)"
covered_items contains id if {
	grant_in_force
	subject_matches
	recipient_matches
	purpose_matches
	some requested in requested_items
	id := requested.id
	is_string(id)
	id in presented_items
	fields_within(requested, object.get(presented, "fields", null))
}

# The fields the grant limits each covered item to (the query named a subset of them).
# (The value is bound in the body: regorus 0.13 drops `x[k] := ref[k]` head values.)
field_limits[id] := allowed if {
	some id in covered_items
	allowed := presented.fields[id]
}

# METADATA
# title: Grant revoked
# description: The person withdrew the consent (PIPL art. 15); it stops the very next query.
# custom:
#   code: grant_revoked
#   clause: "(14)"
query_reasons contains {
	"code": "grant_revoked",
	"message": "the authorization grant has been revoked",
	"clause": "(14)",
} if {
	presented.revoked != false
}

# METADATA
# title: Grant expired
# description: The query comes at or after valid_until (or the grant has no usable end).
# custom:
#   code: grant_expired
#   clause: "(14)"
query_reasons contains {
	"code": "grant_expired",
	"message": "the authorization grant has expired",
	"clause": "(14)",
} if {
	data.gateway.request.now_ns >= presented_until_ns
}

# METADATA
# title: Grant expired
# custom:
#   code: grant_expired
#   clause: "(14)"
query_reasons contains {
	"code": "grant_expired",
	"message": "the authorization grant has expired",
	"clause": "(14)",
} if {
	presented
	not presented_until_ns
}

# METADATA
# title: Grant not yet valid
# description: The query comes before valid_from (or the grant has no usable start).
# custom:
#   code: grant_not_yet_valid
#   clause: "(14)"
query_reasons contains {
	"code": "grant_not_yet_valid",
	"message": "the authorization grant is not valid yet",
	"clause": "(14)",
} if {
	data.gateway.request.now_ns < presented_from_ns
}

# METADATA
# title: Grant not yet valid
# custom:
#   code: grant_not_yet_valid
#   clause: "(14)"
query_reasons contains {
	"code": "grant_not_yet_valid",
	"message": "the authorization grant is not valid yet",
	"clause": "(14)",
} if {
	presented
	not presented_from_ns
}

# METADATA
# title: Grant for another subject
# description: Every personal subject of the query must be the grant's subject.
# custom:
#   code: grant_subject_mismatch
#   clause: "(14)"
query_reasons contains {
	"code": "grant_subject_mismatch",
	"message": "the authorization grant was given by another person",
	"clause": "(14)",
	"field": "subjects",
} if {
	presented
	not subject_matches
}

# METADATA
# title: Grant for another recipient
# description: Only the recipient department named in the grant may rely on it.
# custom:
#   code: grant_recipient_mismatch
#   clause: "(14)"
query_reasons contains {
	"code": "grant_recipient_mismatch",
	"message": "the authorization grant names another recipient department",
	"clause": "(14)",
} if {
	presented
	not recipient_matches
}

# METADATA
# title: Grant for another purpose
# description: The query's purpose must be one the person consented to.
# custom:
#   code: grant_purpose_mismatch
#   clause: "(14)"
query_reasons contains {
	"code": "grant_purpose_mismatch",
	"message": "the authorization grant does not cover this purpose",
	"clause": "(14)",
	"field": "purpose",
} if {
	presented
	not purpose_matches
}

# METADATA
# title: Item not in the grant
# description: Each requested item must be one the grant names.
# custom:
#   code: grant_item_not_covered
#   clause: "(14)"
query_reasons contains {
	"code": "grant_item_not_covered",
	"message": "the authorization grant does not cover this item",
	"clause": "(14)",
	"item": requested.id,
} if {
	presented
	some requested in requested_items
	not requested.id in presented_items
}

# METADATA
# title: Field not in the grant
# description: >-
#   When the grant limits an item's fields, the query names its fields and each is among them.
# custom:
#   code: grant_field_not_covered
#   clause: "(14)"
query_reasons contains {
	"code": "grant_field_not_covered",
	"message": "the authorization grant does not cover this field of the item",
	"clause": "(14)",
	"item": requested.id,
	"field": name,
} if {
	some requested in requested_items
	requested.id in presented_items
	allowed := data.gateway.lib.as_array(presented.fields[requested.id])
	some name in requested_fields(requested)
	not name in allowed
}

# METADATA
# title: Field not in the grant
# custom:
#   code: grant_field_not_covered
#   clause: "(14)"
query_reasons contains {
	"code": "grant_field_not_covered",
	"message": "the authorization grant limits this item's fields: the query must name them",
	"clause": "(14)",
	"item": requested.id,
} if {
	some requested in requested_items
	requested.id in presented_items
	is_array(presented.fields[requested.id])
	not is_array(object.get(requested, "fields", null))
}

# --- The clause (14) refusals for data.gateway.query.decision (through gateway.privacy) ---

uncovered_items contains requested.id if {
	data.gateway.privacy.grant_needed
	some requested in requested_items
	not requested.id in covered_items
}

# METADATA
# title: Authorization required
# description: >-
#   Personal credit information is released only under a statutory-duty purpose or a grant that
#   covers the query; none was presented.
# custom:
#   code: grant_required
#   clause: "(14)"
release_reasons contains {
	"code": "grant_required",
	"message": "personal information is released only for a statutory duty or under the person's authorization grant",
	"clause": "(14)",
	"field": "grant",
} if {
	data.gateway.privacy.grant_needed
	not presented
}

release_reasons contains reason if {
	data.gateway.privacy.grant_needed
	count(uncovered_items) > 0
	some reason in query_reasons
}

# METADATA
# title: Item not in the grant
# description: Fail closed, an uncovered item with no explanation above still gets a reason.
# custom:
#   code: grant_item_not_covered
#   clause: "(14)"
release_reasons contains {
	"code": "grant_item_not_covered",
	"message": "the authorization grant does not cover this item",
	"clause": "(14)",
	"item": id,
} if {
	presented
	count(query_reasons) == 0
	some id in uncovered_items
}

# True when some item is released on the grant's account: the query's ledger entry names the grant.
relied_on_grant if {
	data.gateway.privacy.grant_needed
	count(covered_items) > 0
	count(uncovered_items) == 0
}

grant_id := presented.id if relied_on_grant
