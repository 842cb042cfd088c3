import datetime

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class ReviewPolicy(models.TextChoices):
    """When a second pair of eyes must approve a reply before it goes out ("don't react too fast")."""

    ALWAYS = "always", _("Always")
    FLAGGED = "flagged", _("Flagged conversations (threat, press, other flags)")
    NEW_STAFF = "new_staff", _("Replies by new staff")
    NEVER = "never", _("Never")


class Department(models.Model):
    """A department team that receives forwarded conversations ("webcare opvolgschema")."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    slug = models.SlugField(_("slug"), max_length=100, unique=True)
    description = models.TextField(_("description"), blank=True, default="")
    escalation_email = models.EmailField(_("escalation contact e-mail"), blank=True, default="")
    # SLA clocks of this team run in this calendar's business time (none: 24/7).
    calendar = models.ForeignKey(
        "BusinessCalendar",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="departments",
        verbose_name=_("business calendar"),
    )
    review_policy = models.CharField(
        _("review before sending"),
        max_length=20,
        choices=ReviewPolicy.choices,
        default=ReviewPolicy.NEW_STAFF,
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="Membership",
        related_name="departments",
        verbose_name=_("members"),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("department")
        verbose_name_plural = _("departments")

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="memberships")
    is_lead = models.BooleanField(_("team lead"), default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "department"], name="membership_unique")
        ]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self) -> str:
        return f"{self.user} @ {self.department}"


# --- SLA: calendars, policies, clocks, breaches, on-call ----------------------


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


class BusinessCalendar(models.Model):
    """Opening hours of a team: windows per weekday, holidays and closures, or 24/7."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    timezone = models.CharField(_("time zone"), max_length=64, default="Europe/Amsterdam")
    is_24_7 = models.BooleanField(_("open 24/7"), default=False)
    use_dutch_holidays = models.BooleanField(_("closed on Dutch public holidays"), default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("business calendar")
        verbose_name_plural = _("business calendars")

    def __str__(self) -> str:
        return self.name


class BusinessWindow(models.Model):
    """One opening window on one weekday; several per weekday make split shifts."""

    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="windows")
    weekday = models.SmallIntegerField(_("weekday"), choices=Weekday.choices)
    start = models.TimeField(_("opens"))
    # 00:00 as the end means midnight at the end of the day.
    end = models.TimeField(_("closes"))

    class Meta:
        ordering = ["weekday", "start"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end__gt=F("start")) | Q(end=datetime.time(0)),
                name="business_window_end_after_start",
            )
        ]
        verbose_name = _("opening window")
        verbose_name_plural = _("opening windows")

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}-{self.end:%H:%M}"


class Closure(models.Model):
    """A custom closed day or range (company day out, Christmas week), both ends included."""

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="closures"
    )
    start_date = models.DateField(_("from"))
    end_date = models.DateField(_("until (inclusive)"))
    reason = models.CharField(_("reason"), max_length=200, blank=True, default="")

    class Meta:
        ordering = ["start_date"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__gte=F("start_date")), name="closure_end_after_start"
            )
        ]
        verbose_name = _("closure")
        verbose_name_plural = _("closures")

    def __str__(self) -> str:
        return f"{self.start_date}-{self.end_date} {self.reason}"


class ReopenedHoliday(models.Model):
    """A Dutch public holiday the team works on after all (many work on Good Friday).

    Either by the holiday's name, every year ("Good Friday"; the English name the `holidays`
    package gives, see routing.sla.HOLIDAY_NAME_LANGUAGE), or on one date. A closure on the
    same day still closes it.
    """

    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="reopened_holidays"
    )
    holiday = models.CharField(_("holiday, every year"), max_length=100, blank=True, default="")
    date = models.DateField(_("or on this date only"), null=True, blank=True)

    class Meta:
        ordering = ["holiday", "date"]
        constraints = [
            # Exactly one of the two.
            models.CheckConstraint(
                condition=(Q(holiday="") & Q(date__isnull=False))
                | (~Q(holiday="") & Q(date__isnull=True)),
                name="reopened_holiday_name_or_date",
            ),
            models.UniqueConstraint(
                fields=["calendar", "holiday"],
                condition=~Q(holiday=""),
                name="reopened_holiday_unique_name",
            ),
            models.UniqueConstraint(
                fields=["calendar", "date"],
                condition=Q(date__isnull=False),
                name="reopened_holiday_unique_date",
            ),
        ]
        verbose_name = _("holiday we work on")
        verbose_name_plural = _("holidays we work on")

    def __str__(self) -> str:
        return self.holiday or str(self.date)


