# METADATA
# title: Shared test fixtures
# description: |
#   A small national and local catalog and a baseline request, used by every *_test package through
#   `with data.catalog as fixtures.catalog`, so the tests do not depend on the shipped catalog.
# custom:
#   code: fixtures
#   clause: "(1)"
package gateway.fixtures_test

# METADATA
# title: Fixture catalogs (national basic and one local supplementary)
catalog := {"national": national, "local_test": local}

# METADATA
# title: The revision string of the fixture catalogs
catalog_revision := "local_test@l-1;national@n-1"

# METADATA
# title: Fixture national basic catalog
national := {
	"kind": "national",
	"revision": "n-1",
	"departments": {
		"licensing": {"name": "Licensing bureau"},
		"procurement": {"name": "Procurement center"},
		"court": {"name": "People's court"},
	},
	"purposes": {
		"admin_licensing_review": {"name": "Licensing review", "statutory_duty": true, "applies_measure": false},
		"public_procurement_review": {"name": "Procurement review", "statutory_duty": true, "applies_measure": false},
		"disciplinary_measure": {"name": "Apply a measure", "statutory_duty": true, "applies_measure": true},
		"credit_evaluation": {"name": "Credit evaluation", "statutory_duty": false, "applies_measure": false},
	},
	"measures": {"restrict_procurement": {"name": "Restrict public procurement", "legal_basis": "x"}},
	"databases": {"market_db": {"department": "licensing"}},
	"items": {
		"market.enterprise_registration": {
			"name": "Enterprise registration",
			"department": "licensing",
			"subject_kinds": ["legal_person", "individual_business"],
			"share_scope": {"mode": "unconditional"},
			"disclosure": {"public": true, "period_years": null},
			"purpose_fields": {
				"admin_licensing_review": ["name", "uscc", "legal_representative"],
				"credit_evaluation": ["name", "uscc"],
			},
			"source": {
				"database": "market_db", "table": "registration", "subject_column": "uscc",
				"repaired_column": null, "removed_column": null, "decided_column": null,
			},
			"fields": {
				"name": {"column": "name", "class": "public", "desensitize": "none"},
				"uscc": {"column": "uscc", "class": "uscc", "desensitize": "none"},
				"legal_representative": {"column": "rep", "class": "name", "desensitize": "mask"},
			},
		},
		"market.admin_penalty": {
			"name": "Administrative penalty",
			"department": "licensing",
			"subject_kinds": ["legal_person", "individual_business", "natural_person"],
			"share_scope": {
				"mode": "conditional",
				"departments": ["licensing", "procurement"],
				"purposes": ["admin_licensing_review", "public_procurement_review", "credit_evaluation"],
			},
			"disclosure": {"public": true, "period_years": 3},
			"purpose_fields": {
				"admin_licensing_review": ["subject_id", "name", "decision_no", "phone"],
				"public_procurement_review": ["subject_id", "decision_no"],
				"credit_evaluation": ["subject_id", "decision_no"],
			},
			"source": {
				"database": "market_db", "table": "penalty", "subject_column": "subject_id",
				"repaired_column": "repaired_on", "removed_column": null, "decided_column": "decided_on",
			},
			"fields": {
				"subject_id": {"column": "subject_id", "class": "subject_id", "desensitize": "mask"},
				"name": {"column": "name", "class": "name", "desensitize": "none"},
				"decision_no": {"column": "decision_no", "class": "public", "desensitize": "none"},
				"phone": {"column": "phone", "class": "phone", "desensitize": "mask"},
				"notes": {"column": "notes", "class": "free_text", "desensitize": "none"},
			},
		},
		"court.dishonest_debtor": {
			"name": "Dishonest judgment debtor",
			"department": "court",
			"subject_kinds": ["natural_person", "legal_person"],
			"serious_list": true,
			"share_scope": {
				"mode": "conditional",
				"departments": ["procurement", "licensing"],
				"purposes": ["public_procurement_review", "disciplinary_measure"],
			},
			"disclosure": {"public": true, "period_years": 5},
			"purpose_fields": {
				"public_procurement_review": ["subject_id", "case_no"],
				"disciplinary_measure": ["subject_id", "case_no", "address"],
			},
			"source": {
				"database": "market_db", "table": "debtor", "subject_column": "subject_id",
				"repaired_column": "repaired_on", "removed_column": "removed_on", "decided_column": "decided_on",
			},
			"fields": {
				"subject_id": {"column": "subject_id", "class": "subject_id", "desensitize": "encrypt"},
				"case_no": {"column": "case_no", "class": "public", "desensitize": "none"},
				"address": {"column": "address", "class": "address", "desensitize": "generalize"},
			},
		},
		"tax.internal_audit": {
			"name": "Internal tax audit notes",
			"department": "licensing",
			"subject_kinds": ["legal_person"],
			"share_scope": {"mode": "not_shared"},
			"disclosure": {"public": false, "period_years": null},
			"purpose_fields": {"admin_licensing_review": ["notes"]},
			"source": {"database": "market_db", "table": "audit", "subject_column": "uscc"},
			"fields": {"notes": {"column": "notes", "class": "free_text", "desensitize": "suppress"}},
		},
	},
}

