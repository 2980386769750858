# METADATA
# title: Listing procedure
# description: |
#   Whether one step of the procedure that puts a subject on a seriously-untrustworthy list, or takes
#   it off, may be taken now (clauses (6)-(10)). The input names the step, the list, the requesting
#   department, the time and the entry as stored (never as claimed):
#
#     {"step": "propose" | "notify" | "object" | "verify" | "decide" | "remove",
#      "list": <list id>, "requester": {"department": ...}, "now": <RFC 3339>,
#      "basis_document": {"type": ...},                    # propose
#      "measures": [<measure code>, ...],                  # decide
#      "entry": null | {"status", "notified_at", "objection_at", "objection_verified"}}
#
#   The verdict is {"allow": bool, "reasons": [...]}, allowed exactly when there is no reason.
# custom:
#   code: listing
#   clause: "(8)"
package gateway.listing

_lists := [entry | some catalog in data.catalog; entry := catalog.lists[input.list]]

# METADATA
# title: The catalog entry of the list
list := _lists[0] if {
	count(_lists) > 0
	every entry in _lists {
		entry == _lists[0]
	}
}

_entry := data.gateway.lib.as_object(object.get(input, "entry", null))

_status := object.get(_entry, "status", null)

_now := data.gateway.lib.instant(input.now)

_days(key) := object.get(list, key, 0) if is_number(object.get(list, key, 0))

# The instant `days` after the stored time `key` of the entry.
_after(key, days) := time.add_date(data.gateway.lib.instant(_entry[key]), 0, 0, days)

# The status each step starts from.
_from := {
	"notify": "proposed",
	"object": "notified",
	"verify": "notified",
	"decide": "notified",
	"remove": "listed",
}

_steps := {"propose", "notify", "object", "verify", "decide", "remove"}

# METADATA
# title: The list is one the catalog establishes
# custom:
#   code: list_unknown
#   clause: "(6)"
deny contains {
	"code": "list_unknown",
	"clause": "(6)",
	"message": "the list is not one the catalog establishes in a field the law allows",
	"field": "list",
} if {
	not list
}

# METADATA
# title: The step is one of the procedure's and the time is known
# custom:
#   code: listing_step_unknown
#   clause: "(8)"
deny contains {
	"code": "listing_step_unknown",
	"clause": "(8)",
	"message": "the step must be one of the listing procedure's, at a known time",
	"field": "step",
} if {
	not object.get(input, "step", null) in _steps
}

# METADATA
# title: The same refusal, another case
# custom:
#   code: listing_step_unknown
#   clause: "(8)"
deny contains {
	"code": "listing_step_unknown",
	"clause": "(8)",
	"message": "the step must be one of the listing procedure's, at a known time",
	"field": "now",
} if {
	not _now
}

# METADATA
# title: The requesting department is the one the list names
# custom:
#   code: listing_department_not_competent
#   clause: "(8)"
deny contains {
	"code": "listing_department_not_competent",
	"clause": "(8)",
	"message": "only the department the list names identifies subjects for it",
	"field": "list",
} if {
	list
	object.get(input, ["requester", "department"], null) != list.department
}

# METADATA
# title: A listing rests on a legally effective document the list accepts
# custom:
#   code: basis_document_not_accepted
#   clause: "(2)"
deny contains {
	"code": "basis_document_not_accepted",
	"clause": "(2)",
	"message": "the basis document is not of a legally effective type the list accepts",
	"field": "basis_document.type",
} if {
	input.step == "propose"
	list
	not object.get(input, ["basis_document", "type"], null) in data.gateway.lib.as_array(object.get(list, "basis_documents", []))
}

# METADATA
# title: Each step follows the one before it
# custom:
#   code: listing_step_out_of_order
#   clause: "(8)"
deny contains {
	"code": "listing_step_out_of_order",
	"clause": "(8)",
	"message": "this step does not follow from the entry's current state",
	"field": "step",
} if {
	input.step == "propose"
	_status != null
}

