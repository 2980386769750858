"""The auditor console: pages for people, under ``/console``, and the offline API docs."""
