# METADATA
# title: Tests for gateway.measures
# custom:
#   code: measures
#   clause: "(9)"
package gateway.measures_test

import data.gateway.fixtures_test as fixtures
import data.gateway.measures

_measure_request(measure) := {
	"purpose": "disciplinary_measure",
	"requester": {"client_id": "client-1", "department": "procurement"},
	"items": [{"id": "court.dishonest_debtor", "fields": null}],
	"measure": measure,
}

_refusals(changes) := refusals if {
	refusals := measures.deny with input as fixtures.request(changes) with data.catalog as fixtures.catalog
}

_refused(changes, code) if {
	some reason in _refusals(changes)
	reason.code == code
	reason.field == "measure"
}

test_listed_measure_is_accepted if {
	count(_refusals(_measure_request("restrict_procurement"))) == 0
}

test_local_listed_measure_is_accepted if {
	count(_refusals(_measure_request("local_restriction"))) == 0
}

test_missing_measure_is_refused if {
	_refused(_measure_request(null), "measure_required")
}

test_unlisted_measure_is_refused if {
	_refused(_measure_request("public_shaming"), "measure_not_listed")
}

test_empty_measure_is_refused if {
	_refused(_measure_request(""), "measure_not_listed")
}

test_no_measure_with_other_purpose_is_accepted if {
	count(_refusals({})) == 0
}

test_measure_with_other_purpose_is_refused if {
	_refused({"measure": "restrict_procurement"}, "measure_not_applicable")
}

test_applied_measure_is_reported if {
	information := measures.info with input as fixtures.request(_measure_request("restrict_procurement"))
		with data.catalog as fixtures.catalog
	some reason in information
	reason.code == "measure_listed"
}

test_no_measure_is_reported_without_one if {
	information := measures.info with input as fixtures.base with data.catalog as fixtures.catalog
	every reason in information {
		reason.code != "measure_listed"
	}
}

_with_subject(changes, facts) := object.union(changes, {"subjects": [object.union(fixtures.base.subjects[0], facts)]})

test_department_the_list_names_may_apply_the_measure if {
	count(_refusals(_measure_request("restrict_procurement"))) == 0
}

test_department_the_list_does_not_name_is_refused if {
	changes := object.union(_measure_request("restrict_procurement"), {"requester": {"client_id": "c", "department": "licensing"}})
	_refused(changes, "measure_department_not_listed")
}

test_measure_following_no_read_item_nor_list_is_refused if {
	changes := object.union(_measure_request("restrict_procurement"), {"items": [{"id": "market.admin_penalty", "fields": null}]})
	_refused(changes, "measure_not_linked")
}

test_measure_following_a_list_the_subject_is_on_is_accepted if {
	changes := object.union(_measure_request("restrict_procurement"), {"items": [{"id": "market.admin_penalty", "fields": null}]})
	refusals := _refusals(_with_subject(changes, {"lists": ["fixture_list"]}))
	every reason in refusals {
		not reason.code in {"measure_not_linked", "measure_too_severe"}
	}
}

test_measure_following_a_list_the_subject_is_not_on_is_refused if {
	changes := object.union(_measure_request("restrict_procurement"), {"items": [{"id": "market.admin_penalty", "fields": null}]})
	_refused(_with_subject(changes, {"lists": ["another_list"]}), "measure_not_linked")
}

test_measure_heavier_than_the_conduct_is_refused if {
	heavy := json.patch(fixtures.catalog, [{"op": "replace", "path": "/national/items/court.dishonest_debtor/conduct/severity", "value": "minor"}])
	refusals := measures.deny with input as fixtures.request(_measure_request("restrict_procurement")) with data.catalog as heavy
	some reason in refusals
	reason.code == "measure_too_severe"
}

test_measure_as_heavy_as_the_conduct_is_accepted if {
	same := json.patch(fixtures.catalog, [{"op": "replace", "path": "/national/items/court.dishonest_debtor/conduct/severity", "value": "ordinary"}])
	refusals := measures.deny with input as fixtures.request(_measure_request("restrict_procurement")) with data.catalog as same
	count(refusals) == 0
}
