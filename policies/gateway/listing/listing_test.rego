# METADATA
# title: Tests for gateway.listing
# custom:
#   code: listing
#   clause: "(8)"
package gateway.listing_test

import data.gateway.listing

_catalog := {"national": {
	"kind": "national",
	"revision": "n-1",
	"measures": {
		"follows_the_list": {"follows": {"lists": ["serious"], "items": []}},
		"follows_an_item": {"follows": {"lists": [], "items": ["market.admin_penalty"]}},
	},
	"lists": {"serious": {
		"department": "market",
		"basis_documents": ["penalty_decision"],
		"notice_days": 5,
		"objection_days": 5,
		"verification_days": 10,
	}},
}}

_notified := {"status": "notified", "notified_at": "2026-11-01T00:00:00Z", "objection_at": null, "objection_verified": false}

_input(step, now, entry, extra) := object.union(
	{"step": step, "list": "serious", "requester": {"department": "market"}, "now": now, "entry": entry},
	extra,
)

_codes(step, now, entry, extra) := {reason.code | some reason in verdict.reasons} if {
	verdict := listing.verdict with input as _input(step, now, entry, extra) with data.catalog as _catalog
}

test_proposal_on_an_accepted_document_is_allowed if {
	count(_codes("propose", "2026-11-01T00:00:00Z", null, {"basis_document": {"type": "penalty_decision"}})) == 0
}

test_proposal_on_another_document_is_refused if {
	"basis_document_not_accepted" in _codes("propose", "2026-11-01T00:00:00Z", null, {"basis_document": {"type": "letter"}})
}

test_unknown_list_is_refused if {
	"list_unknown" in _codes("propose", "2026-11-01T00:00:00Z", null, {"list": "horoscope"})
}

test_other_department_is_refused if {
	"listing_department_not_competent" in _codes("notify", "2026-11-01T00:00:00Z", {"status": "proposed"}, {"requester": {"department": "tax"}})
}

test_decision_after_the_notice_period_is_allowed if {
	count(_codes("decide", "2026-11-06T00:00:00Z", _notified, {"measures": ["follows_the_list"]})) == 0
}

test_decision_before_the_notice_period_is_refused if {
	"listing_before_notice_period" in _codes("decide", "2026-11-05T23:59:59Z", _notified, {"measures": []})
}

test_decision_with_an_unanswered_objection_is_refused if {
	entry := object.union(_notified, {"objection_at": "2026-11-02T00:00:00Z"})
	"listing_objection_unanswered" in _codes("decide", "2026-11-20T00:00:00Z", entry, {"measures": []})
}

test_decision_after_a_rejected_objection_is_allowed if {
	entry := object.union(_notified, {"objection_at": "2026-11-02T00:00:00Z", "objection_verified": true})
	count(_codes("decide", "2026-11-20T00:00:00Z", entry, {"measures": []})) == 0
}

test_decision_prompting_a_measure_that_does_not_follow_the_list_is_refused if {
	"listing_measure_not_linked" in _codes("decide", "2026-11-20T00:00:00Z", _notified, {"measures": ["follows_an_item"]})
}

test_objection_within_the_time_limit_is_allowed if {
	count(_codes("object", "2026-11-06T00:00:00Z", _notified, {})) == 0
}

test_late_objection_is_refused if {
	"objection_late" in _codes("object", "2026-11-06T00:00:01Z", _notified, {})
}

test_late_verification_is_refused if {
	entry := object.union(_notified, {"objection_at": "2026-11-02T00:00:00Z"})
	"verification_late" in _codes("verify", "2026-11-12T00:00:01Z", entry, {})
}

test_verification_without_an_objection_is_refused if {
	"listing_step_out_of_order" in _codes("verify", "2026-11-03T00:00:00Z", _notified, {})
}

test_removal_of_an_entry_not_listed_is_refused if {
	"listing_step_out_of_order" in _codes("remove", "2026-11-03T00:00:00Z", _notified, {})
}

test_removal_of_a_listed_entry_is_allowed if {
	count(_codes("remove", "2026-11-03T00:00:00Z", {"status": "listed"}, {})) == 0
}

test_second_proposal_on_an_entry_is_refused if {
	"listing_step_out_of_order" in _codes("propose", "2026-11-03T00:00:00Z", {"status": "proposed"}, {"basis_document": {"type": "penalty_decision"}})
}
