# METADATA
# title: Authorization grant registration
# description: >-
#   Clause (14): personal credit information is collected and used only with the person's consent,
#   never without authorization, under mandatory authorization or under a one-time authorization for
#   life; the purpose, method and scope are stated. PIPL arts. 14-16 and 23 refine what a valid consent
#   is. The entrypoint `registration` decides whether a grant may be registered, against the merged
#   catalog (gateway.catalog); what a stored grant covers on the query path is gateway.coverage.
#   Times come in the input (`now`), never from the engine's clock.
# custom:
#   clause: "(14)"
package gateway.grants

# --- Tunable settings (policies/grant_settings/data.yaml overrides these defaults) ---

default_settings := {
	# Longest authorization, in days, counted from the earlier of consent and valid_from.
	"max_validity_days": 366,
	# A valid_until in this year or later is a "for life" placeholder, not a real end.
	"sentinel_year": 2099,
	# How many catalog items one purpose can justify in one grant, unless purpose_item_limits says.
	"max_items_per_purpose": 5,
	"purpose_item_limits": {},
	# How a consent may have been obtained: each is explicit and leaves a record (PIPL art. 14).
	"consent_methods": ["written", "electronic_signature", "online_explicit", "in_person_recorded"],
	# Values that name "everything" instead of something specific.
	"blanket_tokens": ["all", "any", "every", "everything", "*", "全部", "所有", "任意"],
}

default configured_settings := {}

configured_settings := data.grant_settings if is_object(data.grant_settings)

settings := object.union(default_settings, configured_settings)

now_ns := data.gateway.lib.instant(input.now)

# --- Catalog lookups, in the merged catalog (a local catalog cannot redefine a national entry) ---

known_items contains id if some id, _ in data.gateway.catalog.items

known_purposes contains code if some code, _ in data.gateway.catalog.purposes

known_departments contains id if some id, _ in data.gateway.catalog.departments

catalog_item(id) := data.gateway.catalog.items[id]

blanket_values contains lower(token) if {
	some token in data.gateway.lib.as_array(settings.blanket_tokens)
	is_string(token)
}

blanket(value) if {
	is_string(value)
	lower(trim_space(value)) in blanket_values
}

blanket(value) if {
	is_string(value)
	contains(value, "*")
}

blanket(value) if {
	is_string(value)
	contains(value, "%")
}

# A department may receive an item when the item's share scope names it (clause (3)). As in
# gateway.share_scope, a conditional scope admits only the departments and purposes it lists.
recipient_may_receive(item, _) if item.share_scope.mode == "unconditional"

recipient_may_receive(item, recipient) if {
	item.share_scope.mode == "conditional"
	recipient in data.gateway.lib.as_array(item.share_scope.departments)
}

purpose_in_scope(item, _) if item.share_scope.mode == "unconditional"

purpose_in_scope(item, purpose) if {
	item.share_scope.mode == "conditional"
	purpose in data.gateway.lib.as_array(item.share_scope.purposes)
}

# A purpose justifies an item when the catalog says which fields it needs from it and the item's
# share scope admits the purpose (necessity and minimization, clause (14)).
purpose_serves(item, purpose) if {
	is_array(item.purpose_fields[purpose])
	purpose_in_scope(item, purpose)
}


# Every optional or malformed part is normalized, so that the two engines agree even on input the
# API would never send: regorus succeeds on `not f(x.missing)` where OPA fails the whole body.
default grant := {}

grant := input.grant if is_object(input.grant)

default consent_doc := {}

consent_doc := grant.consent if is_object(grant.consent)

# Collections are iterated only when they have the right type: regorus raises on iterating null.
grant_purposes := data.gateway.lib.as_array(object.get(grant, "purposes", null))

grant_items := data.gateway.lib.as_array(object.get(grant, "items", null))

grant_fields := data.gateway.lib.as_object(object.get(grant, "fields", null))

