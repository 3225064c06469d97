"""What a recipient reads, per language: a directive's title and body with its acknowledgement
link, a reminder, an OTP code's text, or a text another service wrote for them (`personal`).
Channel adapters shape it into each provider's request; wording is fixed around variables, as
India's DLT templates require."""

from __future__ import annotations

from dataclasses import dataclass

WHOLE_TEXTS = ("otp", "personal")  # sent as written: no title, no link


@dataclass(frozen=True)
class Message:
    kind: str  # directive | reminder | otp | personal
    language: str
    title: str
    body: str
    link: str | None = None  # the acknowledgement link, for directives

    def sms_text(self, limit: int = 300) -> str:
        """SMS carries the title and the link; the body is in the link's page and on WhatsApp."""
        if self.kind in WHOLE_TEXTS:
            return self.body
        title = _cut(self.title, 60)
        if self.language == "hi":
            lead = "संगठन निर्देश" if self.kind == "directive" else "संगठन अनुस्मारक"
            text = f"{lead}: {title}। पढ़ें और पुष्टि करें: {self.link}"
        else:
            lead = "Sangathan directive" if self.kind == "directive" else "Sangathan reminder"
            text = f"{lead}: {title}. Read and confirm: {self.link}"
        return _cut(text, limit)


def language_of(locale: str, available: dict[str, str]) -> str:
    """The recipient's language if the text has it (hi-IN -> hi), else English."""
    language = locale.split("-")[0].lower()
    return language if language in available else "en"


def directive_message(
    *, title: dict[str, str], body: dict[str, str], locale: str, link: str, reminder: bool = False
) -> Message:
    language = language_of(locale, title)
    body_text = body.get(language, body["en"])
    return Message(
        "reminder" if reminder else "directive", language, title[language], body_text, link
    )


def whole_text(kind: str, text: str, locale: str) -> Message:
    """A text its writer finished for one recipient (an OTP code's, a meeting invitation's)."""
    return Message(kind, locale.split("-")[0].lower(), "", text)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