class SlaTarget(models.TextChoices):
    FIRST_RESPONSE = "first_response", _("First response")
    NEXT_RESPONSE = "next_response", _("Next response")
    RESOLUTION = "resolution", _("Resolution")


class SlaPolicy(models.Model):
    """Response targets chosen by conditions; the first active matching policy (by order) wins.

    Every condition left empty matches anything. Targets are business minutes
    in the team's calendar (or this policy's calendar when set).
    """

    name = models.CharField(_("name"), max_length=100)
    order = models.PositiveIntegerField(_("order"), default=100)
    is_active = models.BooleanField(_("active"), default=True)
    channel_kinds = models.JSONField(_("channel kinds"), default=list, blank=True)
    channels = models.ManyToManyField(
        "inbox.Channel", blank=True, related_name="sla_policies", verbose_name=_("channels")
    )
    priorities = models.JSONField(_("priorities"), default=list, blank=True)
    department = models.ForeignKey(
        Department,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="sla_policies",
        verbose_name=_("department"),
    )
    # Bits of inbox.models.Flag: matches when any of them is set (0: no condition).
    flags_any = models.IntegerField(_("flags"), default=0)
    first_response_minutes = models.PositiveIntegerField(
        _("first response (business minutes)"), null=True, blank=True
    )
    next_response_minutes = models.PositiveIntegerField(
        _("next response (business minutes)"), null=True, blank=True
    )
    resolution_minutes = models.PositiveIntegerField(
        _("resolution (business minutes)"), null=True, blank=True
    )
    warn_percent = models.PositiveSmallIntegerField(
        _("warn at (percentage of target)"),
        default=75,
        validators=[MinValueValidator(1), MaxValueValidator(99)],
    )
    calendar = models.ForeignKey(
        BusinessCalendar,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="policies",
        verbose_name=_("calendar override"),
    )
    # Ingest stores a message without a clock when this policy fails for it (its calendar has
    # no opening time, say); counted here so the SLA settings page shows it.
    failure_count = models.PositiveIntegerField(_("failures"), default=0, editable=False)
    last_failure = models.TextField(_("last failure"), blank=True, default="", editable=False)
    last_failure_at = models.DateTimeField(_("last failure at"), null=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["order", "id"]
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")

    def __str__(self) -> str:
        return self.name

    def target_minutes(self, kind: str) -> int | None:
        return getattr(self, f"{kind}_minutes")


class SlaClock(models.Model):
    """One running (or finished) SLA clock of a conversation.

    The target, warn percentage and calendar are copied when the clock starts,
    so editing a policy or calendar later applies to new clocks only and past
    statistics keep their values. The due times on Conversation are the
    earliest of its running clocks (denormalised for the sweep's indexes).
    """

    conversation = models.ForeignKey(
        "inbox.Conversation", on_delete=models.CASCADE, related_name="sla_clocks"
    )
    kind = models.CharField(max_length=20, choices=SlaTarget.choices)
    policy = models.ForeignKey(SlaPolicy, null=True, blank=True, on_delete=models.SET_NULL)
    target_minutes = models.PositiveIntegerField()
    warn_percent = models.PositiveSmallIntegerField(default=75)
    calendar_spec = models.JSONField(default=dict)
    started_at = models.DateTimeField()
    # Finished pauses as [[start, end], ...] ISO strings; the open one is Conversation.sla_paused_at.
    pauses = models.JSONField(default=list, blank=True)
    warn_at = models.DateTimeField(null=True, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)  # null while paused
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            # Uses index: the hooks and the sweep look up a conversation's running clocks.
            models.Index(
                fields=["conversation", "kind"],
                name="slaclock_running_idx",
                condition=Q(stopped_at__isnull=True),
            )
        ]
        verbose_name = _("SLA clock")
        verbose_name_plural = _("SLA clocks")

    def __str__(self) -> str:
        return f"{self.kind} #{self.conversation_id}"


