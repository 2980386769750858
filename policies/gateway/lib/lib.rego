# METADATA
# title: Helpers shared by every gateway package
# description: |
#   Called by their full path (data.gateway.lib.as_array(x)), never through an import: in regorus
#   0.13 a reference through a package import evaluates the whole imported package, and a function
#   called through an import can resolve against the wrong module (see gateway.query).
package gateway.lib

# METADATA
# title: The value when it is an array, else the empty array
# description: |
#   regorus raises on `some x in v` when v is not a collection (OPA undefines the body), so input
#   lists and optional catalog lists are normalized before they are iterated.
as_array(value) := value if {
	is_array(value)
} else := []

# METADATA
# title: The value when it is an object, else the empty object
as_object(value) := value if {
	is_object(value)
} else := {}

# METADATA
# title: A non-empty string
text(value) if {
	is_string(value)
	value != ""
}

# METADATA
# title: A non-empty array
nonempty_array(value) if {
	is_array(value)
	count(value) > 0
}

# METADATA
# title: An array of strings only
strings_only(values) if {
	is_array(values)
	every value in values {
		is_string(value)
	}
}

# METADATA
# title: The shape of an RFC 3339 timestamp, as both engines parse it
rfc3339_pattern := `^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$`

# METADATA
# title: The year of an RFC 3339 timestamp
year_of(value) := to_number(substring(value, 0, 4)) if {
	is_string(value)
	regex.match(rfc3339_pattern, value)
}

# METADATA
# title: An RFC 3339 timestamp in nanoseconds since the epoch, undefined when it cannot be used
# description: |
#   Both OPA and regorus raise (not undefine) on times outside 1678-2262, so only plausible years
#   are parsed.
instant(value) := time.parse_rfc3339_ns(value) if {
	year := year_of(value)
	year >= 1971
	year < 2260
}

# METADATA
# title: Nanoseconds in a day
ns_per_day := ((24 * 60) * 60) * 1000000000
