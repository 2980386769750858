# METADATA
# title: The catalog index, per-purpose and per-item plans worked out once at bundle load
# description: |
#   `built` depends on data.catalog alone, never on the input. The gateway evaluates it once when it
#   loads the policies (gateway.adapters.policy.catalog_index) and places the answer at
#   data.catalog_index, for regorus and for OPA alike; its digest is part of the policy revision.
#   gateway.query then decides the common allowed query by looking its items up there, by key,
#   instead of working every fact out again from the catalogs on each request.
#
#   Every value in it is what the query path's own rules answer for a request of that purpose and
#   item (they are evaluated here with a made-up input), so a plan says exactly what the full
#   evaluation would: the same fields, obligations, row filters and reasons. A plan exists only for
#   an item the purpose may read with nothing to refuse but the department, the subjects and the
#   fields asked for, which gateway.query checks against it.
# custom:
#   code: index
#   clause: "(1)"
package gateway.index

_catalog_ids(section) := {id |
	some doc in data.catalog
	is_object(doc)
	entries := object.get(doc, section, {})
	is_object(entries)
	some id, _ in entries
	is_string(id)
}

_item_ids := _catalog_ids("items")

_purpose_codes := _catalog_ids("purposes")

# Every item of every catalog, asked for with fields null.
_entries := [{"id": id, "fields": null} | some id in _item_ids]

_items := items if {
	items := data.gateway.request.items with input as {"items": _entries}
}

_sharing_modes := {"unconditional", "conditional"}

# The fields an item defines (as gateway.fields counts them).
_defined(item) := {name | some name, spec in item.fields; spec != false} if is_object(item.fields)

_defined(item) := set() if not is_object(item.fields)

# Every subset of a (small) set of subject kinds.
_subsets(kinds) := {subset |
	some n in numbers.range(0, bits.lsh(1, count(kinds)) - 1)
	ordered := sort(kinds)
	subset := {kind | some i, kind in ordered; bits.and(n, bits.lsh(1, i)) != 0}
}

# A subject kind, not a reason or row filter (bound here so the metadata check does not take it for one).
_natural_person := "natural_person"

# What one purpose's plans are made of: the answers of the query path's rules for every item.
_facts(code) := {
	"needed": needed,
	"outside": outside,
	"obligations": obligations,
	"minor_obligations": minor_obligations,
	"row_filters": row_filters,
	"statutory_info": statutory_info,
	"minor_info": minor_info,
} if {
	request := {"purpose": code, "items": _entries, "subjects": []}
	adult_request := object.union(request, {"subjects": [{"kind": _natural_person, "minor": false}]})
	minor_request := object.union(request, {"subjects": [{"kind": _natural_person, "minor": true}]})
	needed := data.gateway.request.needed with input as request
	outside := data.gateway.share_scope.purpose_outside_scope with input as request
	obligations := data.gateway.obligations.for_item with input as request
	minor_obligations := data.gateway.obligations.for_item with input as minor_request
	row_filters := data.gateway.row_filters.for_item with input as request
	statutory_info := data.gateway.privacy.info with input as adult_request
	minor_info := data.gateway.obligations.info with input as minor_request
}

_plan(facts, id, item) := {
	"departments": {department: true |
		scope.mode == "conditional"
		some department in data.gateway.lib.as_array(object.get(scope, "departments", []))
		is_string(department)
	},
	"any_department": scope.mode == "unconditional",
	"kind_sets": {concat(",", kinds): true |
		some kinds in _subsets({kind |
			some kind in data.gateway.lib.as_array(object.get(item, "subject_kinds", []))
			is_string(kind)
		})
		count(kinds) > 0
	},
	"needed": {name: true | some name in needed; name != ""},
	"entry": {"fields": fields, "obligations": obligations, "row_filters": row_filters},
	"minor_entry": {"fields": fields, "obligations": facts.minor_obligations[id], "row_filters": row_filters},
	"obligations": obligations,
	"minor_obligations": facts.minor_obligations[id],
	"statutory_info": [reason | some reason in facts.statutory_info; reason.item == id],
	"minor_info": [reason | some reason in facts.minor_info; reason.item == id],
} if {
	scope := object.get(item, "share_scope", {})
	scope.mode in _sharing_modes
	not id in facts.outside
	needed := facts.needed[id]
	count(needed) > 0
	count(needed - _defined(item)) == 0
	obligations := facts.obligations[id]
	count(obligations) == count(needed)
	count(facts.minor_obligations[id]) == count(needed)
	row_filters := facts.row_filters[id]
	fields := sort([name | some name in needed])
}

# METADATA
# title: The index, as the gateway stores it at data.catalog_index
# description: |
#   catalog_revision: the revision of the catalogs it was built from (an index built from other
#   catalogs is never used); purposes: each known purpose's catalog entry; plans[purpose][item]:
#   the departments admitted (any_department for an unconditional scope), the subject kinds, the
#   fields the purpose needs, the released entry with fields null (for adults and for minors), the
#   obligation of every needed field, and the informational reasons (statutory duty, minors).
# entrypoint: true
built := {
	"catalog_revision": data.gateway.catalog.revision,
	"purposes": purposes,
	"plans": {code: plans |
		some code, _ in purposes
		facts := _facts(code)
		plans := {id: plan | some id, item in _items; plan := _plan(facts, id, item)}
	},
} if {
	data.gateway.catalog.consistent
	purposes := {code: purpose |
		some code in _purpose_codes
		purpose := data.gateway.request.purpose with input as {"purpose": code}
	}
}