class SlaBreach(models.Model):
    """A target that was missed: which one, by how much, and who held the conversation."""

    clock = models.OneToOneField(SlaClock, on_delete=models.CASCADE, related_name="breach")
    conversation = models.ForeignKey(
        "inbox.Conversation", on_delete=models.CASCADE, related_name="sla_breaches"
    )
    target = models.CharField(_("target"), max_length=20, choices=SlaTarget.choices)
    due_at = models.DateTimeField(_("due"))
    breached_at = models.DateTimeField(_("breached"))
    # Wall time between due and the response; null while the clock still runs.
    overdue_by = models.DurationField(_("overdue by"), null=True, blank=True)
    holder = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sla_breaches",
        verbose_name=_("held by"),
    )
    department = models.ForeignKey(
        Department, null=True, blank=True, on_delete=models.SET_NULL, related_name="sla_breaches"
    )

    class Meta:
        indexes = [models.Index(fields=["department", "breached_at"], name="slabreach_dept_idx")]
        verbose_name = _("SLA breach")
        verbose_name_plural = _("SLA breaches")

    def __str__(self) -> str:
        return f"{self.target} #{self.conversation_id}"


class OnCallShift(models.Model):
    """Who takes urgent items (threat, press, urgent) for a team while its calendar is closed.

    Times are wall times in the team calendar's zone; an end before the start
    runs past midnight (17:00-09:00). Weekdays empty = every day; a date range
    limits the shift to those dates (a holiday rota).
    """

    department = models.ForeignKey(
        Department, on_delete=models.CASCADE, related_name="oncall_shifts"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="oncall_shifts"
    )
    weekdays = models.JSONField(_("weekdays"), default=list, blank=True)
    start = models.TimeField(_("from"))
    end = models.TimeField(_("until"))
    start_date = models.DateField(_("first date"), null=True, blank=True)
    end_date = models.DateField(_("last date"), null=True, blank=True)

    class Meta:
        verbose_name = _("on-call shift")
        verbose_name_plural = _("on-call shifts")

    def __str__(self) -> str:
        return f"{self.user} @ {self.department} {self.start:%H:%M}-{self.end:%H:%M}"


class RoutingRule(models.Model):
    """An ordered rule: when a new message matches every set condition, the actions apply.

    The matcher is pure (routing.rules.matching); routing.rules.apply.apply_routing applies
    the actions.
    """

    order = models.PositiveIntegerField(_("order"), default=0)
    name = models.CharField(_("name"), max_length=120)
    active = models.BooleanField(_("active"), default=True)
    # Conditions: empty means "any".
    keywords = models.JSONField(_("keywords (any of)"), default=list, blank=True)
    pattern = models.CharField(_("regular expression"), max_length=500, blank=True, default="")
    channel = models.ForeignKey(
        "inbox.Channel",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("channel"),
    )
    language = models.CharField(_("language"), max_length=8, blank=True, default="")
    contact_tag = models.CharField(_("contact tag"), max_length=40, blank=True, default="")
    flags_any = models.IntegerField(_("flags (any of)"), default=0)
    sentiment = models.CharField(_("sentiment"), max_length=10, blank=True, default="")
    # The "needs a reply" hint (Conversation.needs_reply, 0-100): e.g. "below 30" with a low
    # priority sends what likely needs no answer to the low-priority view. An unscored
    # conversation matches neither bound.
    needs_reply_below = models.PositiveSmallIntegerField(
        _("needs-reply score below"),
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )
    needs_reply_from = models.PositiveSmallIntegerField(
        _("needs-reply score from"),
        null=True,
        blank=True,
        validators=[MaxValueValidator(100)],
    )
    # Actions
    department = models.ForeignKey(
        Department,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="routing_rules",
        verbose_name=_("department"),
    )
    auto_forward = models.BooleanField(_("forward automatically"), default=False)
    set_priority = models.SmallIntegerField(_("set priority"), null=True, blank=True)
    # Every matching rule with a label applies it (labels add up); the team and priority still
    # come from the first matching rule that sets them (routing.rules.apply).
    label = models.ForeignKey(
        "inbox.Label",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="rules",
        verbose_name=_("apply label"),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "id"]
        verbose_name = _("routing rule")
        verbose_name_plural = _("routing rules")

    def __str__(self) -> str:
        return self.name
