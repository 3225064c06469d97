"""The answer links' real adapters, wired by bootstrap: the link key (from the settings, a mounted
Secret in production; in development and tests a random key made once under .state/reports),
the recipients stream and the notifier's messages, both with this service's own token."""

from __future__ import annotations

from datetime import timedelta

from prometheus_client import Counter
from pymongo.database import Database

from reports.adapters.link_rounds import LinkRounds
from reports.answer_links import AnswerLinks
from reports.link_sending import LinkSender, Messages, districts_of
from reports.ports import FormStore
from reports.settings import ReportsSettings
from shared.notifier_messages import NotifierMessages
from shared.orgtree.repository import OrgRegistry
from shared.recipients import RecipientSource

REFUSED = Counter(
    "sangathan_reports_link_messages_refused", "Answer links the notifier refused as unsendable"
)


def link_key(settings: ReportsSettings) -> bytes:
    return settings.key(
        settings.link_secret,
        settings.link_secret_file,
        development_file="reports/link.key",
        what="the answer-link key",
    )


def answer_links(settings: ReportsSettings) -> AnswerLinks:
    return AnswerLinks(link_key(settings), settings.public_url)


def link_sender(
    settings: ReportsSettings,
    db: Database,
    forms: FormStore,
    links: AnswerLinks,
    *,
    recipients: RecipientSource,
    registry: OrgRegistry,
    messages: Messages | None = None,
) -> LinkSender:
    token = settings.token_file
    return LinkSender(
        LinkRounds(db),
        forms,
        recipients,
        messages
        or NotifierMessages(
            settings.notifier_url, token, settings.notifier_timeout_s, refused=REFUSED
        ),
        links,
        grace=timedelta(hours=settings.link_grace_h),
        lane=settings.link_lane,
        channel=settings.link_channel,
        interval_s=settings.link_interval_s,
        districts=districts_of(lambda unit: [child["id"] for child in registry.children(unit)]),
    )
