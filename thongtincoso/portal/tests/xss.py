"""Stored-XSS payloads and the checks that a page or feed carries none of them as markup."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from html.parser import HTMLParser

PAYLOADS = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "<svg onload=alert(3)>",
    '<a href="javascript:alert(4)">bấm vào đây</a>',
    "</title><script>alert(5)</script>",
    "]]><script>alert(6)</script><![CDATA[",
    '<div style="width:expression(alert(7))">x</div>',
    '<iframe srcdoc="<script>alert(8)</script>"></iframe>',
    "&lt;script&gt;alert(9)&lt;/script&gt;",
    "&#60;script&#62;alert(10)&#60;/script&#62;",
    "<<script>alert(11);//<</script>",
    "<scr<script>ipt>alert(12)</scr</script>ipt>",
    r"\u003cscript\u003ealert(13)\u003c/script\u003e",
    "＜script＞alert(14)＜/script＞",  # fullwidth brackets
    '<a href="jav&#x09;ascript:alert(15)">tab</a>',
    '<a href=" &#14;javascript:alert(16)">ctrl</a>',
    '"><img src=x onerror=alert(17)>',
    "'><svg/onload=alert(18)>",
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(19)>",
    '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgyMCk8L3NjcmlwdD4=">data</a>',
    '<object data="javascript:alert(21)"></object>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(22)">',
    "x\u202e<script>alert(23)</script>\u2028\ufeff",  # right-to-left override, separators
    "<details open ontoggle=alert(24)>",
    '<noscript><p title="</noscript><img src=x onerror=alert(25)>">',
    "{{ 7*7 }}{% debug %}<script>alert(26)</script>",
    '<a href="https://example.org" onclick="alert(27)">link</a>',
    '<form action="javascript:alert(28)"><button>go</button></form>',
    "<body onload=alert(29)>",
    '<base href="javascript:alert(30)//">',
]

# What our own templates produce; anything else in a page came from a payload.
ALLOWED_TAGS = {
    "html", "head", "meta", "title", "link", "body", "header", "main", "footer", "nav", "section",
    "article", "div", "p", "span", "strong", "em", "b", "i", "u", "s", "sub", "sup", "small",
    "blockquote", "a", "ul", "ol", "li", "dl", "dt", "dd", "h1", "h2", "h3", "h4", "table",
    "thead", "tbody", "tr", "th", "td", "hr", "br", "form", "label", "input", "button", "time",
    "figure", "figcaption", "audio", "img",
}  # fmt: skip
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "data", "poster", "xlink:href", "srcset"}
BAD_SCHEMES = ("javascript:", "vbscript:", "data:")


class MarkupAudit(HTMLParser):
    """Collects every element and attribute that could run script."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag not in ALLOWED_TAGS:
            self.problems.append(f"<{tag}> element")
        if tag == "meta" and any(name == "http-equiv" for name, _ in attrs):
            self.problems.append("<meta http-equiv>")
        for name, value in attrs:
            if name.startswith("on") or name in {"style", "srcdoc"}:
                self.problems.append(f"{name}= on <{tag}>")
            if name in URL_ATTRIBUTES and value is not None:
                # Browsers ignore whitespace and control characters inside a scheme.
                squeezed = "".join(ch for ch in value if ord(ch) > 0x20).lower()
                if squeezed.startswith(BAD_SCHEMES):
                    self.problems.append(f"{name}={value!r} on <{tag}>")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)


def html_problems(html: str) -> list[str]:
    audit = MarkupAudit()
    audit.feed(html)
    audit.close()
    problems = list(audit.problems)
    if "<script" in html.lower():
        problems.append("raw <script")
    return problems


def text_tags(fragment: str) -> list[str]:
    """Elements an HTML reader would build from a feed's description: must be none."""
    audit = MarkupAudit()
    audit.feed(fragment)
    audit.close()
    return audit.tags


def feed_problems(xml: bytes) -> list[str]:
    """Descriptions (HTML for readers) must hold text only; the XML must be well-formed."""
    problems = []
    root = ET.fromstring(xml)  # noqa: S314  (our own feed, in a test; raises if malformed)
    for element in root.iter():
        name = element.tag.rsplit("}", 1)[-1]
        if name in {"description", "summary", "content"} and element.text:
            tags = text_tags(element.text)
            if tags:
                problems.append(f"<{name}> would render {tags}: {element.text[:80]!r}")
        if name == "title" and element.get("type") in {"html", "xhtml"}:
            problems.append("an HTML title")
    if b"<script" in xml.lower():
        problems.append("raw <script")
    return problems
