# METADATA
# title: Row filters
# description: |
#   Which rows of an item may be read at all, applied by the source in SQL. Repaired records stop
#   being shared (clauses (11)(12)); entries removed from a seriously-untrustworthy list stop being
#   shared (clauses (6)-(8)); records older than the item's disclosure period, counted from their
#   decision date, stop being shared (clause (4)); records whose basis document is missing or of a
#   type the item does not accept as legally effective are never shared (clause (2)).
# custom:
#   code: row_filters
#   clause: "(11)"
package gateway.row_filters

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
# description: The years come from the item's disclosure period.
# custom:
#   kind: within_disclosure_period
#   clause: "(4)"
_within_period := {"kind": "within_disclosure_period"}

# METADATA
# title: Records rest on a legally effective document the item accepts
# description: The accepted types come from the item's basis_documents.
# custom:
#   kind: basis_document_accepted
#   clause: "(2)"
_basis_accepted := {"kind": "basis_document_accepted"}

# Items that record conduct (a conduct block naming its basis-document column) get the filter; an item
# with the column and no accepted type shares nothing, which the catalog check reports.
_basis_filter(item) := [object.union(_basis_accepted, {"types": types})] if {
	is_string(object.get(item, ["conduct", "basis_document_column"], null))
	types := sort([t | some t in data.gateway.lib.as_array(object.get(item, "basis_documents", []))])
} else := []

# METADATA
# title: The row filters, in a fixed order, per known item
# description: |
#   exclude_repaired, then exclude_removed, then within_disclosure_period, then
#   basis_document_accepted (when the item records conduct), each of the first three when the item's
#   source names the column it needs (a non-empty string). Worked out in one rule per item, because
#   each rule or function evaluated costs more in regorus than the whole comparison.
for_item[id] := array.concat(array.concat(array.concat(repaired, removed), period), _basis_filter(item)) if {
	some id, item in data.gateway.request.items
	source := item.source
	is_object(source)
	columns := {key |
		some key in ["repaired_column", "removed_column", "decided_column"]
		column := object.get(source, key, null)
		is_string(column)
		column != ""
	}
	repaired := [_exclude_repaired | "repaired_column" in columns]
	removed := [_exclude_removed | "removed_column" in columns]
	period := [object.union(_within_period, {"years": years}) |
		"decided_column" in columns
		years := object.get(item, ["disclosure", "period_years"], null)
		is_number(years)
	]
}
