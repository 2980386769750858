# METADATA
# title: Tests for gateway.fields
# custom:
#   code: fields
#   clause: "(14)"
package gateway.fields_test

import data.gateway.fields
import data.gateway.fixtures_test as fixtures

_refusals(changes) := refusals if {
	refusals := fields.deny with input as fixtures.request(changes) with data.catalog as fixtures.catalog
}

_asking(names) := {"items": [{"id": "market.admin_penalty", "fields": names}]}

test_needed_field_is_accepted if {
	count(_refusals(_asking(["phone"]))) == 0
}

test_unneeded_field_is_refused if {
	some reason in _refusals(_asking(["notes"]))
	reason.code == "field_not_needed"
	reason.item == "market.admin_penalty"
	reason.field == "notes"
}

test_unknown_field_is_refused if {
	some reason in _refusals(_asking(["favourite_colour"]))
	reason.code == "field_unknown"
	reason.field == "favourite_colour"
}

test_unknown_field_is_not_also_unneeded if {
	every reason in _refusals(_asking(["favourite_colour"])) {
		reason.code != "field_not_needed"
	}
}

test_purpose_fields_entry_allows_the_purpose if {
	changes := {"items": [{"id": "market.enterprise_registration", "fields": null}]}
	count(_refusals(changes)) == 0
}

test_purpose_without_fields_entry_is_refused if {
	changes := {
		"purpose": "public_procurement_review",
		"items": [{"id": "market.enterprise_registration", "fields": null}],
	}
	some reason in _refusals(changes)
	reason.code == "purpose_not_allowed"
	reason.clause == "(14)"
}

test_purpose_outside_share_scope_is_not_reported_twice if {
	changes := {"purpose": "disciplinary_measure", "measure": "restrict_procurement"}
	every reason in _refusals(changes) {
		reason.code != "purpose_not_allowed"
	}
}

test_needed_fields_follow_the_purpose if {
	needed := fields.needed with input as fixtures.request({"purpose": "credit_evaluation"})
		with data.catalog as fixtures.catalog
	needed["market.admin_penalty"] == {"subject_id", "decision_no"}
}
