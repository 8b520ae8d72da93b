"""Delivery: notices that reach people (webhooks, e-mail) with evidence."""
