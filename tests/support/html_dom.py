"""A minimal DOM for assertions on the rendered report (stdlib ``HTMLParser``, no browser)."""

from __future__ import annotations

import re
from html.parser import HTMLParser


class Dom(HTMLParser):
    """Just enough DOM for assertions: every element's tag, attributes, and text (including descendants)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[dict] = []
        self._stack: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        el = {"tag": tag, "attrs": dict(attrs), "text": ""}
        self.elements.append(el)
        if tag not in {"meta", "br", "hr", "img", "input", "link"}:  # void elements never close
            self._stack.append(el)

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i]["tag"] == tag:
                del self._stack[i:]
                return

    def handle_data(self, data: str) -> None:
        for el in self._stack:
            el["text"] += data

    def find(self, tag: str | None = None, **attrs: str) -> list[dict]:
        return [
            e
            for e in self.elements
            if (tag is None or e["tag"] == tag)
            and all(e["attrs"].get(k.replace("_", "-")) == v for k, v in attrs.items())
        ]

    def by_id(self, element_id: str) -> dict:
        (el,) = [e for e in self.elements if e["attrs"].get("id") == element_id]
        return el


def section_html(html: str, section_id: str) -> str:
    match = re.search(rf'<section[^>]*id="{section_id}".*?</section>', html, re.S)
    assert match, f"section {section_id} missing"
    return match.group(0)


def table_rows(section: str) -> list[str]:
    body = re.search(r"<tbody>(.*)</tbody>", section, re.S)
    assert body
    return re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)


def card(dom: Dom, metric: str) -> dict:
    """The summary card showing ``metric`` (exactly one)."""
    (found,) = dom.find("div", data_metric=metric)
    return found
