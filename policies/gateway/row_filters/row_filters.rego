# METADATA
# title: Row filters
# description: |
#   Which rows of an item may be read at all, applied by the source in SQL. Repaired records stop
#   being shared (clauses (11)(12)); entries removed from a seriously-untrustworthy list stop being
#   shared (clauses (6)-(8)); records older than the item's disclosure period, counted from their
#   decision date, stop being shared (clause (4)).
# custom:
#   code: row_filters
#   clause: "(11)"
package gateway.row_filters

_column(source, key) if {
	column := object.get(source, key, null)
	is_string(column)
	column != ""
}

# METADATA
# title: Repaired records stop being shared
# custom:
#   kind: exclude_repaired
#   clause: "(11)"
_repaired(source) := [{"kind": "exclude_repaired"}] if {
	_column(source, "repaired_column")
} else := []

# METADATA
# title: Entries removed from a list stop being shared
# custom:
#   kind: exclude_removed
#   clause: "(8)"
_removed(source) := [{"kind": "exclude_removed"}] if {
	_column(source, "removed_column")
} else := []

# METADATA
# title: Records past the disclosure period stop being shared
# custom:
#   kind: within_disclosure_period
#   clause: "(4)"
_period(item) := [{"kind": "within_disclosure_period", "years": years}] if {
	_column(item.source, "decided_column")
	years := object.get(item, ["disclosure", "period_years"], null)
	is_number(years)
} else := []

# METADATA
# title: The row filters, in a fixed order, per known item
# description: exclude_repaired, then exclude_removed, then within_disclosure_period.
for_item[id] := array.concat(array.concat(_repaired(source), _removed(source)), _period(item)) if {
	some id in data.gateway.request.known_ids
	item := data.gateway.catalog.items[id]
	source := item.source
	is_object(source)
}
