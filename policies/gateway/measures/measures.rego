# METADATA
# title: Disciplinary measures list
# description: |
#   A query made to apply a disciplinary measure must cite a measure on the national or local
#   measures list (clauses (9)(10)). A measure cited with a purpose that applies none is refused,
#   not ignored: the request would otherwise be registered as if it were punitive, or a punitive
#   use would hide behind a neutral purpose.
#
#   A listed measure is further bound to its conduct (clause (10)): it follows a list the subject is
#   currently on or an item the query reads, the requesting department is one the list names as
#   applying it (clause (9): nobody else is made to punish), and it is no heavier than the conduct.
#   This package is also the one place the query decision takes the prudence (clause (16)) and the
#   legal-basis (clauses (1)(14)) reasons from, so the query package wires one package for all three.
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

# Every catalog's entry for the measure; the catalog check keeps a local catalog from redefining one.
_entries := [entry | some catalog in data.catalog; entry := catalog.measures[input.measure]]

# METADATA
# title: The catalog entry of the cited measure
measure := _entries[0] if {
	count(_entries) > 0
	every entry in _entries {
		entry == _entries[0]
	}
}

# METADATA
# title: Severities, lightest first (clause (10))
severity_rank := {"minor": 1, "ordinary": 2, "serious": 3}

# A seriously-untrustworthy list records serious conduct.
_list_rank := 3

_follows_lists := {name | some name in data.gateway.lib.as_array(object.get(measure, ["follows", "lists"], []))}

_follows_items := {id | some id in data.gateway.lib.as_array(object.get(measure, ["follows", "items"], []))}

# Per subject position: the severity ranks of the conduct the measure may follow for that subject.
_grounds[i] := ranks if {
	data.gateway.request.applies_measure
	some i, subject in data.gateway.request.subjects
	lists := {name | some name in data.gateway.lib.as_array(object.get(subject, "lists", []))}
	from_lists := {_list_rank | some name in lists; name in _follows_lists}
	from_items := {rank |
		some id, item in data.gateway.request.items
		id in _follows_items
		rank := severity_rank[object.get(item, ["conduct", "severity"], "none")]
	}
	ranks := from_lists | from_items
}

# METADATA
# title: The measure may be applied by the requesting department
# custom:
#   code: measure_department_not_listed
#   clause: "(9)"
deny contains {
	"code": "measure_department_not_listed",
	"clause": "(9)",
	"message": "the measures list does not name the requesting department as one that applies this measure",
	"field": "measure",
} if {
	data.gateway.request.applies_measure
	departments := data.gateway.lib.as_array(object.get(measure, "departments", []))
	not object.get(input, ["requester", "department"], null) in departments
}

# METADATA
# title: The measure follows a list the subject is on or an item the query reads
# custom:
#   code: measure_not_linked
#   clause: "(10)"
deny contains {
	"code": "measure_not_linked",
	"clause": "(10)",
	"message": "the measure follows neither a list the subject is currently on nor an item the query reads",
	"field": "measure",
} if {
	data.gateway.request.applies_measure
	_ = measure
	some i, _ in data.gateway.request.subjects
	count(object.get(_grounds, i, set())) == 0
}

# METADATA
# title: The measure is no heavier than the conduct
# custom:
#   code: measure_too_severe
#   clause: "(10)"
deny contains {
	"code": "measure_too_severe",
	"clause": "(10)",
	"message": "the measure is heavier than the conduct it follows",
	"field": "measure",
} if {
	data.gateway.request.applies_measure
	some ranks in _grounds
	count(ranks) > 0
	max(ranks) < object.get(severity_rank, object.get(measure, "severity", "none"), 99)
}

# METADATA
# title: The measure's own severity is one the policy knows
# custom:
#   code: measure_too_severe
#   clause: "(10)"
deny contains {
	"code": "measure_too_severe",
	"clause": "(10)",
	"message": "the measure has no known severity, so it cannot be weighed against the conduct",
	"field": "measure",
} if {
	data.gateway.request.applies_measure
	_ = measure
	not severity_rank[object.get(measure, "severity", "none")]
}

# METADATA
# title: Prudence with minors, force majeure and unintentional minor conduct (clause (16))
# custom:
#   clause: "(16)"
deny contains reason if some reason in data.gateway.prudence.deny

# METADATA
# title: The legal basis is one the catalog lists for the purpose (clauses (1)(14))
# custom:
#   clause: "(14)"
deny contains reason if some reason in data.gateway.legal_basis.deny

info contains reason if some reason in data.gateway.prudence.info

info contains reason if some reason in data.gateway.legal_basis.info

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
