# METADATA
# title: Tests for gateway.prudence
# custom:
#   code: prudence
#   clause: "(16)"
package gateway.prudence_test

import data.gateway.fixtures_test as fixtures
import data.gateway.prudence

_measure(facts) := fixtures.request({
	"purpose": "disciplinary_measure",
	"requester": {"client_id": "client-1", "department": "procurement"},
	"items": [{"id": "court.dishonest_debtor", "fields": null}],
	"measure": "restrict_procurement",
	"subjects": [object.union(fixtures.adult, facts)],
})

_codes(facts) := {reason.code | some reason in refusals} if {
	refusals := prudence.deny with input as _measure(facts) with data.catalog as fixtures.catalog
}

test_adult_at_the_time_of_the_conduct_is_accepted if {
	count(_codes({})) == 0
}

test_minor_at_the_time_of_the_conduct_is_refused_though_adult_today if {
	"measure_against_minor" in _codes({"minor_at_conduct": true})
}

test_minor_today_is_refused if {
	"measure_against_minor" in _codes({"minor": true})
}

test_legal_person_is_never_refused_as_a_minor if {
	facts := {"kind": "legal_person", "id_type": "uscc", "minor_at_conduct": true}
	not "measure_against_minor" in _codes(facts)
}

test_force_majeure_is_refused if {
	"measure_against_force_majeure" in _codes({"force_majeure": true})
}

test_unintentional_minor_conduct_is_refused if {
	"measure_against_unintentional_minor" in _codes({"unintentional_minor": true})
}

test_missing_facts_are_refused if {
	subject := {"kind": "natural_person", "id_type": "resident_id", "minor": false, "commitment": "c"}
	refusals := prudence.deny with input as object.union(_measure({}), {"subjects": [subject]})
		with data.catalog as fixtures.catalog
	{reason.code | some reason in refusals} == {"measure_against_minor", "measure_against_force_majeure", "measure_against_unintentional_minor"}
}

test_no_refusal_without_a_measure if {
	refusals := prudence.deny with input as fixtures.request({"subjects": [object.union(fixtures.adult, {"force_majeure": true})]})
		with data.catalog as fixtures.catalog
	count(refusals) == 0
}

test_force_majeure_records_get_the_stricter_obligations if {
	prudence.stricter with input as fixtures.request({"subjects": [object.union(fixtures.adult, {"force_majeure": true})]})
		with data.catalog as fixtures.catalog
}

test_ordinary_records_keep_their_obligations if {
	not prudence.stricter with input as fixtures.request({"subjects": [fixtures.adult]})
		with data.catalog as fixtures.catalog
}

test_stricter_obligations_suppress_personal_fields if {
	decision := fixtures.decide({"subjects": [object.union(fixtures.base.subjects[0], {"unintentional_minor": true})]})
	decision.items["market.admin_penalty"].obligations.name.operator == "suppress"
}
