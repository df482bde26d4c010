"""Every inbound Slack body, read in one place: bounded, parsed, validated, typed.

Slack posts four kinds of bodies to `/slack/events`: slash-command forms, interactivity forms
(`payload=<json>`), Events API JSON envelopes, and the two handshakes (`url_verification`,
`ssl_check`). This module is the only code that reads them, for HTTP and Socket Mode alike:

1. size and JSON nesting depth are bounded before anything is parsed (a body nested 100,000
   deep never reaches `json.loads`, so no `RecursionError`);
2. forms are parsed here, not by Bolt (see `BOLT_PARSE_BODY` below), and a form whose keys
   repeat is refused: Slack never repeats one, and two readers taking different copies (one
   validating the first `team_id`, another acting on the last) is how a body gets through;
3. the fields the bot reads are validated by pydantic models (strict types, Slack's id shape,
   lengths; unknown fields ignored), so a listener never meets a number where a user id
   should be, and no row is ever written with an empty or malformed id;
4. Bolt is handed `bolt_body(request)`: the validated fields only, as the dict its parser
   would have made of them, which its routing, authorization and context code can rely on.

Whatever fails raises `MalformedPayload` with the field it is about (`event.user: Input should
be a valid string`), never the value: the adapter answers 400 and logs that one line.
"""

from __future__ import annotations

import json
import re
from binascii import a2b_qp
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Annotated, Any, ClassVar, Literal, TypeVar
from urllib.parse import unquote_to_bytes, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    ValidationInfo,
)

from bot.core.events import ConversationRef

PLATFORM = "slack"
JSON = dict[str, Any]

# BOLT_PARSE_BODY — upstream bug, slack-bolt 1.30.0 (slackapi/bolt-python),
# `slack_bolt/request/internals.py` `parse_body`:
#
#     if "payload" in body:  # This is not JSON format yet
#         params = dict(parse_qsl(body, keep_blank_values=True))
#         payload = params.get("payload")
#         if payload is not None: return json.loads(payload)
#         else: return {}
#
# The test is a substring test on the whole raw form, so a slash command whose *values*
# contain "payload" is taken for an interactivity payload, has no `payload=` key, and is
# parsed as `{}`: Bolt matches no listener and answers 404, and the person sees Slack's
# "/rut failed with the error dispatch_failed". Exact cases, each a real slash command form:
#     command=%2Frut&text=advice+payload&...          (`/rut advice payload`)
#     ...&channel_name=payload-team&...               (any `/rut` in #payload-team)
#     ...&user_name=payload.bot&...                   (any `/rut` by @payload.bot)
# (also a team_domain containing it). And `payload` given twice is read with the last value
# (`dict(parse_qsl(...))`), where a reader taking the first would validate another body.
# Report upstream: test for the key, e.g. `"payload" in dict(parse_qsl(body))`, or
# `body.startswith("payload=")` as Slack sends it. Worked around here: Rut Radar parses the
# form itself and hands Bolt the parsed body (a dict), so `parse_body` never runs.

MAX_BODY_BYTES = 1 << 20  # aiohttp's own default request limit; Slack's bodies are far smaller
MAX_DEPTH = 64  # Slack's deepest payloads (rich text inside a view) stay under 20
MAX_FORM_FIELDS = 64  # a slash command has 15
MAX_CHALLENGE = 500

INTERACTIONS = ("block_actions", "view_submission", "view_closed")


class MalformedPayload(ValueError):
    """The body is not a Slack request we understand (400). The message names the field."""


# --- the shapes of what the bot reads ---------------------------------------------------------

# Slack's ids (users U…/W…, teams T…, enterprises E…, channels C…/D…/G…, views V…, apps A…):
# upper-case letters and digits, nothing else; short, so `slack:{team}:{id}` keys stay well
# inside the 200 characters the database keeps for an event id.
ID_PATTERN = r"^[A-Z0-9]{1,32}$"
# Opaque tokens Slack mints: trigger ids (`123.456.abcdef`), event ids (`Ev0PV52K25`).
TOKEN_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
# A NUL or an unpaired surrogate cannot be stored (PostgreSQL text, UTF-8): refused here.
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def _storable(value: str) -> str:
    if _UNSTORABLE.search(value):
        raise ValueError("contains a NUL character or an unpaired surrogate")
    return value


