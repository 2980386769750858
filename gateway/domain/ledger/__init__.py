"""The ledger's records and their encoding, one module per concept.

``records``      one frozen dataclass per entry kind, each rendering its canonical dict
``envelope``     canonical JSON, the leaf bytes, decoding a leaf, ledger times
``terms``        what the store indexes of a record, and what auditors filter by
``export``       the JSON Lines export lines
``commitments``  the subject commitment and the response digest
``guard``        the identifier guard every record passes
"""
