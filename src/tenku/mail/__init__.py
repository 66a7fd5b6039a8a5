"""Mail Tenku sends (invitations): an outbox in the data directory, and SMTP when configured."""

from tenku.mail.mailer import DeliveryError, Mailer
from tenku.mail.outbox import Message, Outbox
from tenku.mail.smtp import SmtpTarget

__all__ = ["DeliveryError", "Mailer", "Message", "Outbox", "SmtpTarget"]
