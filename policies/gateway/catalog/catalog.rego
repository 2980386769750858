# METADATA
# title: Merged public credit information catalog
# description: |
#   Every document under data.catalog is one published catalog (policies/catalog/<name>/data.yaml).
#   The national basic catalog (kind "national") and the local supplementary catalogs are merged
#   here. National entries cannot be overridden: a local catalog may add items, purposes, measures,
#   departments and databases, but an id the national catalog defines is taken from the national
#   catalog alone, never merged field by field. Two local catalogs defining the same id differently
#   make evaluation fail (object keys must be unique), which the gateway treats as a refusal.
# custom:
#   code: catalog
#   clause: "(1)"
package gateway.catalog

# METADATA
# title: Names of the national basic catalogs
national contains name if {
	some name, doc in data.catalog
	doc.kind == "national"
}

# METADATA
# title: Names of the local supplementary catalogs
local contains name if {
	some name, _ in data.catalog
	not name in national
}

# METADATA
# title: Merged catalog items, national first
items := _merge("items")

# METADATA
# title: Merged purposes
purposes := _merge("purposes")

# METADATA
# title: Merged disciplinary measures lists (clauses (9)(10))
measures := _merge("measures")

# METADATA
# title: Merged departments
departments := _merge("departments")

# METADATA
# title: Merged source databases
databases := _merge("databases")

# METADATA
# title: The local catalogs agree wherever they define the same id
# description: |
#   With fewer than two local catalogs there is nothing to compare, and nothing is iterated. With
#   more, the merged items, purposes and measures are built, which fails (object keys must be
#   unique) when two of them define an id differently: the decision fails rather than pick one.
consistent if _local_count < 2

consistent if {
	_local_count >= 2
	_ = items
	_ = purposes
	_ = measures
}

# Counted inline rather than from `local`, which needs `national`: two rules more on every decision.
_local_count := count([name | some name, doc in data.catalog; object.get(doc, "kind", null) != "national"])

# METADATA
# title: Catalog revision
# description: |
#   "<name>@<revision>" for every catalog, ordered by name and joined by ";": the same string the
#   gateway computes from its own copy (gateway.domain.catalog.Catalog.revision), so a request built
#   against another copy of the catalog than the one this policy sees can be refused.
revision := concat(";", [sprintf("%s@%v", [name, object.get(catalogs[name], "revision", "")]) |
	catalogs := data.catalog
	some name in sort([n | some n, _ in catalogs])
])

_merge(section) := object.union(local_only, national_part) if {
	national_part := _collect(national, section)
	local_only := object.remove(_collect(local, section), [id | some id, _ in national_part])
}

_collect(names, section) := {id: entry |
	some name in names
	some id, entry in object.get(data.catalog[name], section, {})
}
