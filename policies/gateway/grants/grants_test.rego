# METADATA
# title: Tests for the authorization grant rules
# description: >-
#   Run with `opa test policies/` (or the embedded runner in tests/policies). Catalog and settings are
#   pinned with `with` so tuning policies/grant_settings or editing the real catalog does not change
#   what these tests mean.
package gateway.grants_test

import data.gateway.fixtures_test as fixtures
import data.gateway.grants

# --- Fixtures -----------------------------------------------------------------------------------

now := "2026-11-22T08:00:00Z"

pinned_settings := {
	"max_validity_days": 366,
	"sentinel_year": 2099,
	"max_items_per_purpose": 3,
	"purpose_item_limits": {"talent_program": 1},
	"consent_methods": ["written", "electronic_signature", "online_explicit", "in_person_recorded"],
	"blanket_tokens": ["all", "any", "every", "everything", "*", "全部", "所有", "任意"],
}

consent := {
	"method": "written",
	"obtained_at": "2026-11-20T09:30:00Z",
	"reference": "HF-2026-000123",
	"separate": true,
	"condition_of_service": false,
}

good_grant := {
	"recipient": "housing",
	"purposes": ["admin_licensing"],
	"items": ["judgment_debtors", "tax_arrears"],
	"fields": null,
	"valid_from": "2026-11-21T00:00:00Z",
	"valid_until": "2027-05-21T00:00:00Z",
	"consent": consent,
	"subject_kind": "natural_person",
}

decide(grant) := decision if {
	decision := grants.registration with input as {"grant": grant, "now": now}
		with data.catalog as fixtures.catalog
		with data.grant_settings as pinned_settings
}

codes(grant) := {reason.code | some reason in decide(grant).reasons}

# Refused, and the refusal is reported under `code` (the first reason).
refused_first(grant, code) if {
	decision := decide(grant)
	decision.allow == false
	decision.reasons[0].code == code
}

# Refused for exactly this one reason.
refused_only(grant, code) if {
	decide(grant).allow == false
	codes(grant) == {code}
}

accepted(grant) if {
	decision := decide(grant)
	decision.allow == true
	count(decision.reasons) == 0
}

# --- Accepted shapes ----------------------------------------------------------------------------

test_specific_grant_accepted if accepted(good_grant)

test_grant_with_field_restriction_accepted if {
	accepted(object.union(good_grant, {"fields": {"judgment_debtors": ["case_no"]}}))
}

test_grant_over_two_catalogs_and_two_purposes_accepted if {
	accepted(object.union(good_grant, {
		"purposes": ["admin_licensing", "talent_program"],
		"items": ["tax_arrears", "social_arrears"],
	}))
}

test_condition_of_service_for_the_granted_purpose_accepted if {
	accepted(object.union(good_grant, {"consent": object.union(consent, {
		"condition_of_service": true,
		"service": "admin_licensing",
	})}))
}

test_validity_of_exactly_the_maximum_accepted if {
	accepted(object.union(good_grant, {
		"valid_from": "2026-11-20T09:30:00Z",
		"valid_until": "2027-11-21T09:30:00Z",
	}))
}

test_grant_starting_in_the_future_accepted if {
	accepted(object.union(good_grant, {"valid_from": "2026-12-01T00:00:00Z"}))
}

test_valid_from_equal_to_consent_accepted if {
	accepted(object.union(good_grant, {"valid_from": consent.obtained_at}))
}

test_offset_times_accepted if {
	accepted(object.union(good_grant, {
		"valid_from": "2026-11-21T08:00:00+08:00",
		"valid_until": "2027-05-21T08:00:00.5+08:00",
	}))
}

# --- Blanket ------------------------------------------------------------------------------------

test_blanket_recipient_all_refused if refused_only(object.union(good_grant, {"recipient": "all"}), "grant_blanket_recipient")

test_blanket_recipient_wildcard_refused if {
	refused_only(object.union(good_grant, {"recipient": "*"}), "grant_blanket_recipient")
}

test_blanket_purpose_refused if {
	refused_first(object.union(good_grant, {"purposes": ["ALL"]}), "grant_blanket_purpose")
}

test_empty_purposes_refused if refused_first(object.union(good_grant, {"purposes": []}), "grant_blanket_purpose")

