# METADATA
# title: Tests for gateway.row_filters
# custom:
#   code: row_filters
#   clause: "(11)"
package gateway.row_filters_test

import data.gateway.fixtures_test as fixtures
import data.gateway.row_filters

_asking(id) := fixtures.request({"items": [{"id": id, "fields": null}]})

_filters(id) := result if {
	result := row_filters.for_item[id] with input as _asking(id) with data.catalog as fixtures.catalog
}

_kinds(id) := [f.kind | some f in _filters(id)]

test_repaired_records_are_excluded if {
	{"kind": "exclude_repaired"} in _filters("market.admin_penalty")
}

test_item_without_repair_column_keeps_its_rows if {
	not "exclude_repaired" in _kinds("local.court.consumption_restriction")
}

test_removed_list_entries_are_excluded if {
	{"kind": "exclude_removed"} in _filters("local.court.consumption_restriction")
}

test_item_without_removal_column_keeps_its_rows if {
	not "exclude_removed" in _kinds("market.admin_penalty")
}

test_records_past_the_disclosure_period_are_excluded if {
	{"kind": "within_disclosure_period", "years": 3} in _filters("market.admin_penalty")
}

test_item_without_period_keeps_old_records if {
	not "within_disclosure_period" in _kinds("local.court.consumption_restriction")
}

test_period_without_decision_date_column_is_not_applied if {
	bad := json.remove(fixtures.catalog, [["national", "items", "market.admin_penalty", "source", "decided_column"]])
	result := row_filters.for_item["market.admin_penalty"] with input as fixtures.base with data.catalog as bad
	result == [{"kind": "exclude_repaired"}]
}

test_filters_come_in_a_fixed_order if {
	_kinds("court.dishonest_debtor") == ["exclude_repaired", "exclude_removed", "within_disclosure_period"]
}

test_item_without_source_has_no_filters if {
	bad := json.remove(fixtures.catalog, [["national", "items", "market.admin_penalty", "source"]])
	filters := row_filters.for_item with input as fixtures.base with data.catalog as bad
	not filters["market.admin_penalty"]
}

test_records_without_an_accepted_basis_document_are_excluded if {
	catalog := json.patch(fixtures.catalog, [
		{"op": "add", "path": "/national/items/market.admin_penalty/conduct", "value": {"severity": "ordinary", "basis_document_column": "basis"}},
		{"op": "add", "path": "/national/items/market.admin_penalty/basis_documents", "value": ["penalty_decision", "judgment"]},
	])
	filters := row_filters.for_item["market.admin_penalty"] with input as fixtures.base with data.catalog as catalog
	filters[count(filters) - 1] == {"kind": "basis_document_accepted", "types": ["judgment", "penalty_decision"]}
}

test_item_recording_no_conduct_has_no_basis_filter if {
	filters := row_filters.for_item["market.admin_penalty"] with input as fixtures.base with data.catalog as fixtures.catalog
	every f in filters {
		f.kind != "basis_document_accepted"
	}
}
