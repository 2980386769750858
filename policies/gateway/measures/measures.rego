# METADATA
# title: Disciplinary measures list
# description: |
#   A query made to apply a disciplinary measure must cite a measure on the national or local
#   measures list (clauses (9)(10)). A measure cited with a purpose that applies none is refused,
#   not ignored: the request would otherwise be registered as if it were punitive, or a punitive
#   use would hide behind a neutral purpose.
# custom:
#   code: measures
#   clause: "(9)"
package gateway.measures

_absent if object.get(input, "measure", null) == null

# Looked up by key in each catalog, not in the merged measures list.
_listed if {
	is_string(input.measure)
	catalogs := data.catalog
	some name, _ in catalogs
	_ = catalogs[name].measures[input.measure]
}

# METADATA
# title: A purpose that applies a measure cites one
# custom:
#   code: measure_required
#   clause: "(9)"
deny contains {
	"code": "measure_required",
	"clause": "(9)",
	"message": "a query made to apply a disciplinary measure must name the measure",
	"field": "measure",
} if {
	data.gateway.request.applies_measure
	_absent
}

# METADATA
# title: The cited measure is on the measures list
# custom:
#   code: measure_not_listed
#   clause: "(9)"
deny contains {
	"code": "measure_not_listed",
	"clause": "(9)",
	"message": "the measure is not on the national or local list of disciplinary measures",
	"field": "measure",
} if {
	data.gateway.request.applies_measure
	not _absent
	not _listed
}

# METADATA
# title: A measure is cited only with a purpose that applies one
# custom:
#   code: measure_not_applicable
#   clause: "(9)"
deny contains {
	"code": "measure_not_applicable",
	"clause": "(9)",
	"message": "a disciplinary measure may only be named with a purpose that applies one",
	"field": "measure",
} if {
	data.gateway.request.purpose_known
	not data.gateway.request.applies_measure
	not _absent
}

# METADATA
# title: The measure applied is on the list
# custom:
#   code: measure_listed
#   clause: "(9)"
info contains {
	"code": "measure_listed",
	"clause": "(9)",
	"message": "the disciplinary measure is on the list of disciplinary measures",
	"field": "measure",
} if {
	data.gateway.request.applies_measure
	_listed
}
