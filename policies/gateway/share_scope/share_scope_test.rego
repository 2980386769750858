# METADATA
# title: Tests for gateway.share_scope
# custom:
#   code: share_scope
#   clause: "(3)"
package gateway.share_scope_test

import data.gateway.fixtures_test as fixtures
import data.gateway.share_scope

_refusals(changes) := refusals if {
	refusals := share_scope.deny with input as fixtures.request(changes) with data.catalog as fixtures.catalog
}

_refused(changes, code, item) if {
	some reason in _refusals(changes)
	reason.code == code
	reason.item == item
}

_from(department) := {"requester": {"client_id": "client-1", "department": department}}

test_unconditional_item_is_shared_with_any_department if {
	changes := object.union(_from("court"), {"items": [{"id": "market.enterprise_registration", "fields": null}]})
	count(_refusals(changes)) == 0
}

test_not_shared_item_is_refused if {
	_refused({"items": [{"id": "tax.internal_audit", "fields": null}]}, "item_not_shared", "tax.internal_audit")
}

test_unknown_share_mode_is_refused if {
	bad := json.patch(fixtures.catalog, [{
		"op": "replace",
		"path": "/national/items/market.admin_penalty/share_scope/mode",
		"value": "sometimes",
	}])
	refusals := share_scope.deny with input as fixtures.base with data.catalog as bad
	some reason in refusals
	reason.code == "item_not_shared"
}

test_listed_department_is_in_scope if {
	count(_refusals(_from("procurement"))) == 0
}

test_unlisted_department_is_out_of_scope if {
	_refused(_from("court"), "requester_out_of_scope", "market.admin_penalty")
}

test_conditional_scope_without_departments_admits_nobody if {
	bad := json.remove(fixtures.catalog, [["national", "items", "market.admin_penalty", "share_scope", "departments"]])
	refusals := share_scope.deny with input as fixtures.base with data.catalog as bad
	some reason in refusals
	reason.code == "requester_out_of_scope"
}

test_listed_purpose_is_in_scope if {
	count(_refusals({"purpose": "public_procurement_review"})) == 0
}

test_unlisted_purpose_is_refused if {
	changes := {"purpose": "disciplinary_measure", "measure": "restrict_procurement"}
	_refused(changes, "purpose_not_allowed", "market.admin_penalty")
}

test_known_purpose_is_accepted if {
	every reason in _refusals({}) {
		reason.code != "purpose_unknown"
	}
}

test_unknown_purpose_is_refused if {
	some reason in _refusals({"purpose": "curiosity"})
	reason.code == "purpose_unknown"
}

test_unknown_purpose_is_not_reported_per_item if {
	every reason in _refusals({"purpose": "curiosity"}) {
		reason.code != "purpose_not_allowed"
	}
}

# A request without a department is out of every conditional scope, on OPA as on regorus.
test_missing_department_is_out_of_scope if {
	request := json.remove(fixtures.base, ["requester/department"])
	refusals := share_scope.deny with input as request with data.catalog as fixtures.catalog
	some reason in refusals
	reason.code == "requester_out_of_scope"
	reason.item == "market.admin_penalty"
}

test_requester_that_is_not_an_object_is_out_of_scope if {
	_refused({"requester": "housing"}, "requester_out_of_scope", "market.admin_penalty")
}
