# METADATA
# title: Tests for gateway.request
# custom:
#   code: request
#   clause: "(14)"
package gateway.request_test

import data.gateway.fixtures_test as fixtures
import data.gateway.request

_refusals(changes) := refusals if {
	refusals := request.deny with input as fixtures.request(changes) with data.catalog as fixtures.catalog
}

_refused_field(changes, field) if {
	some reason in _refusals(changes)
	reason.code == "request_incomplete"
	reason.field == field
}

test_complete_request_is_not_refused if {
	count(_refusals({})) == 0
}

test_missing_department_is_refused if {
	_refused_field({"requester": {"client_id": "client-1", "department": ""}}, "requester.department")
}

test_missing_purpose_is_refused if {
	_refused_field({"purpose": null}, "purpose")
}

test_missing_legal_basis_is_refused if {
	_refused_field({"legal_basis": ""}, "legal_basis")
}

test_empty_item_list_is_refused if {
	_refused_field({"items": []}, "items")
}

test_explicit_field_list_is_accepted if {
	count(_refusals({"items": [{"id": "market.admin_penalty", "fields": ["decision_no"]}]})) == 0
}

test_empty_field_list_is_refused if {
	_refused_field({"items": [{"id": "market.admin_penalty", "fields": []}]}, "items")
}

test_item_without_id_is_refused if {
	_refused_field({"items": [{"fields": null}]}, "items")
}

test_empty_subject_list_is_refused if {
	_refused_field({"subjects": []}, "subjects")
}

test_offset_timestamp_is_accepted if {
	count(_refusals({"now": "2026-11-22T16:00:00+08:00"})) == 0
}

test_malformed_timestamp_is_refused if {
	_refused_field({"now": "22/11/2026 08:00"}, "now")
}

test_other_catalog_revision_is_refused if {
	some reason in _refusals({"catalog_revision": "national@n-0"})
	reason.code == "catalog_revision_mismatch"
}

test_null_fields_ask_for_what_the_purpose_needs if {
	fields := request.fields with input as fixtures.base with data.catalog as fixtures.catalog
	fields["market.admin_penalty"] == {"subject_id", "name", "decision_no", "phone"}
}

test_listed_fields_ask_for_those_fields if {
	changes := {"items": [{"id": "market.admin_penalty", "fields": ["name"]}]}
	fields := request.fields with input as fixtures.request(changes) with data.catalog as fixtures.catalog
	fields["market.admin_penalty"] == {"name"}
}

test_repeated_item_asks_for_the_union if {
	changes := {"items": [
		{"id": "market.admin_penalty", "fields": ["name"]},
		{"id": "market.admin_penalty", "fields": ["phone"]},
	]}
	fields := request.fields with input as fixtures.request(changes) with data.catalog as fixtures.catalog
	fields["market.admin_penalty"] == {"name", "phone"}
}

test_minor_flag_true_is_a_minor if {
	request.minor_subject with input as fixtures.request({"subjects": [fixtures.minor]})
}

test_adult_is_not_a_minor if {
	not request.minor_subject with input as fixtures.request({"subjects": [fixtures.adult]})
}

test_missing_minor_flag_counts_as_minor if {
	request.minor_subject with input as fixtures.request({"subjects": [{"kind": "natural_person"}]})
}

test_individual_business_is_personal if {
	request.personal_subject with input as fixtures.request({"subjects": [fixtures.individual_business]})
}

test_legal_person_is_not_personal if {
	not request.personal_subject with input as fixtures.base
}

# Lists of the wrong type are refused as incomplete; neither engine raises on them.
test_items_that_are_not_a_list_are_refused if {
	_refused_field({"items": "market.admin_penalty"}, "items")
	_refused_field({"items": null}, "items")
}

test_subjects_that_are_not_a_list_are_refused if {
	_refused_field({"subjects": "c-legal"}, "subjects")
	not request.personal_subject with input as fixtures.request({"subjects": "c-legal"})
}
