# METADATA
# title: Query decision
# description: |
#   The entrypoint the gateway evaluates for every query: data.gateway.query.decision. It collects
#   the refusals of every concern package; with none, it allows and lists, per item, the fields to
#   read, the desensitization obligation of each field and the row filters. Anything incomplete
#   (an item whose fields or obligations could not be worked out) is a refusal, never an allow.
#
#   Every reason is an object literal with a stable code, a constant message (no personal value,
#   and no builtin call that could fail and silently drop the reason), the clause of the 2020
#   Guiding Opinions the rule implements, and the item and request field where they apply.
#
#   Packages refer to each other's rules by their full data.gateway... path, and only as values. In
#   regorus 0.13 a reference through a package import evaluates the whole imported package (about
#   three times slower per reference), and a function called through an import can resolve against
#   the wrong module when the caller was itself reached through an import (regorus #747, #770).
# custom:
#   code: query
#   clause: "(13)"
package gateway.query

# METADATA
# title: Every refusal reason, from every concern
deny contains reason if some reason in data.gateway.request.deny

deny contains reason if some reason in data.gateway.items.deny

deny contains reason if some reason in data.gateway.share_scope.deny

deny contains reason if some reason in data.gateway.fields.deny

deny contains reason if some reason in data.gateway.measures.deny

deny contains reason if some reason in data.gateway.privacy.deny

# METADATA
# title: Every informational reason of an allowed query
info contains reason if some reason in data.gateway.measures.info

info contains reason if some reason in data.gateway.privacy.info

info contains reason if some reason in data.gateway.obligations.info

# METADATA
# title: What may be read and released, per requested item
# description: |
#   The requested fields (narrowed to a grant's field limits when the item is released on the
#   grant's account), each with its obligation, and the item's row filters.
released[id] := entry if {
	limits := data.gateway.privacy.field_limits
	obligations := data.gateway.obligations.for_item
	filters := data.gateway.row_filters.for_item
	some id, requested in data.gateway.request.fields
	names := requested & object.get(limits, id, requested)
	entry := {
		"fields": sort([name | some name in names]),
		"obligations": object.filter(obligations[id], names),
		"row_filters": filters[id],
	}
}

# METADATA
# title: The query is allowed
# description: No refusal, and every requested item fully worked out.
allow if {
	count(deny) == 0
	items := released
	every id in data.gateway.request.requested_ids {
		entry := items[id]
		count(entry.fields) > 0
		count(entry.obligations) == count(entry.fields)
	}
}

# METADATA
# title: A refusal with no reason of its own
# custom:
#   code: policy_incomplete
#   clause: "(13)"
_incomplete := {
	"code": "policy_incomplete",
	"clause": "(13)",
	"message": "the policy could not work out the fields, obligations or row filters of every requested item",
}

_refusals := deny if count(deny) > 0

_refusals := {_incomplete} if count(deny) == 0

# Most fundamental first, so the first reason says what to fix first.
_rank := {
	"request_incomplete": 0,
	"catalog_revision_mismatch": 1,
	"item_not_in_catalog": 2,
	"purpose_unknown": 3,
	"item_not_shared": 4,
	"requester_out_of_scope": 5,
	"purpose_not_allowed": 6,
	"subject_kind_not_covered": 7,
	"field_unknown": 8,
	"field_not_needed": 9,
	"measure_required": 10,
	"measure_not_listed": 11,
	"measure_not_applicable": 12,
	"personal_information_needs_duty_or_grant": 13,
	"policy_incomplete": 14,
}

_ordered(reason_set) := [entry[5] | some entry in sort([key |
	some reason in reason_set
	key := [
		object.get(_rank, reason.code, 99),
		object.get(reason, "item", ""),
		object.get(reason, "field", ""),
		reason.code,
		reason.clause,
		reason,
	]
])]

# METADATA
# title: The decision document
# description: |
#   {"allow": bool, "reasons": [...], "items": {...}} as described in gateway/domain/decision.py.
#   Refused: reasons are the refusals, most fundamental first, and items is empty. Allowed: reasons
#   are informational (statutory duty or grant, minors, the measure applied).
# entrypoint: true
# custom:
#   clause: "(13)"
decision := {"allow": true, "reasons": _ordered(info), "items": released} if {
	allow
} else := {"allow": false, "reasons": _ordered(_refusals), "items": {}}