test_blanket_items_refused if refused_first(object.union(good_grant, {"items": ["*"]}), "grant_blanket_items")

test_blanket_items_pattern_refused if {
	refused_first(object.union(good_grant, {"items": ["judgment_*"]}), "grant_blanket_items")
}

test_chinese_blanket_item_refused if refused_first(object.union(good_grant, {"items": ["全部"]}), "grant_blanket_items")

test_blanket_fields_refused if {
	refused_only(object.union(good_grant, {"fields": {"judgment_debtors": ["*"]}}), "grant_blanket_fields")
}

test_too_many_items_for_a_purpose_refused if {
	refused_only(
		object.union(good_grant, {"items": ["judgment_debtors", "social_arrears", "utility_arrears", "fund_arrears"]}),
		"grant_too_many_items",
	)
}

test_items_at_the_purpose_limit_accepted if {
	accepted(object.union(good_grant, {"items": ["judgment_debtors", "social_arrears", "utility_arrears"]}))
}

test_per_purpose_item_limit_refused if {
	refused_only(
		object.union(good_grant, {"purposes": ["talent_program"], "items": ["judgment_debtors", "social_arrears"]}),
		"grant_too_many_items",
	)
}

# --- Catalog ------------------------------------------------------------------------------------

test_unknown_recipient_refused if refused_only(object.union(good_grant, {"recipient": "bank"}), "grant_unknown_recipient")

test_unknown_purpose_refused if {
	refused_first(object.union(good_grant, {"purposes": ["admin_licensing", "marketing"]}), "grant_unknown_purpose")
}

test_unknown_item_refused if {
	refused_only(object.union(good_grant, {"items": ["judgment_debtors", "phone_bills"]}), "grant_unknown_item")
}

test_field_of_another_item_refused if {
	refused_only(object.union(good_grant, {"fields": {"social_arrears": ["amount"]}}), "grant_unknown_field")
}

test_unknown_field_refused if {
	refused_only(object.union(good_grant, {"fields": {"judgment_debtors": ["phone"]}}), "grant_unknown_field")
}

test_item_for_other_subject_kind_refused if {
	refused_only(object.union(good_grant, {"items": ["company_penalties"]}), "grant_item_wrong_subject_kind")
}

# --- Share scope and necessity ------------------------------------------------------------------

test_recipient_outside_conditional_scope_refused if {
	refused_only(object.union(good_grant, {"recipient": "tax"}), "grant_recipient_out_of_scope")
}

test_not_shared_item_refused if {
	refused_first(object.union(good_grant, {"items": ["sealed_records"]}), "grant_recipient_out_of_scope")
}

test_item_no_purpose_needs_refused if {
	refused_first(
		object.union(good_grant, {"purposes": ["talent_program"], "items": ["tax_arrears"]}),
		"grant_purpose_not_for_item",
	)
}

test_purpose_outside_share_scope_refused if {
	codes(object.union(good_grant, {"purposes": ["talent_program"], "items": ["tax_arrears"]})) == {
		"grant_purpose_not_for_item",
		"grant_purpose_without_item",
	}
}

test_purpose_needing_no_item_refused if {
	refused_only(
		object.union(good_grant, {"purposes": ["admin_licensing", "tax_enforcement"]}),
		"grant_purpose_without_item",
	)
}

# --- Lifetime -----------------------------------------------------------------------------------

test_missing_end_refused if refused_only(object.union(good_grant, {"valid_until": null}), "grant_lifetime")

test_absent_end_refused if refused_only(object.remove(good_grant, {"valid_until"}), "grant_lifetime")

test_sentinel_9999_refused if {
	refused_only(object.union(good_grant, {"valid_until": "9999-12-31T23:59:59Z"}), "grant_lifetime_sentinel")
}

test_sentinel_2099_refused if {
	refused_only(object.union(good_grant, {"valid_until": "2099-12-31T00:00:00Z"}), "grant_lifetime_sentinel")
}

test_validity_one_day_too_long_refused if {
	refused_only(
		object.union(good_grant, {"valid_from": "2026-11-20T09:30:00Z", "valid_until": "2027-11-22T09:30:00Z"}),
		"grant_validity_too_long",
	)
}

