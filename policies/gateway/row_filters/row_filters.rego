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

# The source of each known item that has one.
_sources[id] := item.source if {
	some id, item in data.gateway.request.items
	is_object(item.source)
}

# A column the source names (a non-empty string), per known item.
_has(key) := {id |
	some id, source in _sources
	column := object.get(source, key, null)
	is_string(column)
	column != ""
}

_repaired_ids := _has("repaired_column")

_removed_ids := _has("removed_column")

_decided_ids := _has("decided_column")

# METADATA
# title: Repaired records stop being shared
# custom:
#   kind: exclude_repaired
#   clause: "(11)"
_exclude_repaired := {"kind": "exclude_repaired"}

# METADATA
# title: Entries removed from a list stop being shared
# custom:
#   kind: exclude_removed
#   clause: "(8)"
_exclude_removed := {"kind": "exclude_removed"}

# METADATA
# title: Records past the disclosure period stop being shared
# custom:
#   kind: within_disclosure_period
#   clause: "(4)"
_within_period[id] := {"kind": "within_disclosure_period", "years": years} if {
	items := data.gateway.request.items
	some id in _decided_ids
	years := object.get(items[id], ["disclosure", "period_years"], null)
	is_number(years)
}

# METADATA
# title: The row filters, in a fixed order, per known item
# description: exclude_repaired, then exclude_removed, then within_disclosure_period.
for_item[id] := filters if {
	repaired := _repaired_ids
	removed := _removed_ids
	period := _within_period
	some id, _ in _sources
	filters := array.concat(
		array.concat([_exclude_repaired | id in repaired], [_exclude_removed | id in removed]),
		[filter | filter := period[id]],
	)
}
