# METADATA
# title: Desensitization obligations
# description: |
#   Every released field carries an obligation: the catalog's default operator for the field and
#   its personal-information class (clause (4): disclosed personal information is desensitized).
#   When a subject of the query is a minor, or a record concerns conduct handled with prudence
#   (clause (16), gateway.prudence.stricter), every personal
#   field of every released item is suppressed, except the subject identifier (class resident_id or
#   subject_id), which is masked so rows can still be told apart; an operator stricter than the
#   minor's default is kept. The stricter treatment applies to the whole item, not only to the
#   minor's rows, because one decision covers all the rows an item returns.
# custom:
#   code: obligations
#   clause: "(16)"
package gateway.obligations

# Strictness: how little the recipient learns. encrypt ranks low because the recipient holding the
# key reads the value in clear; pseudonymize leaves only a per-recipient token; suppress leaves nothing.
_strictness := {
	"none": 0,
	"encrypt": 1,
	"generalize": 2,
	"mask": 3,
	"pseudonymize": 4,
	"suppress": 5,
}

_subject_id_classes := {"resident_id", "subject_id"}

# METADATA
# title: The stricter of two operators
stricter(a, b) := a if _strictness[a] >= _strictness[b]

stricter(a, b) := b if _strictness[a] < _strictness[b]

_default_operator(spec) := object.get(spec, "desensitize", "none")

_operator(spec, false) := _default_operator(spec)

_operator(spec, true) := _default_operator(spec) if spec.class == "public"

_operator(spec, true) := stricter(_default_operator(spec), "mask") if spec.class in _subject_id_classes

_operator(spec, true) := "suppress" if {
	not spec.class in _subject_id_classes
	spec.class != "public"
}

# METADATA
# title: The obligation for one field, given its catalog entry and whether a minor is concerned
obligation(spec, minor) := {"operator": _operator(spec, minor), "class": spec.class} if is_string(spec.class)

# METADATA
# title: Obligations for the requested fields, per known item
# description: |
#   Without a minor (the usual case) a field's obligation is its catalog default, worked out inline:
#   each function call costs more in regorus than the lookup itself.
for_item[id] := obligations if {
	not data.gateway.prudence.stricter
	items := data.gateway.request.items
	some id, names in data.gateway.request.fields
	specs := items[id].fields
	obligations := {name: {"operator": object.get(spec, "desensitize", "none"), "class": spec.class} |
		some name in names
		spec := specs[name]
		is_string(spec.class)
	}
}

for_item[id] := {name: obligation(specs[name], true) | some name in names} if {
	data.gateway.prudence.stricter
	items := data.gateway.request.items
	some id, names in data.gateway.request.fields
	specs := items[id].fields
}

# METADATA
# title: Minors' records are handled with prudence
# custom:
#   code: minor_prudence
#   clause: "(16)"
info contains {
	"code": "minor_prudence",
	"clause": "(16)",
	"message": "a subject is a minor: personal fields are suppressed and the subject identifier is masked",
	"item": id,
} if {
	some id in data.gateway.request.known_ids
	data.gateway.request.minor_subject
}
