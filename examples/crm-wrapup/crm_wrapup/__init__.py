"""Wrap-up codes to a CRM webhook: a gcevents handler package (`GCEVENTS_HANDLERS=crm_wrapup.handlers:router`)."""
