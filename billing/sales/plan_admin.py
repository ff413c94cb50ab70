"""Staff console: organizations' plans (subscriptions) with their fee invoices and monthly
allowances. The record is read-only; staff end a plan now or set its renewal through the
services (billing.sales.plans.end_now, billing.packages.plans.set_auto_renew), audited."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import get_object_or_404, redirect
from django.urls import path, reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext_lazy as _

from accounts.admin_site import ReadOnlyAdmin, ReadOnlyMixin
from accounts.audit_trail import Actor
from accounts.mixins import add_service_errors
from billing.invoicing.admin import form_page
from billing.packages import plans
from billing.packages.models import Entitlement, Subscription
from billing.sales import plans as sales_plans
from billing.sales.models import PlanFee


class PlanFeeInline(ReadOnlyMixin, admin.TabularInline):
    model = PlanFee
    fields = ("kind", "invoice", "operator_charge", "period_start", "period_end", "terms",
              "extra_allowance")  # fmt: skip
    readonly_fields = fields
    extra = 0


class AllowanceInline(ReadOnlyMixin, admin.TabularInline):
    model = Entitlement
    verbose_name = _("monthly allowance")
    verbose_name_plural = _("monthly allowances")
    fields = ("reference", "unit", "granted", "consumed", "starts_at", "expires_at", "status")
    readonly_fields = fields
    extra = 0


class EndNowForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=300,
        help_text=_(
            "The plan and this month's allowance end now; its open fee invoices are voided "
            "with this reason. Fees paid stay paid."
        ),
    )


class RenewalForm(forms.Form):
    auto_renew = forms.TypedChoiceField(
        label=_("At the end of the fee period"),
        choices=[("1", _("Renew automatically")), ("", _("End the plan"))],
        coerce=bool,
        empty_value=False,
        required=False,
        help_text=_("Staff may end a plan inside its commitment; the customer is told."),
    )


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = (
        "organization",
        "offer",
        "status",
        "current_period_start",
        "current_period_end",
        "auto_renew",
        "commitment_ends_at",
        "paid_until",
    )
    list_filter = ("status", "auto_renew", "offer")
    search_fields = ("organization__name", "public_id", "offer__name_en", "offer__name_zh")
    list_select_related = ("organization", "offer")
    readonly_fields = ("staff_actions",)
    inlines = [PlanFeeInline, AllowanceInline]

    @admin.display(description=_("Staff actions"))
    def staff_actions(self, subscription):
        if subscription.status != Subscription.Status.ACTIVE:
            return "-"
        links = [
            (reverse("admin:billing_subscription_end", args=[subscription.pk]), _("End now")),
            (reverse("admin:billing_subscription_renewal", args=[subscription.pk]), _("Renewal")),
        ]
        return format_html_join(" · ", '<a href="{}">{}</a>', links)

    def get_urls(self):
        views = [("end", self.end_view), ("renewal", self.renewal_view)]
        return [
            *[
                path(
                    f"<int:pk>/{name}/",
                    self.admin_site.admin_view(view),
                    name=f"billing_subscription_{name}",
                )
                for name, view in views
            ],
            *super().get_urls(),
        ]

    def end_view(self, request, pk):
        return self._form_action(
            request, pk, EndNowForm, _("End the plan now"),
            lambda subscription, data: sales_plans.end_now(
                actor=Actor.from_request(request), subscription=subscription,
                reason=data["reason"],
            ),
        )  # fmt: skip

    def renewal_view(self, request, pk):
        return self._form_action(
            request, pk, RenewalForm, _("Renewal"),
            lambda subscription, data: plans.set_auto_renew(
                actor=Actor.from_request(request), subscription=subscription,
                auto_renew=data["auto_renew"], by_staff=True,
            ),
        )  # fmt: skip

    def _form_action(self, request, pk, form_class, title, act):
        if not request.user.has_perm("billing.change_subscription"):
            raise PermissionDenied
        subscription = get_object_or_404(
            Subscription.objects.select_related("organization", "offer"), pk=pk
        )
        form = form_class(request.POST or None)
        if form.is_valid():
            try:
                act(subscription, form.cleaned_data)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("Done."))
                return redirect(reverse("admin:billing_subscription_change", args=[pk]))
        return form_page(self, request, form, f"{title}: {subscription}", subscription)
