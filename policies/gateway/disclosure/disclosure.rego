# METADATA
# title: Public disclosure
# description: |
#   What the gateway's public, unauthenticated disclosure endpoint may serve (clauses (4)(5)): only an
#   item the catalog marks public, only the fields its disclosure lists, only records within its
#   disclosure period that are neither repaired nor removed (row filters applied in SQL, so a record
#   stops being disclosed the moment it is repaired or removed), desensitized by the public rules.
#   Personal information is disclosed only where a law provides for it (clause (4)): this endpoint
#   discloses records of legal persons only.
#
#   Input: {"item": <item id>, "subject": {"kind": ...}, "now": <RFC 3339>, "catalog_revision": ...}.
#   The decision has the query decision's shape (gateway/domain/decision.py).
# custom:
#   code: disclosure
#   clause: "(4)"
package gateway.disclosure

_entries := [entry | some catalog in data.catalog; entry := catalog.items[input.item]]

# METADATA
# title: The catalog entry of the item
item := _entries[0] if {
	count(_entries) > 0
	every entry in _entries {
		entry == _entries[0]
	}
}

# METADATA
# title: The fields the catalog discloses to the public
fields := {name |
	some name in data.gateway.lib.as_array(object.get(item, ["disclosure", "fields"], []))
	is_object(item.fields[name])
}

# Public rules: a legal person's code and public facts stay; a name is masked; anything else that
# could name a person is suppressed, whatever the recipient-facing default.
_public_operator("public", _) := "none"

_public_operator("uscc", _) := "none"

_public_operator("subject_id", _) := "mask"

_public_operator("resident_id", _) := "suppress"

# A name keeps a stricter catalog default (pseudonymize, suppress), else it is masked.
_public_operator("name", fallback) := fallback if fallback in {"pseudonymize", "suppress"}

_public_operator("name", fallback) := "mask" if not fallback in {"pseudonymize", "suppress"}

_public_operator(class, _) := "suppress" if {
	not class in {"public", "uscc", "subject_id", "resident_id", "name"}
}

_obligations := {name: {"operator": _public_operator(spec.class, object.get(spec, "desensitize", "none")), "class": spec.class} |
	some name in fields
	spec := item.fields[name]
}

_source := data.gateway.lib.as_object(object.get(item, "source", null))

_column(key) if data.gateway.lib.text(object.get(_source, key, null))

# METADATA
# title: Repaired records are not disclosed
# custom:
#   kind: exclude_repaired
#   clause: "(11)"
_exclude_repaired := {"kind": "exclude_repaired"}

# METADATA
# title: Entries removed from a list are not disclosed
# custom:
#   kind: exclude_removed
#   clause: "(8)"
_exclude_removed := {"kind": "exclude_removed"}

# METADATA
# title: Records past the disclosure period are not disclosed
# custom:
#   kind: within_disclosure_period
#   clause: "(4)"
_within_period := {"kind": "within_disclosure_period"}

# METADATA
# title: Records without an accepted basis document are not disclosed
# custom:
#   kind: basis_document_accepted
#   clause: "(2)"
_basis_accepted := {"kind": "basis_document_accepted"}

_accepted_types := sort([t | some t in data.gateway.lib.as_array(object.get(item, "basis_documents", []))])

_filters := array.concat(
	array.concat(
		[_exclude_repaired | _column("repaired_column")],
		[_exclude_removed | _column("removed_column")],
	),
	array.concat(
		[object.union(_within_period, {"years": years}) |
			_column("decided_column")
			years := object.get(item, ["disclosure", "period_years"], null)
			is_number(years)
		],
		[object.union(_basis_accepted, {"types": _accepted_types}) |
			is_string(object.get(item, ["conduct", "basis_document_column"], null))
		],
	),
)

# METADATA
# title: The item is in the catalog
# custom:
#   code: item_not_in_catalog
#   clause: "(1)"
deny contains {
	"code": "item_not_in_catalog",
	"clause": "(1)",
	"message": "the item is not in the catalog",
	"field": "item",
} if {
	not item
}

# METADATA
# title: The catalog marks the item public, with the fields it discloses
# custom:
#   code: item_not_public
#   clause: "(4)"
deny contains {
	"code": "item_not_public",
	"clause": "(4)",
	"message": "the catalog does not mark this item for public disclosure",
	"field": "item",
} if {
	item
	object.get(item, ["disclosure", "public"], false) != true
}

# METADATA
# title: The catalog lists the fields a public item discloses
# custom:
#   code: item_not_public
#   clause: "(4)"
deny contains {
	"code": "item_not_public",
	"clause": "(4)",
	"message": "the catalog does not mark this item for public disclosure",
	"field": "item",
} if {
	item
	count(fields) == 0
}

# METADATA
# title: Only records of legal persons are disclosed here
# custom:
#   code: disclosure_personal_information
#   clause: "(4)"
deny contains {
	"code": "disclosure_personal_information",
	"clause": "(4)",
	"message": "personal information is not disclosed to the public here; only records of legal persons are",
	"field": "subject",
} if {
	object.get(input, ["subject", "kind"], null) != "legal_person"
}

# METADATA
# title: The subject kind is one the item covers
# custom:
#   code: subject_kind_not_covered
#   clause: "(4)"
deny contains {
	"code": "subject_kind_not_covered",
	"clause": "(4)",
	"message": "the item does not cover this kind of subject",
	"field": "subject",
} if {
	item
	not object.get(input, ["subject", "kind"], null) in data.gateway.lib.as_array(object.get(item, "subject_kinds", []))
}

# METADATA
# title: The request was built against the catalog this policy sees
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

# METADATA
# title: The disclosure decision
# entrypoint: true
# custom:
#   code: public_disclosure
#   clause: "(4)"
decision := {
	"allow": true,
	"reasons": [{
		"code": "public_disclosure",
		"clause": "(4)",
		"message": "disclosed as the catalog marks it public, within its disclosure period, desensitized by the public rules",
		"item": input.item,
	}],
	"items": {input.item: {"fields": sort([name | some name in fields]), "obligations": _obligations, "row_filters": _filters}},
} if {
	count(deny) == 0
	count(_obligations) == count(fields)
} else := {"allow": false, "reasons": [reason | some reason in deny], "items": {}}
