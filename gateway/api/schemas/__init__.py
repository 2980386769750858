"""Wire models: what the API accepts (``...Request``) and answers (``...Response``), one module per concept.

The routes parse requests into domain values and render the services' domain results with the
functions beside each model; the services never see these classes.
"""