test_validity_counted_from_consent if {
	# valid_from is recent but the consent is old: the authorization is counted from the consent.
	refused_first(
		object.union(good_grant, {
			"consent": object.union(consent, {"obtained_at": "2026-01-01T00:00:00Z"}),
			"valid_until": "2027-01-05T00:00:00Z",
		}),
		"grant_validity_too_long",
	)
}

test_maximum_is_tunable if {
	decision := grants.registration with input as {"grant": good_grant, "now": now}
		with data.catalog as fixtures.catalog
		with data.grant_settings as {"max_validity_days": 90}
	decision.allow == false
	decision.reasons[0].code == "grant_validity_too_long"
}

test_default_maximum_without_settings if {
	long := object.union(good_grant, {"valid_from": "2026-11-20T09:30:00Z", "valid_until": "2027-11-21T09:30:00Z"})
	decision := grants.registration with input as {"grant": long, "now": now}
		with data.catalog as fixtures.catalog
		with data.grant_settings as {}
	decision.allow == true
}

test_ends_before_start_refused if {
	refused_only(
		object.union(good_grant, {"valid_from": "2026-12-01T00:00:00Z", "valid_until": "2026-12-01T00:00:00Z"}),
		"grant_ends_before_start",
	)
}

test_already_expired_refused if {
	refused_only(
		object.union(good_grant, {"valid_from": "2026-11-20T10:00:00Z", "valid_until": "2026-11-21T00:00:00Z"}),
		"grant_already_expired",
	)
}

# --- Consent ------------------------------------------------------------------------------------

test_condition_of_unrelated_service_refused if {
	refused_only(
		object.union(good_grant, {"consent": object.union(consent, {"condition_of_service": true, "service": "mobile_app_signup"})}),
		"grant_mandatory",
	)
}

test_condition_of_unnamed_service_refused if {
	refused_only(
		object.union(good_grant, {"consent": object.union(consent, {"condition_of_service": true})}),
		"grant_mandatory",
	)
}

test_bundled_consent_refused if {
	refused_only(object.union(good_grant, {"consent": object.union(consent, {"separate": false})}), "grant_not_separate")
}

test_implied_consent_refused if {
	refused_only(
		object.union(good_grant, {"consent": object.union(consent, {"method": "implied"})}),
		"grant_consent_method_not_accepted",
	)
}

test_consent_in_future_refused if {
	refused_first(
		object.union(good_grant, {
			"consent": object.union(consent, {"obtained_at": "2026-11-23T00:00:00Z"}),
			"valid_from": "2026-11-23T00:00:00Z",
		}),
		"grant_consent_in_future",
	)
}

test_retroactive_refused if {
	refused_only(object.union(good_grant, {"valid_from": "2026-11-19T00:00:00Z"}), "grant_retroactive")
}

# --- Malformed input fails closed ---------------------------------------------------------------

test_missing_consent_refused if refused_first(object.remove(good_grant, {"consent"}), "grant_malformed")

test_string_purposes_refused if refused_first(object.union(good_grant, {"purposes": "admin_licensing"}), "grant_malformed")

# Field names that are not a list are malformed; neither engine raises on them.
test_string_field_names_refused if {
	refused_first(object.union(good_grant, {"fields": {"judgment_debtors": "case_no"}}), "grant_malformed")
}

test_unparseable_time_refused if {
	refused_first(object.union(good_grant, {"valid_from": "21/11/2026"}), "grant_malformed")
}

test_missing_now_refused if {
	decision := grants.registration with input as {"grant": good_grant}
		with data.catalog as fixtures.catalog
		with data.grant_settings as pinned_settings
	decision.allow == false
	decision.reasons[0].code == "grant_malformed"
}

test_no_catalog_refuses_everything if {
	decision := grants.registration with input as {"grant": good_grant, "now": now}
		with data.catalog as {}
		with data.grant_settings as pinned_settings
	decision.allow == false
}

test_reasons_follow_code_order if {
	decision := decide(object.union(good_grant, {"recipient": "all", "valid_until": null}))
	[reason.code | some reason in decision.reasons] == ["grant_blanket_recipient", "grant_lifetime"]
}
