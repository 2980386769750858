# METADATA
# title: Tests for gateway.measures
# custom:
#   code: measures
#   clause: "(9)"
package gateway.measures_test

import data.gateway.fixtures_test as fixtures
import data.gateway.measures

_measure_request(measure) := {
	"purpose": "disciplinary_measure",
	"requester": {"client_id": "client-1", "department": "procurement"},
	"items": [{"id": "court.dishonest_debtor", "fields": null}],
	"measure": measure,
}

_refusals(changes) := refusals if {
	refusals := measures.deny with input as fixtures.request(changes) with data.catalog as fixtures.catalog
}

_refused(changes, code) if {
	some reason in _refusals(changes)
	reason.code == code
	reason.field == "measure"
}

test_listed_measure_is_accepted if {
	count(_refusals(_measure_request("restrict_procurement"))) == 0
}

test_local_listed_measure_is_accepted if {
	count(_refusals(_measure_request("local_restriction"))) == 0
}

test_missing_measure_is_refused if {
	_refused(_measure_request(null), "measure_required")
}

test_unlisted_measure_is_refused if {
	_refused(_measure_request("public_shaming"), "measure_not_listed")
}

test_empty_measure_is_refused if {
	_refused(_measure_request(""), "measure_not_listed")
}

test_no_measure_with_other_purpose_is_accepted if {
	count(_refusals({})) == 0
}

test_measure_with_other_purpose_is_refused if {
	_refused({"measure": "restrict_procurement"}, "measure_not_applicable")
}

test_applied_measure_is_reported if {
	information := measures.info with input as fixtures.request(_measure_request("restrict_procurement"))
		with data.catalog as fixtures.catalog
	some reason in information
	reason.code == "measure_listed"
}

test_no_measure_is_reported_without_one if {
	information := measures.info with input as fixtures.base with data.catalog as fixtures.catalog
	count(information) == 0
}
