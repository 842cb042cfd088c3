"""Template helpers of the inbox."""

from __future__ import annotations

from django import template

from webcare.fragments import choices_key, reused

register = template.Library()


@register.tag
def reuse(parser, token):
    """{% reuse key [more ...] %}...{% endreuse %}: the block's output, kept by this process under
    the key (webcare.fragments.reused). The key must change whenever anything the block shows
    does, as inbox_row_values' row keys do."""
    bits = token.split_contents()
    if len(bits) < 2:
        raise template.TemplateSyntaxError("reuse needs a key")
    nodelist = parser.parse(("endreuse",))
    parser.delete_first_token()
    return ReuseNode(nodelist, [parser.compile_filter(bit) for bit in bits[1:]])


class ReuseNode(template.Node):
    def __init__(self, nodelist, keys):
        self.nodelist, self.keys = nodelist, keys

    def render(self, context):
        key = choices_key([(str(k.resolve(context)), "") for k in self.keys])
        return reused(key, lambda: self.nodelist.render(context))


@register.filter
def flag_items(flags: int, labels: dict | None = None):
    """[(bit, label)] of the flags set, for badges; every flag's label unless labels are given."""
    if not flags:
        return []
    if labels is None:
        from inbox.models import Flag

        labels = Flag.labels()
    return [(int(bit), label) for bit, label in labels.items() if int(flags) & int(bit)]
