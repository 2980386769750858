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
