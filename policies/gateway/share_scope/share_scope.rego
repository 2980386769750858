# METADATA
# title: Sharing scope
# description: |
#   Whether and how far an item is shared is fixed in the catalog (clause (3)): not_shared items
#   never leave; conditional items go only to the listed departments for the listed purposes;
#   unconditional items go to any department for any purpose the catalog knows. A conditional
#   scope must list both departments and purposes: a missing list admits nobody.
# custom:
#   code: share_scope
#   clause: "(3)"
package gateway.share_scope

_sharing_modes := {"unconditional", "conditional"}

# Each known item's share scope, looked up once.
_scopes[id] := object.get(item, "share_scope", {}) if some id, item in data.gateway.request.items

_conditional contains id if {
	some id, scope in _scopes
	scope.mode == "conditional"
}

# METADATA
# title: Known items whose purpose lies outside their conditional share scope
purpose_outside_scope contains id if {
	data.gateway.request.purpose_known
	scopes := _scopes
	some id in _conditional
	not input.purpose in data.gateway.lib.as_array(object.get(scopes[id], "purposes", []))
}

# METADATA
# title: The purpose is one the catalog defines
# custom:
#   code: purpose_unknown
#   clause: "(3)"
deny contains {
	"code": "purpose_unknown",
	"clause": "(3)",
	"message": "the purpose is not defined in the catalog",
	"field": "purpose",
} if {
	not data.gateway.request.purpose_known
}

# METADATA
# title: The item is shared at all
# custom:
#   code: item_not_shared
#   clause: "(3)"
deny contains {
	"code": "item_not_shared",
	"clause": "(3)",
	"message": "the catalog does not share this item",
	"item": id,
} if {
	some id, scope in _scopes
	not scope.mode in _sharing_modes
}

# METADATA
# title: The requesting department is within a conditional item's share scope
# custom:
#   code: requester_out_of_scope
#   clause: "(3)"
deny contains {
	"code": "requester_out_of_scope",
	"clause": "(3)",
	"message": "the requesting department is not within the item's share scope",
	"item": id,
} if {
	# object.get: with no department, `not input.requester.department in ...` would refuse on regorus
	# and not on OPA (which fails the body when the reference is undefined).
	department := object.get(input, ["requester", "department"], null)
	scopes := _scopes
	some id in _conditional
	not department in data.gateway.lib.as_array(object.get(scopes[id], "departments", []))
}

# METADATA
# title: The purpose is within a conditional item's share scope
# custom:
#   code: purpose_not_allowed
#   clause: "(3)"
deny contains {
	"code": "purpose_not_allowed",
	"clause": "(3)",
	"message": "the purpose is not within the item's share scope",
	"item": id,
} if {
	some id in purpose_outside_scope
}
