# METADATA
# title: Tests for gateway.privacy
# custom:
#   code: privacy
#   clause: "(14)"
package gateway.privacy_test

import data.gateway.fixtures_test as fixtures
import data.gateway.privacy

# A credit evaluation (no statutory duty) of the adult, with the fixture grant changed by `changes`.
_with_grant(changes) := {
	"purpose": "credit_evaluation",
	"subjects": [fixtures.adult],
	"grant": object.union(fixtures.grant, changes),
}

_refusals(changes) := refusals if {
	refusals := privacy.deny with input as fixtures.request(changes) with data.catalog as fixtures.catalog
}

# Refused, and only for want of a statutory duty or a covering grant: without a grant the generic
# reason names the item; with a grant that does not cover, the grant's own reasons explain why.
_needs_grant(changes) if {
	refusals := _refusals(changes)
	count(refusals) > 0
	every reason in refusals {
		_grant_related(reason)
	}
}

_grant_related(reason) if {
	reason.code == "personal_information_needs_duty_or_grant"
	reason.item == "market.admin_penalty"
}

_grant_related(reason) if startswith(reason.code, "grant_")

test_statutory_duty_releases_personal_information if {
	count(_refusals({"subjects": [fixtures.adult]})) == 0
}

test_no_duty_and_no_grant_is_refused if {
	_needs_grant({"purpose": "credit_evaluation", "subjects": [fixtures.adult]})
}

test_individual_business_without_duty_or_grant_is_refused if {
	_needs_grant({"purpose": "credit_evaluation", "subjects": [fixtures.individual_business]})
}

test_legal_person_needs_no_grant if {
	count(_refusals({"purpose": "credit_evaluation"})) == 0
}

test_matching_grant_releases_personal_information if {
	count(_refusals(_with_grant({}))) == 0
}

test_grant_to_another_department_is_refused if {
	_needs_grant(_with_grant({"recipient": "procurement"}))
}

test_grant_for_another_purpose_is_refused if {
	_needs_grant(_with_grant({"purposes": ["admin_licensing_review"]}))
}

test_grant_for_other_items_is_refused if {
	_needs_grant(_with_grant({"items": ["court.dishonest_debtor"]}))
}

test_grant_of_another_subject_is_refused if {
	_needs_grant(_with_grant({"subject_commitment": "c-someone-else"}))
}

test_grant_does_not_cover_a_second_personal_subject if {
	changes := object.union(_with_grant({}), {"subjects": [fixtures.adult, fixtures.individual_business]})
	_needs_grant(changes)
}

test_grant_not_yet_valid_is_refused if {
	_needs_grant(_with_grant({"valid_from": "2026-11-23T00:00:00Z"}))
}

test_grant_valid_from_now_is_accepted if {
	count(_refusals(_with_grant({"valid_from": "2026-11-22T08:00:00Z"}))) == 0
}

test_grant_expiring_now_is_refused if {
	_needs_grant(_with_grant({"valid_until": "2026-11-22T08:00:00Z"}))
}

test_revoked_grant_is_refused if {
	_needs_grant(_with_grant({"revoked": true}))
}

test_grant_without_revocation_state_is_refused if {
	changes := {
		"purpose": "credit_evaluation",
		"subjects": [fixtures.adult],
		"grant": object.remove(fixtures.grant, ["revoked"]),
	}
	_needs_grant(changes)
}

test_uncovering_grant_is_explained if {
	some reason in _refusals(_with_grant({"revoked": true}))
	reason.code == "grant_revoked"
}

test_covering_grant_needs_no_explanation if {
	every reason in _refusals(_with_grant({})) {
		reason.code != "grant_revoked"
	}
}

test_grant_field_limits_apply_to_covered_items if {
	changes := object.union(
		_with_grant({"fields": {"market.admin_penalty": ["decision_no", "subject_id"]}}),
		{"items": [{"id": "market.admin_penalty", "fields": ["decision_no"]}]},
	)
	limits := privacy.field_limits with input as fixtures.request(changes) with data.catalog as fixtures.catalog
	limits == {"market.admin_penalty": {"decision_no", "subject_id"}}
}

test_grant_field_limits_do_not_apply_under_statutory_duty if {
	changes := object.union(
		_with_grant({"fields": {"market.admin_penalty": ["decision_no"]}}),
		{"purpose": "admin_licensing_review", "items": [{"id": "market.admin_penalty", "fields": ["decision_no"]}]},
	)
	limits := privacy.field_limits with input as fixtures.request(changes) with data.catalog as fixtures.catalog
	count(limits) == 0
}

test_statutory_duty_is_reported if {
	information := privacy.info with input as fixtures.request({"subjects": [fixtures.adult]})
		with data.catalog as fixtures.catalog
	some reason in information
	reason.code == "statutory_duty"
}

test_grant_is_reported if {
	information := privacy.info with input as fixtures.request(_with_grant({}))
		with data.catalog as fixtures.catalog
	some reason in information
	reason.code == "grant"
}

test_nothing_is_reported_for_legal_persons if {
	information := privacy.info with input as fixtures.base with data.catalog as fixtures.catalog
	count(information) == 0
}
