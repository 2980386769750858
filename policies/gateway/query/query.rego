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
#
#   The first body decides the common allowed query from the catalog index (gateway.index, at
#   data.catalog_index) by key: a well-formed request whose every item has a plan for the purpose
#   that admits the department, the subjects' kinds and the fields asked for, and that needs no
#   grant. It gives exactly the document the full evaluation below gives for such a request (the
#   plans are that evaluation's own answers); whatever it does not cover, a refusal in particular,
#   falls through to the full evaluation, which alone gives reasons for refusing. Each rule
#   evaluated costs about 3.5 us in regorus, so the common case is worked out in this one body.
# entrypoint: true
# custom:
#   clause: "(13)"
decision := {"allow": true, "reasons": _ordered(reasons), "items": object.union(implicit, explicit)} if {
	# Bound once: each reference to data costs a few microseconds in regorus, a local almost nothing.
	index := data.catalog_index
	input.catalog_revision == index.catalog_revision
	department := input.requester.department
	is_string(department)
	department != ""
	is_string(input.legal_basis)
	input.legal_basis != ""
	purpose := index.purposes[input.purpose]
	plans := index.plans[input.purpose]

	# A decision time that data.gateway.request.now_ns parses, in the gateway's own form (UTC,
	# seconds or microseconds), checked without the regular expression (its cost is 10 us).
	now := input.now
	is_string(now)
	strings.replace_n(
		{"1": "0", "2": "0", "3": "0", "4": "0", "5": "0", "6": "0", "7": "0", "8": "0", "9": "0"},
		now,
	) in {"0000-00-00T00:00:00Z", "0000-00-00T00:00:00.000000Z"}
	year := to_number(substring(now, 0, 4))
	year >= 1971
	year < 2260
	time.parse_rfc3339_ns(now)

	# Subjects, each with a kind; no grant needed (no personal subject, or a statutory duty).
	subjects := input.subjects
	is_array(subjects)
	count(subjects) > 0
	kinds := {subject.kind | some subject in subjects; is_object(subject); is_string(subject.kind)}
	count([true | some subject in subjects; is_object(subject); is_string(subject.kind)]) == count(subjects)
	personal := count(kinds & {"natural_person", "individual_business"}) > 0
	[personal, purpose.statutory_duty == true] != [true, false]
	minor := count([true |
		some subject in subjects
		subject.kind == "natural_person"
		object.get(subject, "minor", true) != false
	]) > 0

	# A record of conduct handled with prudence (clause (16), gateway.prudence) takes the full
	# evaluation below: its obligations are the stricter ones, which the plans do not hold.
	count([subject |
		some subject in subjects
		true in {
			object.get(subject, "minor_at_conduct", false),
			object.get(subject, "force_majeure", false),
			object.get(subject, "unintentional_minor", false),
		}
	]) == 0

	# Items, each named once and with a plan admitting the department and the subjects' kinds.
	entries := input.items
	is_array(entries)
	count(entries) > 0
	ids := {entry.id | some entry in entries; is_object(entry)}
	count(ids) == count(entries)
	kind_set := concat(",", kinds)
	count([true |
		some entry in entries
		plan := plans[entry.id]
		object.get(plan.departments, department, plan.any_department) == true
		object.get(plan.kind_sets, kind_set, false) == true
	]) == count(entries)

	# Fields named explicitly: a non-empty list, each one the purpose needs.
	named := [entry | some entry in entries; entry.fields != null]
	count([entry |
		some entry in named
		is_array(entry.fields)
		count(entry.fields) > 0
		needed := plans[entry.id].needed
		count([name | some name in entry.fields; object.get(needed, name, false) != true]) == 0
	]) == count(named)

	count(data.gateway.measures.deny) == 0

	# (object.get rather than plan[key]: a reference with a variable key costs ~9 us in regorus.)
	entry_key := object.get({"false": "entry", "true": "minor_entry"}, sprintf("%v", [minor]), null)
	obligations_key := object.get({"false": "obligations", "true": "minor_obligations"}, sprintf("%v", [minor]), null)
	implicit := {entry.id: object.get(plans[entry.id], entry_key, null) |
		some entry in entries
		object.get(entry, "fields", null) == null
	}
	explicit := {entry.id: {
		"fields": sort(names),
		"obligations": object.filter(object.get(plan, obligations_key, {}), names),
		"row_filters": plan.entry.row_filters,
	} |
		some entry in named
		plan := plans[entry.id]
		names := {name | some name in entry.fields}
	}
	reasons := (data.gateway.measures.info | {reason |
		personal
		some entry in entries
		some reason in plans[entry.id].statutory_info
	}) | {reason |
		minor
		some entry in entries
		some reason in plans[entry.id].minor_info
	}
} else := {"allow": true, "reasons": _ordered(info), "items": released} if {
	allow
} else := {"allow": false, "reasons": _ordered(_refusals), "items": {}}
