# METADATA
# title: Tests for gateway.catalog
# custom:
#   code: catalog
#   clause: "(1)"
package gateway.catalog_test

import data.gateway.catalog
import data.gateway.fixtures_test as fixtures

test_national_item_is_listed if {
	items := catalog.items with data.catalog as fixtures.catalog
	items["market.admin_penalty"].name == "Administrative penalty"
}

test_local_item_is_added if {
	items := catalog.items with data.catalog as fixtures.catalog
	items["local.court.consumption_restriction"].name == "Consumption restriction"
}

test_item_in_no_catalog_is_not_listed if {
	items := catalog.items with data.catalog as fixtures.catalog
	not items["market.unknown"]
}

test_national_item_cannot_be_overridden if {
	items := catalog.items with data.catalog as fixtures.catalog
	items["market.enterprise_registration"] == fixtures.national.items["market.enterprise_registration"]
}

test_local_item_is_used_without_national_catalog if {
	items := catalog.items with data.catalog as {"local_test": fixtures.local}
	items["market.enterprise_registration"].name == "Local override attempt"
}

test_national_purpose_cannot_be_overridden if {
	purposes := catalog.purposes with data.catalog as fixtures.catalog
	purposes.admin_licensing_review == fixtures.national.purposes.admin_licensing_review
}

test_local_purpose_is_added if {
	purposes := catalog.purposes with data.catalog as fixtures.catalog
	purposes.local_review.statutory_duty == true
}

test_local_measure_is_added if {
	measures := catalog.measures with data.catalog as fixtures.catalog
	measures.local_restriction.name == "Local restriction"
}

test_unlisted_measure_is_absent if {
	measures := catalog.measures with data.catalog as fixtures.catalog
	not measures.public_shaming
}

test_revision_names_every_catalog_by_name if {
	revision := catalog.revision with data.catalog as fixtures.catalog
	revision == "local_test@l-1;national@n-1"
}

test_revision_follows_a_catalog_change if {
	changed := object.union(fixtures.catalog, {"national": {"revision": "n-2"}})
	revision := catalog.revision with data.catalog as changed
	revision == "local_test@l-1;national@n-2"
}
