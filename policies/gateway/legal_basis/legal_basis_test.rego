# METADATA
# title: Tests for gateway.legal_basis
# custom:
#   code: legal_basis
#   clause: "(14)"
package gateway.legal_basis_test

import data.gateway.fixtures_test as fixtures
import data.gateway.legal_basis

_codes(changes) := {reason.code | some reason in refusals} if {
	refusals := legal_basis.deny with input as fixtures.request(changes) with data.catalog as fixtures.catalog
}

test_listed_code_is_accepted if {
	count(_codes({})) == 0
}

test_listed_code_is_reported if {
	information := legal_basis.info with input as fixtures.base with data.catalog as fixtures.catalog
	some reason in information
	reason.code == "legal_basis_listed"
}

test_free_text_is_refused if {
	"legal_basis_not_listed" in _codes({"legal_basis": "随便"})
}

test_citation_text_instead_of_its_code_is_refused if {
	"legal_basis_not_listed" in _codes({"legal_basis": "Administrative Licensing Law art. 31"})
}

test_code_of_another_purpose_is_refused if {
	other := json.patch(fixtures.catalog, [{"op": "add", "path": "/national/purposes/credit_evaluation/legal_bases", "value": {"pipl_13": {"law": "PIPL", "article": "13"}}}])
	refusals := legal_basis.deny with input as fixtures.request({"legal_basis": "pipl_13"}) with data.catalog as other
	some reason in refusals
	reason.code == "legal_basis_not_listed"
}

test_unknown_purpose_is_left_to_the_purpose_rule if {
	count(_codes({"purpose": "curiosity", "legal_basis": "随便"})) == 0
}
