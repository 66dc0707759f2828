"""The Genesys Cloud topics gcevents knows: one list shared by the parser (`core.events`), `gcevents connect`
(the integration's `eventFilter`), the template's `TopicPatterns` default (a test keeps them equal) and
`gcevents topics`.

A topic *pattern* has a literal `{id}` where the concrete topic has the conversation or user id; the EventBridge
integration subscribes to patterns and puts the pattern in the event's `detail-type`."""

from __future__ import annotations

CONVERSATION_PREFIX = "v2.detail.events.conversation."
AGENT_PREFIX = "v2.detail.events.agent."

# Detail-event kinds of a conversation, in the order Genesys documents them.
CONVERSATION_KINDS: tuple[str, ...] = (
    "acd.start", "acd.end", "acw", "attributes", "contact", "customer.start", "customer.end",
    "flow.start", "flow.end", "flow.outcome", "outbound", "user.start", "user.end",
    "voicemail.start", "voicemail.end", "wrapup",
)  # fmt: skip
AGENT_KINDS: tuple[str, ...] = ("state",)


def conversation_topic(kind: str) -> str:
    """`customer.end` -> `v2.detail.events.conversation.{id}.customer.end`."""
    return f"{CONVERSATION_PREFIX}{{id}}.{kind}"


def agent_topic(kind: str) -> str:
    return f"{AGENT_PREFIX}{{id}}.{kind}"


# What a deployment subscribes to unless told otherwise: every conversation detail topic.
DEFAULT_TOPICS: tuple[str, ...] = tuple(conversation_topic(kind) for kind in CONVERSATION_KINDS)
# Every pattern the parser turns into a typed kind (anything else parses as kind "other").
KNOWN_TOPICS: tuple[str, ...] = DEFAULT_TOPICS + tuple(agent_topic(kind) for kind in AGENT_KINDS)


def kind_of_pattern(pattern: str) -> str:
    """`v2.detail.events.conversation.{id}.acw` -> `conversation.acw`; `other` for a pattern we do not parse."""
    if pattern.startswith(CONVERSATION_PREFIX + "{id}."):
        rest = pattern[len(CONVERSATION_PREFIX) + 5 :]
        return f"conversation.{rest}" if rest in CONVERSATION_KINDS else "other"
    if pattern.startswith(AGENT_PREFIX + "{id}."):
        rest = pattern[len(AGENT_PREFIX) + 5 :]
        return f"agent.{rest}" if rest in AGENT_KINDS else "other"
    return "other"
