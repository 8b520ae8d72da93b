"""Notifications: one persisted inbox per controller, delivered live over a
server-streaming Watch and resumable from a cursor (the notification id).
Carries sub-processor change notices (Art. 28(2)) and breach notices
(Art. 33(2))."""