named_items contains id if {
	some id in grant_items
	is_string(id)
	id in known_items
}

named_purposes contains code if {
	some code in grant_purposes
	is_string(code)
	code in known_purposes
}

items_for_purpose(purpose) := {id |
	some id in named_items
	purpose_serves(catalog_item(id), purpose)
}

item_limit(purpose) := settings.purpose_item_limits[purpose]

item_limit(purpose) := settings.max_items_per_purpose if not settings.purpose_item_limits[purpose]

valid_until_given if is_string(grant.valid_until)

sentinel_end if data.gateway.lib.year_of(grant.valid_until) >= settings.sentinel_year

from_ns := data.gateway.lib.instant(grant.valid_from)

until_ns := data.gateway.lib.instant(grant.valid_until)

consent_ns := data.gateway.lib.instant(grant.consent.obtained_at)

# The authorization runs from whichever came first: the consent or the start of validity.
start_ns := min({from_ns, consent_ns})

fields_well_formed if object.get(grant, "fields", null) == null

fields_well_formed if {
	is_object(grant.fields)
	every item_id, names in grant_fields {
		is_string(item_id)
		data.gateway.lib.strings_only(names)
	}
}

valid_until_well_formed if object.get(grant, "valid_until", null) == null

valid_until_well_formed if sentinel_end

valid_until_well_formed if until_ns

well_formed if {
	is_string(grant.recipient)
	data.gateway.lib.strings_only(grant.purposes)
	data.gateway.lib.strings_only(grant.items)
	fields_well_formed
	is_string(grant.subject_kind)
	from_ns
	valid_until_well_formed
	is_string(consent_doc.method)
	consent_ns
	is_boolean(consent_doc.separate)
	is_boolean(consent_doc.condition_of_service)
	now_ns
}

# METADATA
# title: Malformed grant
# description: The grant document lacks a field, has a wrong type or a time the engine cannot use.
# custom:
#   code: grant_malformed
#   clause: "(14)"
reason_set contains {
	"code": "grant_malformed",
	"message": "the grant is incomplete or has a field of the wrong type or an unusable time",
	"clause": "(14)",
	"field": "grant",
} if {
	not well_formed
}

# METADATA
# title: Blanket recipient
# description: A grant names one recipient department, never "all" or a wildcard.
# custom:
#   code: grant_blanket_recipient
#   clause: "(14)"
reason_set contains {
	"code": "grant_blanket_recipient",
	"message": "a grant must name one specific recipient department, not all of them",
	"clause": "(14)",
	"field": "recipient",
} if {
	blanket(grant.recipient)
}

# METADATA
# title: Blanket purpose
# description: Purposes are named one by one; "all", a wildcard or no purpose at all is refused.
# custom:
#   code: grant_blanket_purpose
#   clause: "(14)"
reason_set contains {
	"code": "grant_blanket_purpose",
	"message": "a grant must state specific purposes, not all purposes",
	"clause": "(14)",
	"field": "purposes",
} if {
	some code in grant_purposes
	blanket(code)
}

# METADATA
# title: Blanket purpose
# custom:
#   code: grant_blanket_purpose
#   clause: "(14)"
reason_set contains {
	"code": "grant_blanket_purpose",
	"message": "a grant must state specific purposes, not all purposes",
	"clause": "(14)",
	"field": "purposes",
} if {
	count(grant_purposes) == 0
}

# METADATA
# title: Blanket items
# description: Catalog items are named one by one; "all", a wildcard or no item at all is refused.
# custom:
#   code: grant_blanket_items
#   clause: "(14)"
reason_set contains {
	"code": "grant_blanket_items",
	"message": "a grant must name specific catalog items, not all items",
	"clause": "(14)",
	"field": "items",
} if {
	some id in grant_items
	blanket(id)
}

# METADATA
# title: Blanket items
# custom:
#   code: grant_blanket_items
#   clause: "(14)"
reason_set contains {
	"code": "grant_blanket_items",
	"message": "a grant must name specific catalog items, not all items",
	"clause": "(14)",
	"field": "items",
} if {
	count(grant_items) == 0
}

