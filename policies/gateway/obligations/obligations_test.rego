# METADATA
# title: Tests for gateway.obligations
# custom:
#   code: obligations
#   clause: "(16)"
package gateway.obligations_test

import data.gateway.fixtures_test as fixtures
import data.gateway.obligations

_asking(item, field, subjects) := fixtures.request({"subjects": subjects, "items": [{"id": item, "fields": [field]}]})

_obligation(item, field, subjects) := result if {
	all := obligations.for_item with input as _asking(item, field, subjects) with data.catalog as fixtures.catalog
	result := all[item][field]
}

test_default_operator_applies if {
	_obligation("market.admin_penalty", "phone", [fixtures.adult]) == {"operator": "mask", "class": "phone"}
}

test_field_without_operator_is_released_as_is if {
	bad := json.remove(fixtures.catalog, [["national", "items", "market.admin_penalty", "fields", "phone", "desensitize"]])
	all := obligations.for_item with input as _asking("market.admin_penalty", "phone", [fixtures.adult])
		with data.catalog as bad
	all["market.admin_penalty"].phone == {"operator": "none", "class": "phone"}
}

test_field_without_class_has_no_obligation if {
	bad := json.remove(fixtures.catalog, [["national", "items", "market.admin_penalty", "fields", "name", "class"]])
	all := obligations.for_item with input as _asking("market.admin_penalty", "name", [fixtures.adult])
		with data.catalog as bad
	not all["market.admin_penalty"].name
}

test_adult_personal_field_keeps_its_default if {
	_obligation("market.admin_penalty", "name", [fixtures.adult]).operator == "none"
}

test_minor_personal_field_is_suppressed if {
	_obligation("market.admin_penalty", "name", [fixtures.minor]).operator == "suppress"
}

test_minor_among_adults_suppresses_the_item if {
	_obligation("market.admin_penalty", "name", [fixtures.adult, fixtures.minor]).operator == "suppress"
}

test_minor_subject_id_is_masked if {
	_obligation("court.dishonest_debtor", "subject_id", [fixtures.minor]).operator == "mask"
}

test_minor_resident_id_is_masked if {
	_obligation("local.court.consumption_restriction", "subject_id", [fixtures.minor]).operator == "mask"
}

test_minor_public_field_keeps_its_default if {
	_obligation("market.admin_penalty", "decision_no", [fixtures.minor]).operator == "none"
}

test_minor_keeps_a_stricter_operator if {
	_obligation("local.court.consumption_restriction", "phone", [fixtures.minor]).operator == "suppress"
}

test_stricter_keeps_the_stricter_operator if {
	obligations.stricter("pseudonymize", "mask") == "pseudonymize"
}

test_stricter_raises_a_weaker_operator if {
	obligations.stricter("encrypt", "mask") == "mask"
}

test_stricter_rejects_an_unknown_operator if {
	not obligations.stricter("scramble", "mask")
}

test_obligations_cover_each_requested_field if {
	changes := {"items": [{"id": "market.admin_penalty", "fields": ["name", "phone"]}]}
	result := obligations.for_item with input as fixtures.request(changes) with data.catalog as fixtures.catalog
	object.keys(result["market.admin_penalty"]) == {"name", "phone"}
}

test_minor_is_reported if {
	information := obligations.info with input as fixtures.request({"subjects": [fixtures.minor]})
		with data.catalog as fixtures.catalog
	some reason in information
	reason.code == "minor_prudence"
}

test_adult_is_not_reported if {
	information := obligations.info with input as fixtures.request({"subjects": [fixtures.adult]})
		with data.catalog as fixtures.catalog
	count(information) == 0
}