# METADATA
# title: The same refusal, another case
# custom:
#   code: listing_step_out_of_order
#   clause: "(8)"
deny contains {
	"code": "listing_step_out_of_order",
	"clause": "(8)",
	"message": "this step does not follow from the entry's current state",
	"field": "step",
} if {
	some step, status in _from
	input.step == step
	_status != status
}

# METADATA
# title: The same refusal, another case
# custom:
#   code: listing_step_out_of_order
#   clause: "(8)"
deny contains {
	"code": "listing_step_out_of_order",
	"clause": "(8)",
	"message": "this step does not follow from the entry's current state",
	"field": "step",
} if {
	input.step == "object"
	object.get(_entry, "objection_at", null) != null
}

# METADATA
# title: The same refusal, another case
# custom:
#   code: listing_step_out_of_order
#   clause: "(8)"
deny contains {
	"code": "listing_step_out_of_order",
	"clause": "(8)",
	"message": "this step does not follow from the entry's current state",
	"field": "step",
} if {
	input.step == "verify"
	object.get(_entry, "objection_at", null) == null
}

# METADATA
# title: The same refusal, another case
# custom:
#   code: listing_step_out_of_order
#   clause: "(8)"
deny contains {
	"code": "listing_step_out_of_order",
	"clause": "(8)",
	"message": "this step does not follow from the entry's current state",
	"field": "step",
} if {
	input.step == "verify"
	object.get(_entry, "objection_verified", false) != false
}

# METADATA
# title: An objection is raised within the list's time limit after the notice
# custom:
#   code: objection_late
#   clause: "(8)"
deny contains {
	"code": "objection_late",
	"clause": "(8)",
	"message": "the objection comes after the time limit the list gives the party",
	"field": "step",
} if {
	input.step == "object"
	_status == "notified"
	_now > _after("notified_at", _days("objection_days"))
}

# METADATA
# title: An objection is verified within the list's time limit
# custom:
#   code: verification_late
#   clause: "(8)"
deny contains {
	"code": "verification_late",
	"clause": "(8)",
	"message": "the objection was not verified within the time limit the list sets; the subject may not be listed on this proposal",
	"field": "step",
} if {
	input.step == "verify"
	object.get(_entry, "objection_at", null) != null
	_now > _after("objection_at", _days("verification_days"))
}

# METADATA
# title: No decision before the notice period has run
# custom:
#   code: listing_before_notice_period
#   clause: "(8)"
deny contains {
	"code": "listing_before_notice_period",
	"clause": "(8)",
	"message": "the party must be told the reasons and basis, and the notice period must run, before a listing decision",
	"field": "step",
} if {
	input.step == "decide"
	_status == "notified"
	_now < _after("notified_at", _days("notice_days"))
}

# METADATA
# title: No decision while an objection is unanswered
# custom:
#   code: listing_objection_unanswered
#   clause: "(8)"
deny contains {
	"code": "listing_objection_unanswered",
	"clause": "(8)",
	"message": "the party's objection must be verified and answered before a listing decision",
	"field": "step",
} if {
	input.step == "decide"
	object.get(_entry, "objection_at", null) != null
	object.get(_entry, "objection_verified", false) != true
}

_follows_list(code) if {
	some catalog in data.catalog
	input.list in data.gateway.lib.as_array(object.get(catalog.measures[code], ["follows", "lists"], []))
}

# METADATA
# title: The decision prompts only measures that are listed and follow this list
# custom:
#   code: listing_measure_not_linked
#   clause: "(9)"
deny contains {
	"code": "listing_measure_not_linked",
	"clause": "(9)",
	"message": "a decision may prompt only measures on the measures list that follow this list",
	"field": "measures",
} if {
	input.step == "decide"
	some code in data.gateway.lib.as_array(object.get(input, "measures", []))
	not _follows_list(code)
}

# METADATA
# title: The verdict on the step
# entrypoint: true
# custom:
#   clause: "(8)"
verdict := {"allow": count(deny) == 0, "reasons": [reason | some reason in deny]}
