"""The project's widget templates (templates/django/forms/) print exactly what Django's print."""

from __future__ import annotations

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates, TemplatesSetting
from django.utils.safestring import mark_safe

from inbox import forms as inbox_forms
from routing import forms as routing_forms
from tests.factories import DepartmentFactory, UserFactory

pytestmark = pytest.mark.django_db


class Everything(forms.Form):
    text = forms.CharField(label="Name & <title>", max_length=5, help_text="help")
    optional = forms.CharField(required=False, widget=forms.TextInput(attrs={"autofocus": True}))
    off = forms.CharField(required=False, widget=forms.TextInput(attrs={"disabled": False}))
    number = forms.IntegerField(min_value=1)
    hidden = forms.IntegerField(widget=forms.HiddenInput)
    email = forms.EmailField()
    url = forms.URLField(assume_scheme="https")
    password = forms.CharField(widget=forms.PasswordInput)
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
    choice = forms.ChoiceField(
        choices=[("", "---"), ("a", "A & B"), ("Group <g>", [("x", "X"), (3, "three")])]
    )
    typed = forms.TypedChoiceField(coerce=int, choices=[(1, mark_safe("<b>safe</b>")), (2, 2000)])
    many = forms.MultipleChoiceField(choices=[("1", "One"), ("2", '"Two"')])
    checks = forms.MultipleChoiceField(choices=[("1", "One")], widget=forms.CheckboxSelectMultiple)
    flag = forms.BooleanField(required=False)


def both(form: forms.Form) -> tuple[list[str], list[str]]:
    out = []
    for renderer in (DjangoTemplates(), TemplatesSetting()):
        form.renderer = renderer
        out.append(
            [str(f) for f in form]
            + [f.label_tag() for f in form]
            + [f.label_tag(attrs={"class": "x", "hidden": True}) for f in form]
            + [str(form)]
        )
    return out[0], out[1]


@pytest.mark.parametrize(
    "data",
    [
        None,
        {
            "text": "too long <script>",
            "number": "0",
            "hidden": "7",
            "body": "a\n<b>",
            "choice": "x",
            "typed": "1",
            "many": ["1", "2"],
            "checks": ["1"],
            "flag": "on",
            "email": "nope",
        },
    ],
)
def test_every_widget_kind_matches_the_templates(data):
    stock, ours = both(Everything(data, auto_id="t-%s"))
    assert ours == stock
    stock, ours = both(Everything(data, auto_id=False))
    assert ours == stock


def test_the_panel_forms_match_the_templates():
    team = DepartmentFactory(name="Klant & <service>")
    UserFactory(first_name="Zoë", last_name="O'Brien")
    v = {"version": 3}
    panel_forms = [
        inbox_forms.ForwardForm(initial={**v, "department": team.pk}, auto_id="forward-%s"),
        inbox_forms.AssignForm(initial=v, auto_id="assign-%s"),
        inbox_forms.NoReplyForm(initial=v, auto_id="no-reply-%s"),
        inbox_forms.HideForm(initial=v, auto_id="hide-%s"),
        inbox_forms.FlagForm(initial=v, auto_id="flag-%s"),
        inbox_forms.PriorityForm(initial={**v, "priority": 2}, auto_id="priority-%s"),
        inbox_forms.MergeForm(initial=v, auto_id="merge-%s"),
        inbox_forms.SplitForm(
            initial=v, auto_id="split-%s", message_choices=[(1, "01-02 10:00 <hi> & bye")]
        ),
        inbox_forms.ContactNoteForm(),
        inbox_forms.ForwardForm({"version": "x", "department": "999"}, auto_id="forward-%s"),
    ]
    for form in panel_forms:
        stock, ours = both(form)
        assert ours == stock
        assert any(tag in "".join(ours) for tag in ("<option", "<input", "<textarea"))


def test_routing_forms_with_checkbox_lists_still_render():
    DepartmentFactory()
    for name in dir(routing_forms):
        cls = getattr(routing_forms, name)
        if (
            isinstance(cls, type)
            and issubclass(cls, forms.BaseForm)
            and cls.__module__ == (routing_forms.__name__)
        ):
            try:
                form = cls()
            except TypeError:
                continue  # needs arguments of its own
            stock, ours = both(form)
            assert ours == stock


def test_it_is_the_projects_renderer(settings):
    assert settings.FORM_RENDERER == "django.forms.renderers.TemplatesSetting"
    select = TemplatesSetting().get_template("django/forms/widgets/select.html")
    assert select.origin.name == str(
        settings.BASE_DIR / "templates/django/forms/widgets/select.html"
    )
