"""Telling people: the channels (signed webhook, Slack, email), the delivery worker that sends
the outbox's rows through them, and the admin views of what was sent.

The worker runs as ``flask --app incident_api notifications worker``; the outbox itself is
``warehouse.notifications``.
"""
