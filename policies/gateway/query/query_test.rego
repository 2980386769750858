# METADATA
# title: Tests for gateway.query, the decision entrypoint
# custom:
#   code: query
#   clause: "(13)"
package gateway.query_test

import data.gateway.fixtures_test as fixtures
import data.gateway.query

test_allowed_decision_is_complete if {
	fixtures.decide({}) == {
		"allow": true,
		"reasons": [{
			"code": "legal_basis_listed",
			"clause": "(14)",
			"message": "the legal basis is one the catalog lists for the purpose",
			"field": "legal_basis",
		}],
		"items": {"market.admin_penalty": {
			"fields": ["decision_no", "name", "phone", "subject_id"],
			"obligations": {
				"decision_no": {"operator": "none", "class": "public"},
				"name": {"operator": "none", "class": "name"},
				"phone": {"operator": "mask", "class": "phone"},
				"subject_id": {"operator": "mask", "class": "subject_id"},
			},
			"row_filters": [{"kind": "exclude_repaired"}, {"kind": "within_disclosure_period", "years": 3}],
		}},
	}
}

test_refused_decision_releases_nothing if {
	decision := fixtures.decide({"items": [{"id": "market.unknown", "fields": null}]})
	decision.allow == false
	decision.items == {}
}

test_refused_decision_gives_its_reasons if {
	decision := fixtures.decide({"items": [{"id": "market.unknown", "fields": null}]})
	fixtures.codes(decision) == {"item_not_in_catalog"}
}

test_allowed_decision_gives_information if {
	decision := fixtures.decide({"subjects": [fixtures.minor]})
	fixtures.codes(decision) == {"statutory_duty", "minor_prudence", "conduct_prudence", "legal_basis_listed"}
}

test_most_fundamental_reason_comes_first if {
	decision := fixtures.decide({
		"purpose": "credit_evaluation",
		"subjects": [fixtures.adult],
		"items": [
			{"id": "market.admin_penalty", "fields": ["notes"]},
			{"id": "market.unknown", "fields": null},
		],
	})
	codes := [r.code | some r in decision.reasons]
	array.slice(codes, 0, 3) == ["item_not_in_catalog", "field_not_needed", "personal_information_needs_duty_or_grant"]
}

test_requested_fields_are_released if {
	decision := fixtures.decide({"items": [{"id": "market.admin_penalty", "fields": ["decision_no"]}]})
	decision.items["market.admin_penalty"].fields == ["decision_no"]
}

test_field_limited_grant_releases_the_named_fields if {
	grant := object.union(fixtures.grant, {"fields": {"market.admin_penalty": ["decision_no", "subject_id"]}})
	decision := fixtures.decide({
		"purpose": "credit_evaluation",
		"subjects": [fixtures.adult],
		"grant": grant,
		"items": [{"id": "market.admin_penalty", "fields": ["decision_no"]}],
	})
	decision.items["market.admin_penalty"].fields == ["decision_no"]
}

test_field_limited_grant_does_not_cover_unnamed_fields if {
	grant := object.union(fixtures.grant, {"fields": {"market.admin_penalty": ["decision_no"]}})
	decision := fixtures.decide({"purpose": "credit_evaluation", "subjects": [fixtures.adult], "grant": grant})
	decision.allow == false
}

test_released_fields_are_not_narrowed_without_grant_limits if {
	decision := fixtures.decide({"purpose": "credit_evaluation", "subjects": [fixtures.adult], "grant": fixtures.grant})
	decision.items["market.admin_penalty"].fields == ["decision_no", "subject_id"]
}

test_every_requested_item_is_released if {
	decision := fixtures.decide({"items": [
		{"id": "market.admin_penalty", "fields": null},
		{"id": "market.enterprise_registration", "fields": null},
	]})
	object.keys(decision.items) == {"market.admin_penalty", "market.enterprise_registration"}
}

test_item_without_obligation_is_refused if {
	bad := json.remove(fixtures.catalog, [["national", "items", "market.admin_penalty", "fields", "name", "class"]])
	decision := query.decision with input as fixtures.base with data.catalog as bad
	decision.allow == false
	fixtures.codes(decision) == {"policy_incomplete"}
}

