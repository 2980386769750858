# METADATA
# title: Tests for gateway.items
# custom:
#   code: items
#   clause: "(1)"
package gateway.items_test

import data.gateway.fixtures_test as fixtures
import data.gateway.items

_refusals(changes) := refusals if {
	refusals := items.deny with input as fixtures.request(changes) with data.catalog as fixtures.catalog
}

_one_item(id) := {"items": [{"id": id, "fields": null}]}

test_national_item_is_accepted if {
	count(_refusals({})) == 0
}

test_local_item_is_accepted if {
	changes := object.union(_one_item("local.court.consumption_restriction"), {"subjects": [fixtures.adult]})
	count(_refusals(changes)) == 0
}

test_unknown_item_is_refused if {
	some reason in _refusals(_one_item("market.unknown"))
	reason.code == "item_not_in_catalog"
	reason.item == "market.unknown"
}

test_covered_subject_kind_is_accepted if {
	count(_refusals({"subjects": [fixtures.individual_business]})) == 0
}

test_uncovered_subject_kind_is_refused if {
	changes := object.union(_one_item("market.enterprise_registration"), {"subjects": [fixtures.adult]})
	some reason in _refusals(changes)
	reason.code == "subject_kind_not_covered"
	reason.item == "market.enterprise_registration"
}

# A subject without a kind is refused, on OPA as on regorus (`not subject.kind in ...` is not).
test_subject_without_kind_is_refused if {
	some reason in _refusals({"subjects": [{"commitment": "c-1"}]})
	reason.code == "subject_kind_not_covered"
}

test_subject_that_is_not_an_object_is_refused if {
	some reason in _refusals({"subjects": ["c-1"]})
	reason.code == "subject_kind_not_covered"
}

test_subjects_that_are_not_a_list_raise_nothing if {
	count(_refusals({"subjects": "c-1"})) == 0 # gateway.request refuses the request
}
