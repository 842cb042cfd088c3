"""Access entries: conversations (list, detail, triage and team actions) and replies.

The sample conversation is team A's, forwarded and open (status triaged); the sample reply is
staff_a's draft on it. Triage (forward, hide, no reply needed) is the coordinators'; team actions
and replies are for whoever may act on team A; submitting is the author's, approving a colleague's.
"""

from inbox.models import Conversation, Reply, ReplyState, Status
from tests.api.matrix import ALL, COORD, TEAM_A_ACT, TEAM_A_READ, Access


def conv(w: dict) -> dict:
    return {"pk": w["conversation"].pk}


def reply(w: dict) -> dict:
    return {"pk": w["reply"].pk}


def version(w: dict) -> int:
    return Conversation.objects.get(pk=w["conversation"].pk).version


def assigned(w: dict) -> dict:
    """Waiting on the customer follows an answer or an assignment: the sample is made assigned
    (the body is computed just before the call)."""
    Conversation.objects.filter(pk=w["conversation"].pk).update(status=Status.ASSIGNED)
    return {}


def in_review(w: dict) -> dict:
    """Only a reply waiting for review can be approved: the sample draft is submitted first."""
    Reply.objects.filter(pk=w["reply"].pk).update(state=ReplyState.PENDING_REVIEW)
    return {}


ACCESS = {
    # Everyone lists what they see; a token limited to team B gets its (empty) page, not a 403.
    "api:conversation-list": Access("get", ALL, team_bound=False),
    "api:conversation-detail": Access("get", TEAM_A_READ, url_kwargs=conv),
    "api:conversation-forward": Access(
        "post",
        COORD,
        "write",
        url_kwargs=conv,
        body=lambda w: {"department": w["team_b"].pk, "version": version(w), "note": "Huur"},
    ),
    # Coordinators assign anyone (triage); staff give it to a member of the team.
    "api:conversation-assign": Access(
        "post",
        TEAM_A_ACT,
        "write",
        url_kwargs=conv,
        body=lambda w: {"assignee": w["staff_a"].pk, "version": version(w)},
    ),
    "api:conversation-labels": Access(
        "post",
        TEAM_A_ACT,
        "write",
        url_kwargs=conv,
        body=lambda w: {"add": [w["label"].pk], "version": version(w)},
    ),
    "api:conversation-hide": Access(
        "post",
        COORD,
        "write",
        url_kwargs=conv,
        body=lambda w: {"house_rule": w["house_rule"].pk, "version": version(w)},
    ),
    "api:conversation-no-reply-needed": Access(
        "post",
        COORD,
        "write",
        url_kwargs=conv,
        body=lambda w: {"reason": w["no_reply_reason"].pk, "version": version(w)},
    ),
    "api:conversation-claim": Access(
        "post", TEAM_A_ACT, "write", url_kwargs=conv, body=lambda w: {"version": version(w)}
    ),
    "api:conversation-close": Access(
        "post", TEAM_A_ACT, "write", url_kwargs=conv, body=lambda w: {"reason": "Opgelost"}
    ),
    "api:conversation-waiting": Access("post", TEAM_A_ACT, "write", url_kwargs=conv, body=assigned),
    "api:conversation-reply-draft": Access(
        "post",
        TEAM_A_ACT,
        "write",
        url_kwargs=conv,
        body=lambda w: {"text": "Wij sturen morgen een monteur."},
    ),
    "api:reply-detail": Access("get", TEAM_A_READ, url_kwargs=reply),
    "api:reply-submit": Access(
        "post", frozenset({"staff_a"}), "write", url_kwargs=reply, body=lambda w: {}
    ),
    "api:reply-approve": Access("post", COORD, "write", url_kwargs=reply, body=in_review),
}
