# METADATA
# title: The request as the policy sees it
# description: |
#   Well-formedness of the input document and the facts every other package derives from it:
#   which items are asked for and known, which fields each item is asked for, the purpose, the
#   subjects' kinds, minors and the time. A query must state its purpose, legal basis and scope
#   (clause (14)) and be decided against the published catalog (clause (1)).
# custom:
#   code: request
#   clause: "(14)"
package gateway.request

# METADATA
# title: Subject kinds whose records are personal information
# description: Natural persons and individual businesses (GB 32100-2015 codes starting 92).
personal_kinds := {"natural_person", "individual_business"}

# METADATA
# title: The input's item entries, an empty list unless they are a list
# description: Normalized once, here; regorus raises on iterating a value that is not a collection.
entries := data.gateway.lib.as_array(object.get(input, "items", null))

# METADATA
# title: The input's subjects, an empty list unless they are a list
subjects := data.gateway.lib.as_array(object.get(input, "subjects", null))

# METADATA
# title: The kind of every subject, null for a subject without one
# description: |
#   Never undefined: `not f(x.missing)` succeeds on regorus and fails the body on OPA, so a subject
#   without a kind still has one (null, in no item's subject kinds) on both engines.
subject_kinds contains object.get(subject, "kind", null) if {
	some subject in subjects
	is_object(subject)
}

subject_kinds contains null if {
	some subject in subjects
	not is_object(subject)
}

# METADATA
# title: Every item id the request names
requested_ids contains entry.id if {
	some entry in entries
}

# METADATA
# title: The catalog entry of every requested item the catalog lists
# description: |
#   Looked up by key in each catalog, never by merging whole catalogs: a national catalog's entry
#   when one lists the id (a local catalog cannot override it), else the one local catalog's entry.
#   Local catalogs that disagree make it fail (gateway.catalog.consistent).
items[id] := national[0] if {
	data.gateway.catalog.consistent
	catalogs := data.catalog
	some id in requested_ids
	national := [entry | some catalog in catalogs; catalog.kind == "national"; entry := catalog.items[id]]
	count(national) == 1
}

items[id] := others[0] if {
	data.gateway.catalog.consistent
	catalogs := data.catalog
	some id in requested_ids
	not _national_item(catalogs, id)
	others := [entry |
		some catalog in catalogs
		object.get(catalog, "kind", null) != "national"
		entry := catalog.items[id]
	]
	count(others) == 1
}

# Arrays, not sets, of entries: a set of catalog entries compares whole entries to deduplicate them.
_national_item(catalogs, id) if {
	some catalog in catalogs
	catalog.kind == "national"
	_ = catalog.items[id]
}

# METADATA
# title: Requested item ids the catalog lists
known_ids contains id if some id, _ in items

# METADATA
# title: Requested item ids the catalog does not list
unknown_ids contains id if {
	some id in requested_ids
	not items[id]
}

# METADATA
# title: The catalog entry of the stated purpose, looked up by key as items are
# description: |
#   In the catalog index when it was built from the catalogs the request was built against (the
#   same entry, worked out once at bundle load by gateway.index), else in the catalogs.
purpose := entry if {
	index := data.catalog_index
	input.catalog_revision == index.catalog_revision
	entry := index.purposes[input.purpose]
} else := national[0] if {
	data.gateway.catalog.consistent
	catalogs := data.catalog
	national := [entry | some catalog in catalogs; catalog.kind == "national"; entry := catalog.purposes[input.purpose]]
	count(national) == 1
} else := others[0] if {
	data.gateway.catalog.consistent
	catalogs := data.catalog
	national := [entry | some catalog in catalogs; catalog.kind == "national"; entry := catalog.purposes[input.purpose]]
	count(national) == 0
	others := [entry |
		some catalog in catalogs
		object.get(catalog, "kind", null) != "national"
		entry := catalog.purposes[input.purpose]
	]
	count(others) == 1
}

# METADATA
# title: The stated purpose is in the catalog
purpose_known if {
	_ = purpose
}

# METADATA
# title: The purpose is the requesting department's statutory duty
statutory_duty if purpose.statutory_duty == true

# METADATA
# title: The purpose is applying a disciplinary measure
applies_measure if purpose.applies_measure == true

# METADATA
# title: Some subject is a natural person or an individual business
personal_subject if {
	some kind in subject_kinds
	kind in personal_kinds
}

# METADATA
# title: Some subject is a natural person under 18 (clause (16))
# description: A natural person whose minor flag is missing is treated as a minor.
minor_subject if {
	some subject in subjects
	subject.kind == "natural_person"
	object.get(subject, "minor", true) != false
}

