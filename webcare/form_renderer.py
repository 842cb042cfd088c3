"""Form renderer: Django's own templates, with the hot widget templates built in Python.

Under load the coordinator panel spent most of its CPU rendering eight small forms: every
<option> of the assignee select was a template include of its own (two includes per option,
~75 options). The functions below produce byte-for-byte what Django's templates in
django/forms/templates produce for the same context (tests/webcare/test_form_renderer.py
compares both on every widget kind the project uses); any other template, or a widget that
points at a template of its own, still goes through the template engine.
"""

from __future__ import annotations

from collections.abc import Callable

from django.forms.renderers import DjangoTemplates
from django.utils.formats import localize
from django.utils.html import conditional_escape, escape
from django.utils.safestring import SafeData
from django.utils.timezone import template_localtime

OPTION_TEMPLATE = "django/forms/widgets/select_option.html"


def _var(value) -> str:
    """{{ value }} as the template engine prints it (local time, localized, escaped)."""
    value = localize(template_localtime(value))
    if not issubclass(type(value), str):
        value = str(value)
    return conditional_escape(value)


def _s(value) -> str:
    """{{ value|stringformat:'s' }}: the filter is is_safe, so safe input stays unescaped."""
    if isinstance(value, tuple):
        value = str(value)
    text = "%s" % (value,)  # noqa: UP031 (the filter's own formatting)
    return text if isinstance(value, SafeData) else escape(text)


def _attrs(attrs) -> str:
    if not attrs:
        return ""
    out = []
    for name, value in attrs.items():
        if value is False:
            continue
        out.append(f" {_var(name)}" if value is True else f' {_var(name)}="{_s(value)}"')
    return "".join(out)


def _input(widget) -> str:
    value = widget["value"]
    value_attr = "" if value is None else f' value="{_s(value)}"'
    return (
        f'<input type="{_var(widget["type"])}" name="{_var(widget["name"])}"'
        f"{value_attr}{_attrs(widget['attrs'])}>\n"
    )


def _option(option) -> str:
    return (
        f'<option value="{_s(option["value"])}"{_attrs(option["attrs"])}>'
        f"{_var(option['label'])}</option>\n"
    )


def _select(widget) -> str | None:
    parts = [f'<select name="{_var(widget["name"])}"{_attrs(widget["attrs"])}>']
    for group_name, group_choices, _index in widget["optgroups"]:
        if group_name:
            parts.append(f'\n  <optgroup label="{_var(group_name)}">')
        for option in group_choices:
            if option["template_name"] != OPTION_TEMPLATE:
                return None  # a custom option template: let the engine render it
            parts.append("\n  " + _option(option))
        if group_name:
            parts.append("\n  </optgroup>")
    parts.append("\n</select>\n")
    return "".join(parts)


def _textarea(widget) -> str:
    value = _var(widget["value"]) if widget["value"] else ""
    return (
        f'<textarea name="{_var(widget["name"])}"{_attrs(widget["attrs"])}>\n{value}</textarea>\n'
    )


def _label(context) -> str:
    if not context["use_tag"]:
        return _var(context["label"])
    tag = _var(context["tag"])
    return f"<{tag}{_attrs(context['attrs'])}>{_var(context['label'])}</{tag}>\n"


_WIDGETS: dict[str, Callable] = {
    "django/forms/widgets/input.html": _input,
    "django/forms/widgets/text.html": _input,
    "django/forms/widgets/number.html": _input,
    "django/forms/widgets/hidden.html": _input,
    "django/forms/widgets/email.html": _input,
    "django/forms/widgets/url.html": _input,
    "django/forms/widgets/password.html": _input,
    "django/forms/widgets/select.html": _select,
    "django/forms/widgets/textarea.html": _textarea,
}


class FastWidgetRenderer(DjangoTemplates):
    def render(self, template_name, context, request=None):
        html = None
        if template_name in _WIDGETS:
            html = _WIDGETS[template_name](context["widget"])
        elif template_name == "django/forms/label.html":
            html = _label(context)
        if html is None:
            return super().render(template_name, context, request=request)
        return html.strip()
