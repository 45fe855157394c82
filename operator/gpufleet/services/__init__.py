"""Services: the operator's use cases, between thin kopf handlers and the API facade."""