# METADATA
# title: Fixture local supplementary catalog
# description: Adds one item, one purpose and one measure, and tries to override a national item.
local := {
	"kind": "local",
	"revision": "l-1",
	"purposes": {
		"local_review": {"name": "Local review", "statutory_duty": true, "applies_measure": false},
		"admin_licensing_review": {"name": "Overridden", "statutory_duty": false, "applies_measure": true},
	},
	"measures": {"local_restriction": {"name": "Local restriction", "legal_basis": "y"}},
	"items": {
		"local.court.consumption_restriction": {
			"name": "Consumption restriction",
			"department": "court",
			"subject_kinds": ["natural_person"],
			"share_scope": {"mode": "unconditional"},
			"disclosure": {"public": false, "period_years": null},
			"purpose_fields": {"local_review": ["subject_id", "name", "phone"]},
			"source": {
				"database": "market_db", "table": "restriction", "subject_column": "subject_id",
				"removed_column": "lifted_on",
			},
			"fields": {
				"subject_id": {"column": "subject_id", "class": "resident_id", "desensitize": "none"},
				"name": {"column": "name", "class": "name", "desensitize": "none"},
				"phone": {"column": "phone", "class": "phone", "desensitize": "pseudonymize"},
			},
		},
		"market.enterprise_registration": {
			"name": "Local override attempt",
			"department": "licensing",
			"subject_kinds": ["legal_person", "natural_person"],
			"share_scope": {"mode": "unconditional"},
			"purpose_fields": {"credit_evaluation": ["name", "uscc", "secret"]},
			"source": {"database": "market_db", "table": "registration", "subject_column": "uscc"},
			"fields": {"secret": {"column": "secret", "class": "free_text", "desensitize": "none"}},
		},
	},
}

# METADATA
# title: A baseline request that the fixture catalog allows
# description: A licensing review of one legal person's administrative penalties.
base := {
	"requester": {"client_id": "client-1", "department": "licensing"},
	"purpose": "admin_licensing_review",
	"legal_basis": "Administrative Licensing Law art. 31",
	"measure": null,
	"items": [{"id": "market.admin_penalty", "fields": null}],
	"subjects": [{"kind": "legal_person", "id_type": "uscc", "minor": false, "commitment": "c-legal"}],
	"grant": null,
	"now": "2026-11-22T08:00:00Z",
	"catalog_revision": catalog_revision,
}

# METADATA
# title: The baseline request with some top-level keys replaced
request(changes) := object.union(base, changes)

# METADATA
# title: A natural-person subject
adult := {"kind": "natural_person", "id_type": "resident_id", "minor": false, "commitment": "c-adult"}

# METADATA
# title: A natural-person subject under 18
minor := {"kind": "natural_person", "id_type": "resident_id", "minor": true, "commitment": "c-minor"}

# METADATA
# title: An individual-business subject
individual_business := {"kind": "individual_business", "id_type": "uscc", "minor": false, "commitment": "c-ib"}

# METADATA
# title: A stored grant covering the baseline requester for a credit evaluation of the adult
# description: The shape of gateway.domain.grants.Grant.query_document.
grant := {
	"id": "0123456789abcdef0123456789abcdef",
	"subject_commitment": "c-adult",
	"recipient": "licensing",
	"purposes": ["credit_evaluation"],
	"items": ["market.admin_penalty"],
	"fields": null,
	"valid_from": "2026-11-01T00:00:00Z",
	"valid_until": "2026-12-01T00:00:00Z",
	"revoked": false,
}

# METADATA
# title: The decision for a request against the fixture catalog
decide(changes) := decision if {
	decision := data.gateway.query.decision with input as request(changes) with data.catalog as catalog
}

# METADATA
# title: The codes of a decision's reasons
codes(decision) := {reason.code | some reason in decision.reasons}
