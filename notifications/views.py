"""The notifications page (the bell's target) and webhook endpoints with their delivery log."""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.generic import FormView, ListView, TemplateView, View

from accounts.mixins import OrganizationMixin, ServiceFormMixin
from accounts.permissions import Action
from notifications import services as notifications
from notifications import webhooks
from notifications.forms import WebhookEndpointForm
from notifications.models import Notification, WebhookDelivery, WebhookEndpoint


class OwnNotificationsMixin(OrganizationMixin):
    def get_queryset(self):
        return Notification.objects.for_org(self.organization).filter(user=self.request.user)


class NotificationListView(OwnNotificationsMixin, ListView):
    template_name = "notifications/notification_list.html"
    paginate_by = 50


class NotificationReadView(OwnNotificationsMixin, View):
    """POST: mark one notification read (`notification`, its public id) or all of them."""

    def post(self, request, notification=None):
        if notification is not None:  # someone else's notification does not exist here
            get_object_or_404(self.get_queryset(), public_id=notification)
        notifications.mark_read(
            user=request.user,
            organization=self.organization,
            public_ids=None if notification is None else [notification],
        )
        # `next` is followed only within the portal (no open redirect to another site).
        next_url = request.POST.get("next", "")
        if not url_has_allowed_host_and_scheme(
            next_url, {request.get_host()}, require_https=request.is_secure()
        ):
            next_url = reverse("notifications:notifications")
        return redirect(next_url)


class WebhookMixin(OrganizationMixin):
    action = Action.MANAGE_ORGANIZATION

    def get_endpoint(self) -> WebhookEndpoint:
        return get_object_or_404(
            WebhookEndpoint.objects.for_org(self.organization), public_id=self.kwargs["webhook"]
        )


class WebhookListView(WebhookMixin, ListView):
    template_name = "notifications/webhook_list.html"

    def get_queryset(self):
        return WebhookEndpoint.objects.for_org(self.organization)


class WebhookCreateView(ServiceFormMixin, WebhookMixin, FormView):
    template_name = "notifications/webhook_form.html"
    form_class = WebhookEndpointForm

    def perform(self, form):
        endpoint, secret = webhooks.create_endpoint(actor=self.actor, **form.cleaned_data)
        return render(
            self.request,
            "notifications/webhook_created.html",
            {"endpoint": endpoint, "secret": secret},
        )


class WebhookDetailView(WebhookMixin, TemplateView):
    template_name = "notifications/webhook_detail.html"

    def get_context_data(self, **kwargs):
        endpoint = self.get_endpoint()
        return super().get_context_data(
            endpoint=endpoint, deliveries=endpoint.deliveries.all()[:100], **kwargs
        )


class WebhookDeleteView(WebhookMixin, View):
    def post(self, request, webhook):
        webhooks.delete_endpoint(actor=self.actor, endpoint=self.get_endpoint())
        messages.success(request, _("Webhook endpoint deleted."))
        return redirect("notifications:webhooks")


class WebhookResendView(WebhookMixin, View):
    def post(self, request, webhook, delivery):
        endpoint = self.get_endpoint()
        found = get_object_or_404(WebhookDelivery, endpoint=endpoint, public_id=delivery)
        try:
            webhooks.resend(actor=self.actor, delivery=found)
        except ValidationError as error:  # being sent right now
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("The event will be sent again."))
        return redirect("notifications:webhook-detail", webhook=endpoint.public_id)
