# Accounts has no background work of its own: its emails (welcome, verification,
# password reset) are queued through apps.notifications.services and sent by
# apps.notifications.tasks.email_send.
