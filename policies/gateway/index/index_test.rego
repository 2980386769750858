# METADATA
# title: Tests for gateway.index, the catalog index built at load
# custom:
#   code: index
#   clause: "(1)"
package gateway.index_test

import data.gateway.fixtures_test as fixtures

_plans := fixtures.index.plans

test_the_index_names_the_catalogs_it_was_built_from if {
	fixtures.index.catalog_revision == fixtures.catalog_revision
}

test_every_known_purpose_is_indexed_with_its_entry if {
	fixtures.index.purposes.admin_licensing_review.statutory_duty == true
	fixtures.index.purposes.credit_evaluation.statutory_duty == false
}

test_a_conditional_scope_admits_only_its_departments if {
	plan := _plans.admin_licensing_review["market.admin_penalty"]
	plan.any_department == false
	object.keys(plan.departments) == {"licensing", "procurement"}
}

test_an_unconditional_scope_admits_any_department if {
	plan := _plans.admin_licensing_review["market.enterprise_registration"]
	plan.any_department == true
	plan.departments == {}
}

test_a_purpose_outside_a_conditional_scope_has_no_plan if {
	not _plans.admin_licensing_review["court.dishonest_debtor"]
}

test_every_set_of_the_items_subject_kinds_is_admitted if {
	plan := _plans.admin_licensing_review["market.admin_penalty"]
	plan.kind_sets["legal_person"]
	plan.kind_sets["legal_person,natural_person"]
	plan.kind_sets["individual_business,legal_person,natural_person"]
	not plan.kind_sets["other"]
	count(plan.kind_sets) == 7
}

test_the_plan_releases_what_the_purpose_needs_with_its_obligations if {
	plan := _plans.admin_licensing_review["market.admin_penalty"]
	plan.entry.fields == ["decision_no", "name", "phone", "subject_id"]
	plan.entry.obligations.phone == {"operator": "mask", "class": "phone"}
	plan.minor_entry.obligations.name == {"operator": "suppress", "class": "name"}
	plan.entry.row_filters == [{"kind": "exclude_repaired"}, {"kind": "within_disclosure_period", "years": 3}]
}
