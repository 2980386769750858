# METADATA
# title: Tests for what a stored grant covers on the query path
# description: >-
#   The catalog is pinned with `with` (the shared fixture catalog) so editing the real catalog does not
#   change what these tests mean.
package gateway.coverage_test

import data.gateway.coverage
import data.gateway.fixtures_test as fixtures

now := "2026-11-22T08:00:00Z"

stored := {
	"id": "9b2f0c5e6a7d4e1f8a3b2c1d0e9f8a7b",
	"subject_commitment": "c0ffee",
	"recipient": "housing",
	"purposes": ["admin_licensing"],
	"items": ["judgment_debtors", "tax_arrears"],
	"fields": null,
	"valid_from": "2026-11-21T00:00:00Z",
	"valid_until": "2027-05-21T00:00:00Z",
	"revoked": false,
}

query := {
	"requester": {"department": "housing", "client_id": "housing-app"},
	"purpose": "admin_licensing",
	"items": [{"id": "judgment_debtors", "fields": ["name", "case_no"]}, {"id": "tax_arrears", "fields": null}],
	"subjects": [{"commitment": "c0ffee", "kind": "natural_person"}],
	"grant": stored,
	"now": now,
}

covered(q) := items if {
	items := coverage.covered_items with input as q with data.catalog as fixtures.catalog
}

why(q) := {reason.code | some reason in reasons} if {
	reasons := coverage.query_reasons with input as q with data.catalog as fixtures.catalog
}

release(q) := {reason.code | some reason in reasons} if {
	reasons := coverage.release_reasons with input as q with data.catalog as fixtures.catalog
}

with_grant(changes) := object.union(query, {"grant": object.union(stored, changes)})

test_valid_grant_covers_requested_items if {
	covered(query) == {"judgment_debtors", "tax_arrears"}
	why(query) == set()
	release(query) == set()
}

test_valid_grant_is_relied_on if {
	coverage.relied_on_grant with input as query with data.catalog as fixtures.catalog

	# Assign first: regorus 0.13 evaluates `a == b with ...` as undefined.
	id := coverage.grant_id with input as query with data.catalog as fixtures.catalog
	id == stored.id
}

test_revoked_grant_covers_nothing if {
	q := with_grant({"revoked": true})
	covered(q) == set()
	why(q) == {"grant_revoked"}
	release(q) == {"grant_revoked"}
}

test_expired_grant_covers_nothing if {
	q := object.union(query, {"now": "2027-05-21T00:00:00Z"})
	covered(q) == set()
	why(q) == {"grant_expired"}
}

test_grant_valid_until_last_instant if {
	covered(object.union(query, {"now": "2027-05-20T23:59:59Z"})) == {"judgment_debtors", "tax_arrears"}
}

test_grant_not_yet_valid_covers_nothing if {
	q := object.union(query, {"now": "2026-11-20T23:59:59Z"})
	covered(q) == set()
	why(q) == {"grant_not_yet_valid"}
}

test_other_subject_covers_nothing if {
	q := object.union(query, {"subjects": [{"commitment": "c0ffee", "kind": "natural_person"}, {"commitment": "bad", "kind": "natural_person"}]})
	covered(q) == set()
	why(q) == {"grant_subject_mismatch"}
}

test_legal_person_subject_needs_no_match if {
	q := object.union(query, {"subjects": [{"commitment": "c0ffee", "kind": "natural_person"}, {"commitment": "corp", "kind": "legal_person"}]})
	covered(q) == {"judgment_debtors", "tax_arrears"}
}

test_subject_without_kind_must_match if {
	q := object.union(query, {"subjects": [{"commitment": "other"}]})
	why(q) == {"grant_subject_mismatch"}
}

test_other_recipient_covers_nothing if {
	q := object.union(query, {"requester": {"department": "tax"}})
	covered(q) == set()
	why(q) == {"grant_recipient_mismatch"}
}

test_other_purpose_covers_nothing if {
	q := object.union(query, {"purpose": "talent_program"})
	covered(q) == set()
	why(q) == {"grant_purpose_mismatch"}
}

test_purpose_object_form_accepted if {
	covered(object.union(query, {"purpose": {"code": "admin_licensing"}})) == {"judgment_debtors", "tax_arrears"}
}

test_item_outside_grant_not_covered if {
	q := object.union(query, {"items": [{"id": "judgment_debtors"}, {"id": "social_arrears"}]})
	covered(q) == {"judgment_debtors"}
	why(q) == {"grant_item_not_covered"}
	release(q) == {"grant_item_not_covered"}
}

test_field_outside_grant_not_covered if {
	q := with_grant({"fields": {"judgment_debtors": ["case_no"]}})
	covered(q) == {"tax_arrears"}
	why(q) == {"grant_field_not_covered"}
}

test_field_inside_grant_covered_and_limited if {
	q := object.union(
		with_grant({"fields": {"judgment_debtors": ["case_no"]}}),
		{"items": [{"id": "judgment_debtors", "fields": ["case_no"]}, {"id": "tax_arrears"}]},
	)
	covered(q) == {"judgment_debtors", "tax_arrears"}
	limits := coverage.field_limits with input as q with data.catalog as fixtures.catalog
	limits == {"judgment_debtors": ["case_no"]}
}

test_limited_item_without_named_fields_not_covered if {
	q := object.union(
		with_grant({"fields": {"judgment_debtors": ["case_no"]}}),
		{"items": [{"id": "judgment_debtors"}, {"id": "tax_arrears"}]},
	)
	covered(q) == {"tax_arrears"}
	why(q) == {"grant_field_not_covered"}
}

test_no_grant_for_personal_data_refused if {
	release(object.union(query, {"grant": null})) == {"grant_required"}
}

test_statutory_duty_needs_no_grant if {
	release(object.union(query, {"grant": null, "purpose": "tax_enforcement"})) == set()
}

test_legal_person_needs_no_grant if {
	release(object.union(query, {"grant": null, "subjects": [{"commitment": "corp", "kind": "legal_person"}]})) == set()
}

test_statutory_query_does_not_rely_on_grant if {
	q := object.union(query, {"purpose": "tax_enforcement"})
	not coverage.relied_on_grant with input as q with data.catalog as fixtures.catalog
}

test_malformed_stored_grant_covers_nothing if {
	q := with_grant({"valid_until": null, "items": "judgment_debtors"})
	covered(q) == set()
	release(q) != set()
}
