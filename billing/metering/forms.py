"""The period a usage page shows: a month (YYYY-MM) or a range of days, both ends included."""

from datetime import datetime, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from billing.metering.selectors import LONGEST_PERIOD, floor_bucket, next_bucket
from portal.periods import business_zone, month_start


class UsagePeriodForm(forms.Form):
    month = forms.DateField(label=_("Month"), required=False, input_formats=["%Y-%m"])
    start = forms.DateField(label=_("From"), required=False, input_formats=["%Y-%m-%d"])
    end = forms.DateField(label=_("To"), required=False, input_formats=["%Y-%m-%d"])

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        first, last = data.get("start"), data.get("end")
        if (first is None) != (last is None):
            missing = "end" if last is None else "start"
            raise forms.ValidationError({missing: _("Give both the first and the last day.")})
        if first and last < first:
            raise forms.ValidationError({"end": _("The last day comes before the first.")})
        today = timezone.now().astimezone(business_zone()).date()
        if first and first > today:
            raise forms.ValidationError({"start": _("The period has not begun yet.")})
        if data.get("month") and data["month"] > today:
            raise forms.ValidationError({"month": _("The period has not begun yet.")})
        if first and (last - first).days + 1 > LONGEST_PERIOD:
            raise forms.ValidationError(
                {"end": _("At most %(days)d days at once.") % {"days": LONGEST_PERIOD}}
            )
        return data

    def bounds(self, now: datetime) -> tuple[datetime, datetime]:
        """[start, end) in the business time zone: the range, the month, or this month."""
        data = self.cleaned_data
        if data.get("start"):
            start = datetime.combine(data["start"], datetime.min.time(), tzinfo=business_zone())
            end = datetime.combine(data["end"], datetime.min.time(), tzinfo=business_zone())
            return start, end + timedelta(days=1)
        start = month_start(data["month"]) if data.get("month") else floor_bucket(now, "1mo")
        return start, next_bucket(start, "1mo")