def _empty_is_none(value: object) -> object:
    """Optional fields: Slack leaves some out and sends others empty; both mean absent."""
    return None if value == "" else value


# Where Slack's `response_url`s point; the bot posts replies there, so nowhere else is taken.
# The adapter adds its configured API's origin (a local fake in tests).
SLACK_RESPONSE_ORIGINS = frozenset({("https", "hooks.slack.com"), ("https", "hooks.slack-gov.com")})
Origins = frozenset[tuple[str, str]]


def origin_of(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()


def _slack_hook(value: str, info: ValidationInfo) -> str:
    context = info.context if isinstance(info.context, Mapping) else {}
    origins = context.get("response_origins", SLACK_RESPONSE_ORIGINS)
    # Most are `https://hooks.slack.com/…` to the letter: taken without parsing (a URL that
    # starts so has that origin); anything else is parsed and compared.
    if value.startswith(_prefixes(origins)):
        return value
    try:
        origin = origin_of(value)
    except ValueError:
        raise ValueError("not a URL") from None
    if origin not in origins:
        raise ValueError("not a Slack response URL")
    return value


@lru_cache(maxsize=8)
def _prefixes(origins: Origins) -> tuple[str, ...]:
    return tuple(f"{scheme}://{netloc}/" for scheme, netloc in origins)


SlackId = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
OptionalId = Annotated[SlackId | None, BeforeValidator(_empty_is_none)]
Token = Annotated[str, StringConstraints(pattern=TOKEN_PATTERN)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=255), AfterValidator(_storable)]
Text = Annotated[str, StringConstraints(max_length=3000), AfterValidator(_storable)]
# A slash command's text can be as long as a message.
CommandText = Annotated[str, StringConstraints(max_length=40_000), AfterValidator(_storable)]
ResponseUrl = Annotated[
    str,
    StringConstraints(min_length=1, max_length=2000),
    AfterValidator(_storable),
    AfterValidator(_slack_hook),
]


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore", frozen=True)


@dataclass(frozen=True, slots=True)
class Installation:
    """Which installation a request belongs to, in Bolt's terms."""

    enterprise_id: str | None
    team_id: str | None
    is_enterprise_install: bool

    @property
    def key(self) -> str:
        """The Rut Radar workspace's external id: the enterprise for an org-wide install,
        otherwise the team (the same rule as for a new installation, `installation_key`)."""
        return installation_key(self.enterprise_id, self.team_id, self.is_enterprise_install)


def installation_key(enterprise_id: str | None, team_id: str | None, org_wide: bool) -> str:
    if org_wide and enterprise_id:
        return enterprise_id
    return team_id or enterprise_id or ""


def _installation(enterprise_id: str | None, team_id: str | None, org_wide: bool) -> Installation:
    if not (enterprise_id or team_id):
        raise MalformedPayload("the request names no team or enterprise")
    return Installation(enterprise_id, team_id, org_wide)


# --- slash commands ----------------------------------------------------------------------------


class SlashCommand(_Model):
    kind: ClassVar[str] = "command"

    command: Name
    text: CommandText
    team_id: SlackId
    user_id: SlackId
    trigger_id: Token
    enterprise_id: OptionalId = None
    is_enterprise_install: Literal["true", "false"] | None = None
    response_url: ResponseUrl | None = None
    channel_id: OptionalId = None  # where it was typed: `--from-channel` alone means this one

    @property
    def installation(self) -> Installation:
        org_wide = self.is_enterprise_install == "true"
        return _installation(self.enterprise_id, self.team_id, org_wide)


# --- interactivity -----------------------------------------------------------------------------


class User(_Model):
    id: SlackId
    team_id: OptionalId = None


class Team(_Model):
    id: SlackId
    enterprise_id: OptionalId = None


class Enterprise(_Model):
    id: SlackId


class Option(_Model):
    value: Text


class Action(_Model):
    action_id: Name
    value: Text | None = None
    selected_option: Option | None = None

    @property
    def chosen(self) -> str:
        """A button's value, or a select's chosen option's."""
        if self.value is not None:
            return self.value
        return self.selected_option.value if self.selected_option is not None else ""


class ElementState(_Model):
    """One input's state in `view.state.values`; other element types' fields are ignored."""

    type: Name
    value: Text | None = None
    selected_option: Option | None = None
    selected_options: list[Option] | None = None