# METADATA
# title: Blanket fields
# description: When a grant restricts fields it names them; "all" or a wildcard is refused.
# custom:
#   code: grant_blanket_fields
#   clause: "(14)"
reason_set contains {
	"code": "grant_blanket_fields",
	"message": sprintf("fields of item %s must be named one by one", [item_id]),
	"clause": "(14)",
	"field": "fields",
} if {
	some item_id, names in grant_fields
	some name in data.gateway.lib.as_array(names)
	blanket(name)
}

# METADATA
# title: Unknown recipient
# description: The recipient must be a department the catalog knows.
# custom:
#   code: grant_unknown_recipient
#   clause: "(3)"
reason_set contains {
	"code": "grant_unknown_recipient",
	"message": sprintf("department %s is not in the catalog", [recipient]),
	"clause": "(3)",
	"field": "recipient",
} if {
	recipient := object.get(grant, "recipient", null)
	is_string(recipient)
	not blanket(recipient)
	not recipient in known_departments
}

# METADATA
# title: Unknown purpose
# description: Every purpose must be one the catalog lists.
# custom:
#   code: grant_unknown_purpose
#   clause: "(1)"
reason_set contains {
	"code": "grant_unknown_purpose",
	"message": sprintf("purpose %s is not in the catalog", [code]),
	"clause": "(1)",
	"field": "purposes",
} if {
	some code in grant_purposes
	is_string(code)
	not blanket(code)
	not code in known_purposes
}

# METADATA
# title: Unknown item
# description: Every item must be one the catalog lists; nothing outside the catalog is shared.
# custom:
#   code: grant_unknown_item
#   clause: "(1)"
reason_set contains {
	"code": "grant_unknown_item",
	"message": sprintf("item %s is not in the catalog", [id]),
	"clause": "(1)",
	"field": "items",
} if {
	some id in grant_items
	is_string(id)
	not blanket(id)
	not id in known_items
}

# METADATA
# title: Unknown field
# description: A field restriction names only items of the grant and fields those items have.
# custom:
#   code: grant_unknown_field
#   clause: "(1)"
reason_set contains {
	"code": "grant_unknown_field",
	"message": sprintf("fields are given for %s, which the grant does not name", [item_id]),
	"clause": "(1)",
	"field": "fields",
} if {
	some item_id, _ in grant_fields
	not item_id in grant_items
}

# METADATA
# title: Unknown field
# custom:
#   code: grant_unknown_field
#   clause: "(1)"
reason_set contains {
	"code": "grant_unknown_field",
	"message": sprintf("item %s has no field %s", [item_id, name]),
	"clause": "(1)",
	"field": "fields",
} if {
	some item_id, names in grant_fields
	item_id in named_items
	some name in data.gateway.lib.as_array(names)
	is_string(name)
	not blanket(name)
	not catalog_item(item_id).fields[name]
}

# METADATA
# title: Item not about this kind of subject
# description: An item the catalog does not hold for the grant's kind of subject cannot be granted.
# custom:
#   code: grant_item_wrong_subject_kind
#   clause: "(1)"
reason_set contains {
	"code": "grant_item_wrong_subject_kind",
	"message": sprintf("item %s holds no records of this kind of subject", [id]),
	"clause": "(1)",
	"field": "items",
} if {
	some id in named_items
	not object.get(grant, "subject_kind", null) in data.gateway.lib.as_array(object.get(data.gateway.lib.as_object(catalog_item(id)), "subject_kinds", []))
}

# METADATA
# title: Recipient outside the item's share scope
# description: The item's share scope would never let this department receive it.
# custom:
#   code: grant_recipient_out_of_scope
#   clause: "(3)"
reason_set contains {
	"code": "grant_recipient_out_of_scope",
	"message": sprintf("item %s is never shared with department %s", [id, grant.recipient]),
	"clause": "(3)",
	"field": "items",
} if {
	grant.recipient in known_departments
	some id in named_items
	not recipient_may_receive(catalog_item(id), grant.recipient)
}

