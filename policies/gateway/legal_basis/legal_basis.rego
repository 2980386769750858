# METADATA
# title: Legal basis
# description: |
#   A query cites its legal basis by the code the catalog lists for its purpose, never as free text
#   (clause (1): catalog management; clause (14): the purpose, method and scope are stated). The
#   citation text (law and article) comes from the catalog, so what a requester claims and what an
#   auditor reads are the same words.
# custom:
#   code: legal_basis
#   clause: "(14)"
package gateway.legal_basis

_bases := data.gateway.lib.as_object(object.get(data.gateway.request.purpose, "legal_bases", {}))

# METADATA
# title: The cited code is a basis the catalog lists for the purpose
cited if {
	is_string(input.legal_basis)
	_ = _bases[input.legal_basis]
}

# METADATA
# title: The legal basis is one the catalog lists for the purpose
# custom:
#   code: legal_basis_not_listed
#   clause: "(14)"
deny contains {
	"code": "legal_basis_not_listed",
	"clause": "(14)",
	"message": "the legal basis must be the code of a basis the catalog lists for the purpose",
	"field": "legal_basis",
} if {
	data.gateway.request.purpose_known
	data.gateway.lib.text(input.legal_basis)
	not cited
}

# METADATA
# title: The legal basis cited is one the catalog lists
# custom:
#   code: legal_basis_listed
#   clause: "(14)"
info contains {
	"code": "legal_basis_listed",
	"clause": "(14)",
	"message": "the legal basis is one the catalog lists for the purpose",
	"field": "legal_basis",
} if {
	cited
}