class ViewState(_Model):
    values: dict[Name, dict[Name, ElementState]]


class View(_Model):
    id: SlackId
    type: Name
    callback_id: Annotated[str, StringConstraints(max_length=255), AfterValidator(_storable)] = ""
    private_metadata: Text = ""
    state: ViewState | None = None
    team_id: OptionalId = None
    app_installed_team_id: OptionalId = None


class SubmittedView(View):
    callback_id: Name
    state: ViewState


class ClosedView(View):
    callback_id: Name


class _Interaction(_Model):
    user: User
    team: Team | None = None
    enterprise: Enterprise | None = None
    is_enterprise_install: bool = False
    view: View | None = None

    @property
    def installation(self) -> Installation:
        """Bolt's order (`extract_team_id`, `extract_enterprise_id`): the view's installed
        team, the team, the user's team; the enterprise, the team's enterprise."""
        view = self.view
        team_id = (
            (view.app_installed_team_id if view else None)
            or (self.team.id if self.team else None)
            or self.user.team_id
            or (view.team_id if view else None)
        )
        enterprise_id = (self.enterprise.id if self.enterprise else None) or (
            self.team.enterprise_id if self.team else None
        )
        return _installation(enterprise_id, team_id, self.is_enterprise_install)


class BlockActions(_Interaction):
    kind: ClassVar[str] = "block_actions"

    type: Literal["block_actions"]
    trigger_id: Token
    actions: Annotated[list[Action], Field(min_length=1, max_length=25)]
    response_url: ResponseUrl | None = None


class ViewSubmission(_Interaction):
    kind: ClassVar[str] = "view_submission"

    type: Literal["view_submission"]
    trigger_id: Token
    view: SubmittedView


class ViewClosed(_Interaction):
    kind: ClassVar[str] = "view_closed"

    type: Literal["view_closed"]
    view: ClosedView


# --- Events API --------------------------------------------------------------------------------


class Authorization(_Model):
    enterprise_id: OptionalId = None
    team_id: OptionalId = None
    is_enterprise_install: bool = False


class AppHomeOpened(_Model):
    type: Literal["app_home_opened"]
    user: SlackId
    tab: Name = "home"


class AppUninstalled(_Model):
    type: Literal["app_uninstalled"]


class Tokens(_Model):
    oauth: list[SlackId] = []
    bot: list[SlackId] = []


class TokensRevoked(_Model):
    type: Literal["tokens_revoked"]
    tokens: Tokens


class TeamAccessRevoked(_Model):
    type: Literal["team_access_revoked"]
    team_ids: Annotated[list[SlackId], Field(max_length=10_000)]


class MessageEvent(_Model):
    """A message in the app's DM (the `im:history` scope): acknowledged, nothing read."""

    type: Literal["message"]


SlackEvent = Annotated[
    AppHomeOpened | AppUninstalled | TokensRevoked | TeamAccessRevoked | MessageEvent,
    Field(discriminator="type"),
]
EVENT_MODELS: dict[str, type[_Model]] = {
    "app_home_opened": AppHomeOpened,
    "app_uninstalled": AppUninstalled,
    "tokens_revoked": TokensRevoked,
    "team_access_revoked": TeamAccessRevoked,
    "message": MessageEvent,
}


class EventCallback(_Model):
    kind: ClassVar[str] = "event"

    type: Literal["event_callback"]
    event_id: Token
    event: SlackEvent
    team_id: OptionalId = None
    enterprise_id: OptionalId = None
    authorizations: Annotated[list[Authorization], Field(max_length=100)] | None = None

    @property
    def installation(self) -> Installation:
        """`authorizations[0]` names the installation the event was delivered for, as Bolt
        reads it, also when the envelope's `team_id` is null (org-wide apps) or another
        workspace's (shared channels); the envelope's fields only when there is none."""
        first = self.authorizations[0] if self.authorizations else None
        if first is not None and (first.enterprise_id or first.team_id):
            return _installation(first.enterprise_id, first.team_id, first.is_enterprise_install)
        return _installation(self.enterprise_id, self.team_id, False)


# --- the rest: handshakes, throttling, events nobody subscribed to -----------------------------


class UrlVerification(_Model):
    kind: ClassVar[str] = "url_verification"

    type: Literal["url_verification"]
    challenge: Annotated[str, StringConstraints(min_length=1, max_length=MAX_CHALLENGE)]