# METADATA
# title: No stated purpose justifies the item
# description: Each item must be needed, per the catalog, by at least one purpose of the grant.
# custom:
#   code: grant_purpose_not_for_item
#   clause: "(14)"
reason_set contains {
	"code": "grant_purpose_not_for_item",
	"message": sprintf("none of the grant's purposes needs item %s", [id]),
	"clause": "(14)",
	"field": "items",
} if {
	some id in named_items
	item := catalog_item(id)
	every code in named_purposes {
		not purpose_serves(item, code)
	}
}

# METADATA
# title: Purpose without an item
# description: Each stated purpose must need at least one of the grant's items; extra purposes widen the grant.
# custom:
#   code: grant_purpose_without_item
#   clause: "(14)"
reason_set contains {
	"code": "grant_purpose_without_item",
	"message": sprintf("purpose %s needs none of the grant's items", [code]),
	"clause": "(14)",
	"field": "purposes",
} if {
	count(named_items) > 0
	some code in named_purposes
	count(items_for_purpose(code)) == 0
}

# METADATA
# title: More items than the purpose justifies
# description: One purpose justifies a bounded number of items (settings max_items_per_purpose).
# custom:
#   code: grant_too_many_items
#   clause: "(14)"
reason_set contains {
	"code": "grant_too_many_items",
	"message": sprintf("purpose %s justifies at most %d items in one grant", [code, item_limit(code)]),
	"clause": "(14)",
	"field": "items",
} if {
	some code in named_purposes
	count(items_for_purpose(code)) > item_limit(code)
}

# METADATA
# title: Lifetime authorization
# description: A grant without an end date would be a one-time authorization for life.
# custom:
#   code: grant_lifetime
#   clause: "(14)"
reason_set contains {
	"code": "grant_lifetime",
	"message": "a grant must end: valid_until is required",
	"clause": "(14)",
	"field": "valid_until",
} if {
	not valid_until_given
}

# METADATA
# title: Lifetime authorization in disguise
# description: A far-future placeholder end date (settings sentinel_year or later) is refused.
# custom:
#   code: grant_lifetime_sentinel
#   clause: "(14)"
reason_set contains {
	"code": "grant_lifetime_sentinel",
	"message": sprintf("valid_until in %d or later is a placeholder for a lifetime grant", [settings.sentinel_year]),
	"clause": "(14)",
	"field": "valid_until",
} if {
	sentinel_end
}

# METADATA
# title: Ends before it starts
# description: valid_until must come after valid_from.
# custom:
#   code: grant_ends_before_start
#   clause: "(14)"
reason_set contains {
	"code": "grant_ends_before_start",
	"message": "valid_until must be later than valid_from",
	"clause": "(14)",
	"field": "valid_until",
} if {
	until_ns <= from_ns
}

# METADATA
# title: Validity too long
# description: >-
#   From the earlier of consent and valid_from to valid_until may not exceed settings
#   max_validity_days (one year by default).
# custom:
#   code: grant_validity_too_long
#   clause: "(14)"
reason_set contains {
	"code": "grant_validity_too_long",
	"message": sprintf("a grant may last at most %d days from consent", [settings.max_validity_days]),
	"clause": "(14)",
	"field": "valid_until",
} if {
	not sentinel_end
	until_ns - start_ns > settings.max_validity_days * data.gateway.lib.ns_per_day
}

# METADATA
# title: Already expired
# description: A grant whose validity has already ended cannot be registered.
# custom:
#   code: grant_already_expired
#   clause: "(14)"
reason_set contains {
	"code": "grant_already_expired",
	"message": "valid_until is already past",
	"clause": "(14)",
	"field": "valid_until",
} if {
	until_ns <= now_ns
}

