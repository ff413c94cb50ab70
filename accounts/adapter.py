from allauth.account.adapter import DefaultAccountAdapter

from portal.mail import send_email_later


class AccountAdapter(DefaultAccountAdapter):
    def send_mail(self, template_prefix, email, context):
        """Render in the request (language, site), deliver from a worker."""
        send_email_later(self.render_mail(template_prefix, email, context))