class SslCheck(_Model):
    kind: ClassVar[str] = "ssl_check"

    ssl_check: Literal["1"]


class AppRateLimited(_Model):
    """Slack holds back this app's events for a workspace for the rest of a minute."""

    kind: ClassVar[str] = "app_rate_limited"

    type: Literal["app_rate_limited"]
    team_id: OptionalId = None


@dataclass(frozen=True, slots=True)
class IgnoredEvent:
    """A well-formed event of a type the bot does not handle (e.g. `team_access_granted`):
    acknowledged, so Slack does not retry it."""

    kind: ClassVar[str] = "ignored"
    event_type: str


Request = (
    SlashCommand
    | BlockActions
    | ViewSubmission
    | ViewClosed
    | EventCallback
    | UrlVerification
    | SslCheck
    | AppRateLimited
    | IgnoredEvent
)
M = TypeVar("M", bound=_Model)


# --- parsing -----------------------------------------------------------------------------------


def parse_request(
    body: bytes, content_type: str, *, response_origins: Origins = SLACK_RESPONSE_ORIGINS
) -> Request:
    """An HTTP body as Slack posts it, or `MalformedPayload`. `response_origins`: where a
    `response_url` may point (scheme, host[:port])."""
    context = {"response_origins": response_origins}
    if len(body) > MAX_BODY_BYTES:
        raise MalformedPayload(f"the request is over {MAX_BODY_BYTES} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedPayload("the request is not UTF-8") from None
    media_type = content_type.split(";")[0].strip().lower()
    # Bolt's rule for what is JSON, so both read a body the same way.
    if media_type == "application/json" or text.startswith("{"):
        return _envelope(_load_json(text, "the request"), context)
    form = _form(text)
    if "payload" in form:
        if "command" in form:
            raise MalformedPayload("a form with both payload and command")
        return _interaction(_load_json(form["payload"], "payload"), context)
    if "command" in form:
        return _validate(SlashCommand, form, "", context)
    if "ssl_check" in form:
        return _validate(SslCheck, form, "", context)
    raise MalformedPayload("not a Slack request")


def parse_data(data: object, *, response_origins: Origins = SLACK_RESPONSE_ORIGINS) -> Request:
    """A body Bolt already holds as a dict (Socket Mode): the same checks, minus the text's."""
    context = {"response_origins": response_origins}
    if not isinstance(data, Mapping):
        raise MalformedPayload("the request is not an object")
    if "command" in data:
        return _validate(SlashCommand, data, "", context)
    if data.get("type") in INTERACTIONS:
        return _interaction(data, context)
    return _envelope(data, context)


def _form(text: str) -> dict[str, str]:
    """`parse_qsl(text, keep_blank_values=True, errors="strict", max_num_fields=…)`, read
    in one pass: the same pairs and the same refusals (too many fields, percent-escapes that
    are not UTF-8, a key given twice), at about a third of the cost (parse_qsl was a tenth of
    `/rut help`'s CPU).

    Decoded whole, then split, unless an escape stands for a separator (`%26` is `&`, `%3D`
    is `=`; a command's text may hold them): an escape is `%` and two hex digits, so none
    straddles a raw `&` or `=`; decoding turns no other text into one; and an ASCII
    separator can neither complete nor continue a UTF-8 sequence, so the whole decodes
    exactly when every name and value does, into the same names and values."""
    if text.count("&") >= MAX_FORM_FIELDS:  # parse_qsl counts empty fields too
        raise MalformedPayload("the form cannot be read")
    try:
        if "%26" in text or "%3D" in text or "%3d" in text:  # an escaped separator
            fields = [field.partition("=") for field in text.split("&") if field]
            fields = [(_unquote_plus(name), _, _unquote_plus(value)) for name, _, value in fields]
        else:
            text = _unquote_plus(text)
            fields = [field.partition("=") for field in text.split("&") if field]
    except UnicodeError:  # percent-escapes that are not UTF-8
        raise MalformedPayload("the form cannot be read") from None
    form = {name: value for name, _, value in fields}
    if len(form) < len(fields):
        counts = Counter(name for name, _, _ in fields)
        names = ", ".join(_safe(name) for name, count in sorted(counts.items()) if count > 1)
        raise MalformedPayload(f"form keys given more than once: {names}")
    return form


def _unquote_plus(text: str) -> str:
    """`urllib.parse.unquote_plus` with strict UTF-8. The escapes are decoded with the text
    around them in one go, which fails exactly where `unquote`'s run by run does: a raw
    character's UTF-8 never starts with a continuation byte, nor completes a sequence an
    escape began."""
    if "+" in text:
        text = text.replace("+", " ")
    return unescaped(text).decode("utf-8") if "%" in text else text


_NOT_AN_ESCAPE = re.compile(r"%(?![0-9A-Fa-f]{2})")


def unescaped(text: str) -> bytes:
    """`urllib.parse.unquote_to_bytes(text)`, at C speed where it can be: a check-in's form
    is 2.5 kB of percent-escaped JSON, a thousand escapes, and `unquote_to_bytes` reads them
    one by one in Python (80 µs, a twentieth of a submission's CPU).

    Every escape is `%` and two hex digits, which is quoted-printable's `=XY` with another
    sign: with each raw `=` written `=3D` and each `%` turned into `=`, `binascii.a2b_qp`
    decodes the same bytes. A `%` that is not an escape (kept as it is by `unquote_to_bytes`,
    and a soft line break or a literal to quoted-printable) sends the text the slow way
    (tests/test_slack_input.py holds the two to the same bytes)."""
    if _NOT_AN_ESCAPE.search(text):
        return unquote_to_bytes(text)
    raw = text.encode("utf-8")
    return a2b_qp(raw.replace(b"=", b"=3D").replace(b"%", b"="))


def _load_json(text: str, what: str) -> object:
    if json_depth(text, MAX_DEPTH) > MAX_DEPTH:
        raise MalformedPayload(f"{what} is nested deeper than {MAX_DEPTH}")
    try:
        return json.loads(text, object_pairs_hook=_unique_keys)
    except _RepeatedKey as exc:
        raise MalformedPayload(f"{what} repeats the key {_safe(str(exc))}") from None
    except (ValueError, RecursionError):  # JSONDecodeError, or an integer too long to read
        raise MalformedPayload(f"{what} is not JSON") from None


class _RepeatedKey(Exception):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> JSON:
    out: JSON = {}
    for key, value in pairs:
        if key in out:
            raise _RepeatedKey(key)
        out[key] = value
    return out


_JSON_SPECIAL = re.compile(r'[\\"\[\]{}]')
_PLAIN_STRING = re.compile(r'"[^"]*"')  # a string without an escaped quote in it
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_AS_PARENS = str.maketrans("[{]}", "(())")


def json_depth(text: str, limit: int) -> int:
    """How deep a JSON text nests arrays and objects, read without parsing it (brackets in
    strings do not count), stopping as soon as it passes `limit`.

    Where no quote is escaped, every quote opens or closes a string: the strings are cut
    out and what is left of the brackets is read level by level, innermost pairs first,
    by the regular-expression and string machinery (a fifth of the cost of reading it
    character by character, which was five times `json.loads`'s own). Anything else (an
    escaped quote; a string left open or brackets that do not pair up: not JSON anyway) is
    read character by character (`_scanned_depth`)."""
    if '\\"' in text:
        return _scanned_depth(text, limit)
    outside = _PLAIN_STRING.sub("", text)
    if '"' in outside:  # a string left open
        return _scanned_depth(text, limit)
    brackets = _NOT_BRACKETS.sub("", outside).translate(_AS_PARENS)
    depth = 0
    while brackets and depth <= limit:
        inner_gone = brackets.replace("()", "")
        if len(inner_gone) == len(brackets):
            return _scanned_depth(text, limit)
        brackets = inner_gone
        depth += 1
    return depth


def _scanned_depth(text: str, limit: int) -> int:
    depth = deepest = 0
    in_string = False
    skip = -1
    for match in _JSON_SPECIAL.finditer(text):
        at = match.start()
        if at == skip:
            continue
        char = match.group()
        if in_string:
            if char == "\\":
                skip = at + 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    break
        elif char in "]}":
            depth -= 1
    return deepest


def _interaction(data: object, context: JSON) -> Request:
    if not isinstance(data, Mapping):
        raise MalformedPayload("payload is not an object")
    kind = data.get("type")
    if kind == "block_actions":
        return _validate(BlockActions, data, "payload", context)
    if kind == "view_submission":
        return _validate(ViewSubmission, data, "payload", context)
    if kind == "view_closed":
        return _validate(ViewClosed, data, "payload", context)
    raise MalformedPayload(f"payload.type: unsupported interaction {_safe_value(kind)}")


def _envelope(data: object, context: JSON) -> Request:
    if not isinstance(data, Mapping):
        raise MalformedPayload("the request is not a JSON object")
    kind = data.get("type")
    if kind == "event_callback":
        event = data.get("event")
        if not isinstance(event, Mapping):
            raise MalformedPayload("event: Input should be an object")
        event_type = event.get("type")
        if not isinstance(event_type, str):
            raise MalformedPayload("event.type: Input should be a valid string")
        model = EVENT_MODELS.get(event_type)
        if model is None:
            _validate(_Envelope, data, "", context)  # still a well-formed, signed envelope
            return IgnoredEvent(_safe(event_type))
        # The event first, so that a problem is named `event.user`, not by the union's tag.
        checked = _validate(model, event, "event", context)
        return _validate(EventCallback, {**data, "event": checked}, "", context)
    if kind == "url_verification":
        return _validate(UrlVerification, data, "", context)
    if kind == "app_rate_limited":
        return _validate(AppRateLimited, data, "", context)
    raise MalformedPayload(f"type: unknown envelope type {_safe_value(kind)}")


class _Envelope(_Model):
    """What an event of any type must carry: its id and an installation."""

    type: Literal["event_callback"]
    event_id: Token
    team_id: OptionalId = None
    enterprise_id: OptionalId = None
    authorizations: Annotated[list[Authorization], Field(max_length=100)] | None = None


def _validate(model: type[M], data: object, where: str, context: JSON) -> M:
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise MalformedPayload(_describe(exc, where)) from None


def _describe(exc: ValidationError, where: str) -> str:
    """The first problem, as `field.path: what is wrong`; never the value itself."""
    error = exc.errors(include_url=False, include_input=False, include_context=False)[0]
    path = where
    for part in error["loc"]:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += ("." if path else "") + _safe(str(part))
    message = str(error["msg"])
    return f"{path or 'the request'}: {message}"


_UNSAFE = re.compile(r"[^A-Za-z0-9_.#:/-]")


def _safe(text: str, limit: int = 40) -> str:
    """A name from the request fit for a log line: plain ASCII, short."""
    cleaned = _UNSAFE.sub("?", text)
    return cleaned if len(cleaned) <= limit else cleaned[:limit] + "…"


def _safe_value(value: object) -> str:
    return repr(_safe(value)) if isinstance(value, str) else type(value).__name__


# --- what Bolt is handed ---------------------------------------------------------------------


def bolt_body(request: Request) -> JSON:
    """The body Bolt routes, authorizes and builds its context from: the validated fields
    only, in Slack's shape (`None`s left out, as Slack leaves out what does not apply), as
    the dict Bolt keeps a parsed body in (`AsyncBoltRequest.body`). A dict rather than JSON
    text: Bolt would only parse the text back into this dict (serializing and parsing were
    a fiftieth of `/rut help`'s CPU)."""
    if isinstance(request, IgnoredEvent):
        raise TypeError("an ignored event is not handed to Bolt")
    return request.model_dump(exclude_none=True)


def form_state(view: View) -> dict[str, dict[str, JSON]]:
    """`view.state.values` as plain dicts, for `render.form_values`."""
    if view.state is None:
        return {}
    return {
        block: {action: state.model_dump(exclude_none=True) for action, state in actions.items()}
        for block, actions in view.state.values.items()
    }


def where(team_id: str, user_id: str) -> ConversationRef:
    """A person's DM: chat.postMessage to the user id opens it."""
    return ConversationRef(PLATFORM, team_id, user_id)


__all__: Sequence[str] = (
    "PLATFORM",
    "SLACK_RESPONSE_ORIGINS",
    "AppHomeOpened",
    "AppRateLimited",
    "BlockActions",
    "EventCallback",
    "IgnoredEvent",
    "Installation",
    "MalformedPayload",
    "Request",
    "SlashCommand",
    "SslCheck",
    "TeamAccessRevoked",
    "TokensRevoked",
    "UrlVerification",
    "ViewClosed",
    "ViewSubmission",
    "bolt_body",
    "form_state",
    "installation_key",
    "origin_of",
    "parse_data",
    "parse_request",
    "where",
)
