from inbox.lib import replytext


def test_variables_are_filled_once_and_literally():
    text = replytext.render_variables(
        "Hoi {{ contact_name }}, groet {{agent_name}} {{unknown}}",
        {"contact_name": "{{agent_name}} {% debug %}", "agent_name": "Anna"},
    )
    # A customer's name that looks like a template stays text: no second pass, no engine.
    assert text == "Hoi {{agent_name}} {% debug %}, groet Anna {{unknown}}"


def test_x_counts_links_as_23():
    assert replytext.measure("x", "zie https://example.org/" + "a" * 100) == 4 + 23
    assert replytext.measure("bluesky", "👨‍👩‍👧") == 1
    assert replytext.limit_for("mastodon") == 500


def test_compose_warns_when_too_long_and_splits_when_asked():
    text = " ".join(["woord"] * 80)  # 479 characters
    warned = replytext.compose(text, kind="x", suffix=" ^AB")
    assert warned.over_limit and warned.parts == [text + " ^AB"]
    split = replytext.compose(text, kind="x", suffix=" ^AB", split=True)
    assert not split.over_limit and len(split.parts) == 2
    assert split.parts[0].endswith("(1/2)") and split.parts[1].endswith("(2/2) ^AB")
    assert all(replytext.measure("x", p) <= 280 for p in split.parts)
    assert " ".join(p.rsplit(" (", 1)[0] for p in split.parts) == text


def test_signature_policy():
    assert replytext.signature_suffix(policy="initials", name="Anna", initials="AV") == " ^AV"
    assert replytext.signature_suffix(policy="name", name="Anna", initials="AV") == "\n- Anna"
    assert replytext.signature_suffix(policy="none", name="Anna", initials="AV") == ""