# METADATA
# title: Mandatory authorization
# description: >-
#   Consent made a condition of a service other than the grant's own purposes is forced consent
#   (clause (14); PIPL art. 16).
# custom:
#   code: grant_mandatory
#   clause: "(14)"
reason_set contains {
	"code": "grant_mandatory",
	"message": "consent was a condition of an unrelated service, so it was not freely given",
	"clause": "(14)",
	"field": "consent.condition_of_service",
} if {
	grant.consent.condition_of_service == true
	not object.get(consent_doc, "service", null) in grant_purposes
}

# METADATA
# title: No separate consent
# description: >-
#   The recipient is another personal-information processor, so the consent must be a separate one
#   (PIPL art. 23), not bundled with other terms.
# custom:
#   code: grant_not_separate
#   clause: "(14)"
reason_set contains {
	"code": "grant_not_separate",
	"message": "providing data to another department needs the person's separate consent (PIPL art. 23)",
	"clause": "(14)",
	"field": "consent.separate",
} if {
	grant.consent.separate != true
}

# METADATA
# title: Consent method not accepted
# description: Consent must be explicit and recorded (settings consent_methods; PIPL art. 14).
# custom:
#   code: grant_consent_method_not_accepted
#   clause: "(14)"
reason_set contains {
	"code": "grant_consent_method_not_accepted",
	"message": sprintf("consent method must be one of: %s", [concat(", ", data.gateway.lib.as_array(settings.consent_methods))]),
	"clause": "(14)",
	"field": "consent.method",
} if {
	not object.get(consent_doc, "method", null) in data.gateway.lib.as_array(settings.consent_methods)
}

# METADATA
# title: Consent dated in the future
# description: Consent evidence cannot claim a time after the registration.
# custom:
#   code: grant_consent_in_future
#   clause: "(14)"
reason_set contains {
	"code": "grant_consent_in_future",
	"message": "consent cannot have been obtained after now",
	"clause": "(14)",
	"field": "consent.obtained_at",
} if {
	consent_ns > now_ns
}

# METADATA
# title: Retroactive grant
# description: A grant cannot authorize use before the person consented.
# custom:
#   code: grant_retroactive
#   clause: "(14)"
reason_set contains {
	"code": "grant_retroactive",
	"message": "valid_from is earlier than the consent",
	"clause": "(14)",
	"field": "valid_from",
} if {
	from_ns < consent_ns
}

# The order reasons are reported in: the first is the refusal's code.
code_order := [
	"grant_malformed",
	"grant_blanket_recipient",
	"grant_blanket_purpose",
	"grant_blanket_items",
	"grant_blanket_fields",
	"grant_unknown_recipient",
	"grant_unknown_purpose",
	"grant_unknown_item",
	"grant_unknown_field",
	"grant_item_wrong_subject_kind",
	"grant_recipient_out_of_scope",
	"grant_purpose_not_for_item",
	"grant_purpose_without_item",
	"grant_too_many_items",
	"grant_lifetime",
	"grant_lifetime_sentinel",
	"grant_ends_before_start",
	"grant_validity_too_long",
	"grant_already_expired",
	"grant_mandatory",
	"grant_not_separate",
	"grant_consent_method_not_accepted",
	"grant_consent_in_future",
	"grant_retroactive",
]

ordered_codes := {code | some code in code_order}

# A reason whose code is missing from code_order is still reported (last), never dropped.
reasons := array.concat(
	[reason | some code in code_order; some reason in reason_set; reason.code == code],
	[reason | some reason in reason_set; not reason.code in ordered_codes],
)

default allow := false

allow if {
	well_formed
	count(reason_set) == 0
}

# METADATA
# title: Grant registration decision
# description: '{"allow": bool, "reasons": [{code, message, clause, field}]}, first reason first.'
# entrypoint: true
# custom:
#   clause: "(14)"
registration := {"allow": allow, "reasons": reasons}
