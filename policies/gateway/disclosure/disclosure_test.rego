# METADATA
# title: Tests for gateway.disclosure
# custom:
#   code: disclosure
#   clause: "(4)"
package gateway.disclosure_test

import data.gateway.disclosure
import data.gateway.fixtures_test as fixtures

_catalog := json.patch(fixtures.catalog, [{
	"op": "add",
	"path": "/national/items/market.admin_penalty/disclosure/fields",
	"value": ["subject_id", "name", "decision_no", "phone"],
}])

_decide(changes) := decision if {
	base := {
		"item": "market.admin_penalty",
		"subject": {"kind": "legal_person"},
		"now": "2026-11-22T08:00:00Z",
		"catalog_revision": fixtures.catalog_revision,
	}
	decision := disclosure.decision with input as object.union(base, changes) with data.catalog as _catalog
}

_codes(changes) := {reason.code | some reason in _decide(changes).reasons}

test_public_item_of_a_legal_person_is_disclosed if {
	_decide({}).allow
}

test_public_rules_suppress_what_could_name_a_person if {
	obligations := _decide({}).items["market.admin_penalty"].obligations
	obligations.phone.operator == "suppress"
	obligations.name.operator == "mask"
	obligations.subject_id.operator == "mask"
	obligations.decision_no.operator == "none"
}

test_repaired_and_old_records_are_filtered if {
	filters := _decide({}).items["market.admin_penalty"].row_filters
	filters == [{"kind": "exclude_repaired"}, {"kind": "within_disclosure_period", "years": 3}]
}

test_item_without_public_fields_is_refused if {
	decision := disclosure.decision with input as {
		"item": "market.admin_penalty", "subject": {"kind": "legal_person"},
		"now": "2026-11-22T08:00:00Z", "catalog_revision": fixtures.catalog_revision,
	}
		with data.catalog as fixtures.catalog
	not decision.allow
}

test_item_not_marked_public_is_refused if {
	"item_not_public" in _codes({"item": "tax.internal_audit"})
}

test_natural_person_is_refused if {
	"disclosure_personal_information" in _codes({"subject": {"kind": "natural_person"}})
}

test_unknown_item_is_refused if {
	"item_not_in_catalog" in _codes({"item": "market.horoscope"})
}
