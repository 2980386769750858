# METADATA
# title: Prudence
# description: |
#   Clause (16): the untrustworthy conduct of minors, conduct caused by force majeure and conduct that
#   was unintentional and minor are recognized, recorded and punished with tolerance and prudence.
#   No disciplinary measure is applied to a subject whose records include such conduct; the shared
#   data of such records gets the stricter obligations (gateway.obligations reads `stricter`).
#
#   The facts come from the gateway, worked out from the records before the decision: whether the
#   subject was under 18 at the time of the conduct (the record's conduct date against the birth date
#   in the resident ID, never the age on the query day), and the records' force-majeure and
#   unintentional-minor flags. A fact that is missing counts as present: a measure is refused rather
#   than applied on facts nobody established.
# custom:
#   code: prudence
#   clause: "(16)"
package gateway.prudence

_flag(subject, name) if object.get(subject, name, true) != false

_minor_at_conduct(subject) if {
	subject.kind == "natural_person"
	_flag(subject, "minor_at_conduct")
}

_minor_at_conduct(subject) if {
	subject.kind == "natural_person"
	_flag(subject, "minor")
}

# METADATA
# title: No measure against conduct of a minor
# custom:
#   code: measure_against_minor
#   clause: "(16)"
deny contains {
	"code": "measure_against_minor",
	"clause": "(16)",
	"message": "no disciplinary measure against conduct of a subject who was under 18 at the time",
	"field": "measure",
} if {
	data.gateway.request.applies_measure
	some subject in data.gateway.request.subjects
	_minor_at_conduct(subject)
}

# METADATA
# title: No measure against conduct caused by force majeure
# custom:
#   code: measure_against_force_majeure
#   clause: "(16)"
deny contains {
	"code": "measure_against_force_majeure",
	"clause": "(16)",
	"message": "no disciplinary measure against conduct caused by force majeure",
	"field": "measure",
} if {
	data.gateway.request.applies_measure
	some subject in data.gateway.request.subjects
	_flag(subject, "force_majeure")
}

# METADATA
# title: No measure against unintentional and minor conduct
# custom:
#   code: measure_against_unintentional_minor
#   clause: "(16)"
deny contains {
	"code": "measure_against_unintentional_minor",
	"clause": "(16)",
	"message": "no disciplinary measure against conduct that was unintentional and minor",
	"field": "measure",
} if {
	data.gateway.request.applies_measure
	some subject in data.gateway.request.subjects
	_flag(subject, "unintentional_minor")
}

# Established flags only: the stricter obligations are not imposed on a missing fact, so an input
# without them (an older caller) is desensitized as before.
_prudent_subject(subject) if subject.minor_at_conduct == true

_prudent_subject(subject) if subject.force_majeure == true

_prudent_subject(subject) if subject.unintentional_minor == true

# METADATA
# title: Some record calls for the stricter obligations
# description: A minor subject today, or a subject with a record of conduct handled with prudence.
stricter if data.gateway.request.minor_subject

stricter if {
	some subject in data.gateway.request.subjects
	_prudent_subject(subject)
}

# METADATA
# title: Records handled with prudence are shared under the stricter obligations
# custom:
#   code: conduct_prudence
#   clause: "(16)"
info contains {
	"code": "conduct_prudence",
	"clause": "(16)",
	"message": "a record concerns conduct of a minor, force majeure or unintentional minor conduct: personal fields are suppressed",
	"item": id,
} if {
	some subject in data.gateway.request.subjects
	_prudent_subject(subject)
	some id in data.gateway.request.known_ids
}