test_empty_input_is_refused if {
	decision := query.decision with input as {} with data.catalog as fixtures.catalog
	decision.allow == false
	"request_incomplete" in fixtures.codes(decision)
}

test_missing_input_is_refused if {
	decision := query.decision with data.catalog as fixtures.catalog
	decision.allow == false
}

# Requests of every shape the index decides, and some it must leave to the full evaluation.
_index_cases := [
	{},
	{"subjects": [fixtures.adult]},
	{"subjects": [fixtures.minor]},
	{"subjects": [fixtures.adult, fixtures.minor, fixtures.individual_business]},
	{"subjects": [fixtures.individual_business]},
	{"items": [{"id": "market.admin_penalty", "fields": ["decision_no"]}]},
	{"items": [{"id": "market.admin_penalty", "fields": ["decision_no", "phone"]}], "subjects": [fixtures.minor]},
	{"items": [{"id": "market.admin_penalty"}]},
	{"items": [
		{"id": "market.admin_penalty", "fields": null},
		{"id": "market.enterprise_registration", "fields": ["name"]},
	]},
	{"items": [{"id": "market.admin_penalty", "fields": null}, {"id": "market.admin_penalty", "fields": null}]},
	{"items": [{"id": "market.admin_penalty", "fields": []}]},
	{"items": [{"id": "market.admin_penalty", "fields": ["notes"]}]},
	{"items": [{"id": "market.admin_penalty", "fields": [""]}]},
	{"items": [{"id": "market.unknown", "fields": null}]},
	{"items": []},
	{"items": "market.admin_penalty"},
	{"subjects": []},
	{"subjects": [{"kind": "legal_person"}, "x"]},
	{"subjects": [{"id_type": "uscc"}]},
	{"purpose": "credit_evaluation", "subjects": [fixtures.adult]},
	{"purpose": "credit_evaluation", "subjects": [fixtures.adult], "grant": fixtures.grant},
	{"purpose": "credit_evaluation"},
	{"purpose": "disciplinary_measure", "measure": "restrict_procurement"},
	{"purpose": "disciplinary_measure", "measure": null},
	{"measure": "restrict_procurement"},
	{"purpose": "no_such_purpose"},
	{"purpose": ""},
	{"legal_basis": ""},
	{"legal_basis": 7},
	{"requester": {"client_id": "client-1", "department": "housing"}},
	{"requester": {"client_id": "client-1"}},
	{"requester": "licensing"},
	{"now": "2026-11-22T08:00:00.123456Z"},
	{"now": "2026-11-22T08:00:00+08:00"},
	{"now": "1900-01-01T00:00:00Z"},
	{"now": "yesterday"},
	{"now": 5},
	{"catalog_revision": "national@other"},
]

test_the_index_decides_as_the_full_evaluation if {
	every changes in _index_cases {
		fixtures.decide(changes) == fixtures.decide_in_full(changes)
	}
}

# The index is really what decides an allowed query: a plan altered in it shows in the decision.
test_an_allowed_query_is_decided_from_the_index if {
	altered := json.patch(fixtures.index, [{
		"op": "replace",
		"path": "/plans/admin_licensing_review/market.admin_penalty/entry/fields",
		"value": ["from-the-index"],
	}])
	decision := query.decision with input as fixtures.base
		with data.catalog as fixtures.catalog
		with data.catalog_index as altered
	decision.items["market.admin_penalty"].fields == ["from-the-index"]
}

test_an_index_built_from_other_catalogs_is_not_used if {
	altered := json.patch(fixtures.index, [
		{"op": "replace", "path": "/catalog_revision", "value": "national@other"},
		{"op": "replace", "path": "/plans/admin_licensing_review/market.admin_penalty/entry/fields", "value": []},
	])
	decision := query.decision with input as fixtures.base
		with data.catalog as fixtures.catalog
		with data.catalog_index as altered
	decision == fixtures.decide_in_full({})
	decision.allow == true
}