# METADATA
# title: The decision time, from the input, in nanoseconds since the epoch
now_ns := data.gateway.lib.instant(input.now)

# METADATA
# title: The fields the stated purpose needs, per known item
needed[id] := names if {
	some id, item in items
	listed := object.get(item, ["purpose_fields", input.purpose], [])
	names := {name | some name in data.gateway.lib.as_array(listed)}
}

# METADATA
# title: The fields asked for, per known item
# description: |
#   An entry with fields null (or absent) asks for every field the purpose needs from the item.
#   The same item named twice is asked for the union of its entries' fields.
fields[id] := names if {
	some id, _ in items
	explicit := {name | some entry in entries; entry.id == id; is_array(entry.fields); some name in entry.fields}
	implicit := {name |
		some entry in entries
		entry.id == id
		object.get(entry, "fields", null) == null
		some name in needed[id]
	}
	names := explicit | implicit
}

# The top-level texts that are stated (non-empty strings), checked once here rather than by one
# function call per reason rule.
_stated contains key if {
	some key, path in {"department": ["requester", "department"], "purpose": ["purpose"], "legal_basis": ["legal_basis"]}
	value := object.get(input, path, null)
	is_string(value)
	value != ""
}

# The positions of the item entries that name an item and null or a non-empty list of field names.
_well_formed contains i if {
	some i, entry in entries
	is_string(entry.id)
	entry.id != ""
	object.get(entry, "fields", null) == null
}

_well_formed contains i if {
	some i, entry in entries
	is_string(entry.id)
	entry.id != ""
	is_array(entry.fields)
	count(entry.fields) > 0
	every name in entry.fields {
		is_string(name)
		name != ""
	}
}

# METADATA
# title: The requesting department is stated
# custom:
#   code: request_incomplete
#   clause: "(14)"
deny contains {
	"code": "request_incomplete",
	"clause": "(14)",
	"message": "the requesting department must be stated",
	"field": "requester.department",
} if {
	not "department" in _stated
}

# METADATA
# title: The purpose is stated
# custom:
#   code: request_incomplete
#   clause: "(14)"
deny contains {
	"code": "request_incomplete",
	"clause": "(14)",
	"message": "the purpose of the query must be stated",
	"field": "purpose",
} if {
	not "purpose" in _stated
}

# METADATA
# title: The legal basis is stated
# custom:
#   code: request_incomplete
#   clause: "(14)"
deny contains {
	"code": "request_incomplete",
	"clause": "(14)",
	"message": "the legal basis of the query must be stated",
	"field": "legal_basis",
} if {
	not "legal_basis" in _stated
}

# METADATA
# title: At least one item is asked for
# custom:
#   code: request_incomplete
#   clause: "(14)"
deny contains {
	"code": "request_incomplete",
	"clause": "(14)",
	"message": "the query must name at least one catalog item",
	"field": "items",
} if {
	count(entries) == 0
}

# METADATA
# title: Every item entry names an item and null or a non-empty list of fields
# description: |
#   An empty field list is refused rather than read as "no fields": a read that releases no field
#   would still tell the requester whether a record exists.
# custom:
#   code: request_incomplete
#   clause: "(14)"
deny contains {
	"code": "request_incomplete",
	"clause": "(14)",
	"message": "each item must name a catalog item id and either null or a non-empty list of field names",
	"field": "items",
} if {
	some i, _ in entries
	not i in _well_formed
}

# METADATA
# title: At least one subject is named
# custom:
#   code: request_incomplete
#   clause: "(14)"
deny contains {
	"code": "request_incomplete",
	"clause": "(14)",
	"message": "the query must name at least one subject",
	"field": "subjects",
} if {
	count(subjects) == 0
}

# METADATA
# title: The decision time is an RFC 3339 timestamp
# custom:
#   code: request_incomplete
#   clause: "(14)"
deny contains {
	"code": "request_incomplete",
	"clause": "(14)",
	"message": "the decision time must be an RFC 3339 timestamp",
	"field": "now",
} if {
	not now_ns
}

# METADATA
# title: The request was built against the catalog this policy sees
# description: |
#   The gateway plans its reads with its own copy of the catalog; deciding with a different copy
#   (a stale OPA bundle, a half-deployed change) could release columns the decision did not weigh.
# custom:
#   code: catalog_revision_mismatch
#   clause: "(1)"
deny contains {
	"code": "catalog_revision_mismatch",
	"clause": "(1)",
	"message": "the request was built against another revision of the catalog than the policy's",
	"field": "catalog_revision",
} if {
	object.get(input, "catalog_revision", null) != data.gateway.catalog.revision
}
