# METADATA
# title: Field minimality
# description: |
#   A query may ask only for fields the catalog defines for the item (clause (4): what is shared is
#   fixed when the catalog is compiled) and, of those, only the ones the catalog says the stated
#   purpose needs (clause (14): lawful, necessary, minimal). An item with no purpose_fields entry
#   for the purpose cannot be read for that purpose at all.
# custom:
#   code: fields
#   clause: "(14)"
package gateway.fields

# METADATA
# title: The fields the stated purpose needs, per known item
needed := data.gateway.request.needed

# METADATA
# title: The catalog names the fields this purpose needs from the item
# description: |
#   Not repeated when the purpose is unknown or already outside a conditional share scope.
# custom:
#   code: purpose_not_allowed
#   clause: "(14)"
deny contains {
	"code": "purpose_not_allowed",
	"clause": "(14)",
	"message": "the catalog names no field of this item that the purpose needs",
	"item": id,
} if {
	data.gateway.request.purpose_known
	need := data.gateway.request.needed
	outside := data.gateway.share_scope.purpose_outside_scope
	some id in data.gateway.request.known_ids
	not id in outside
	object.get(need, id, set()) == set()
}

# METADATA
# title: Every requested field is defined for the item
# custom:
#   code: field_unknown
#   clause: "(4)"
deny contains {
	"code": "field_unknown",
	"clause": "(4)",
	"message": "the catalog does not define this field for the item",
	"item": id,
	"field": name,
} if {
	items := data.gateway.request.items
	some id, names in data.gateway.request.fields
	some name in names - _names(object.get(items[id], "fields", {}))
}

# METADATA
# title: Every requested field is one the purpose needs
# custom:
#   code: field_not_needed
#   clause: "(14)"
deny contains {
	"code": "field_not_needed",
	"clause": "(14)",
	"message": "the catalog does not list this field among those the purpose needs from the item",
	"item": id,
	"field": name,
} if {
	items := data.gateway.request.items
	needs := data.gateway.request.needed
	some id, names in data.gateway.request.fields
	need := needs[id]
	count(need) > 0
	some name in (names & _names(object.get(items[id], "fields", {}))) - need
}

# The field names an item defines. Set operations rather than one `not` per requested field: each
# negation costs a few microseconds in regorus.
_names(defined) := {name | some name, spec in defined; spec != false} if is_object(defined)

_names(defined) := set() if not is_object(defined)
