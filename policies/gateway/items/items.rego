# METADATA
# title: Catalog management
# description: |
#   Only information listed in the published catalog may be shared, and only about the kinds of
#   subject the catalog lists for the item (clause (1)).
# custom:
#   code: items
#   clause: "(1)"
package gateway.items

# METADATA
# title: Every requested item is in the catalog
# custom:
#   code: item_not_in_catalog
#   clause: "(1)"
deny contains {
	"code": "item_not_in_catalog",
	"clause": "(1)",
	"message": "the item is not in the national or local public credit information catalog",
	"item": id,
} if {
	some id in data.gateway.request.unknown_ids
}

# METADATA
# title: The item covers the kind of every subject
# custom:
#   code: subject_kind_not_covered
#   clause: "(1)"
deny contains {
	"code": "subject_kind_not_covered",
	"clause": "(1)",
	"message": "the catalog does not list this kind of subject for the item",
	"item": id,
	"field": "subjects",
} if {
	kinds := data.gateway.request.subject_kinds
	some id, item in data.gateway.request.items
	listed := data.gateway.lib.as_array(object.get(item, "subject_kinds", []))
	some kind in kinds
	not kind in listed
}
