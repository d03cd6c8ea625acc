"""The web page at /: served without a CDN, and used for real in headless Chromium."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from api_support import ANSWER, KEY, QUESTION, LiveServer, RealServer
from fastapi.testclient import TestClient

STATIC = Path(__file__).resolve().parents[2] / "api" / "static"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip

# Records how the answer of a turn grew while it still showed the streamed draft.
WATCH_DRAFT = """() => {
  window.draftUpdates = 0;
  window.draftText = "";
  const thread = document.getElementById("thread");
  new MutationObserver(() => {
    const box = thread.querySelector(".answer.draft");
    if (box && box.textContent) {
      window.draftUpdates += 1;
      window.draftText = box.textContent;
    }
  }).observe(thread, { childList: true, characterData: true, subtree: true });
}"""


def test_the_page_and_its_files_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text):
        assert client.get(asset).status_code == 200, asset


def test_nothing_is_loaded_from_another_host() -> None:
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]{2,}/", text, re.I), path.name


@pytest.mark.integration
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_ask_in_a_browser_and_click_a_citation(real_server: RealServer) -> None:
    from playwright.sync_api import expect, sync_playwright

    real_server.wait_idle()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            external: list[str] = []
            page.on(
                "request",
                lambda r: None if r.url.startswith(real_server.url) else external.append(r.url),
            )
            page.goto(real_server.url + "/")
            # Without the key the document list is refused, and the page asks for it.
            expect(page.locator("#key")).to_be_visible()
            page.fill("#key", KEY)
            page.dispatch_event("#key", "change")
            expect(page.locator("#docs li")).to_have_count(5)

            page.evaluate(WATCH_DRAFT)
            page.fill("#question", QUESTION)
            page.click("#ask-button")
            cite = page.locator("#turn-1 .answer button.cite").first
            expect(cite).to_be_visible(timeout=120_000)
            expect(page.locator("#turn-1 .answer")).to_contain_text("2024")
            card = page.locator("#turn-1 .cards .card").first
            expect(card).to_contain_text("Iraq")
            expect(card.locator("blockquote")).not_to_be_empty()

            # The draft streamed in, token by token, before the checked answer replaced it.
            assert page.evaluate("window.draftUpdates") >= 2
            assert page.evaluate("window.draftText")

            cite.click()
            n = cite.inner_text().strip("[]")
            expect(page.locator(f"#turn-1-cite-{n}")).to_have_class(re.compile(r"\bactive\b"))
            assert external == []
        finally:
            browser.close()


SCREENSHOT = Path("/tmp/citation_click.png")
IN_VIEW = """(selector) => {
  const box = document.querySelector(selector).getBoundingClientRect();
  return box.top >= 0 && box.bottom <= window.innerHeight;
}"""


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_clicking_a_citation_opens_its_document_at_the_span(
    live: Callable[..., LiveServer],
) -> None:
    """Over fakes (no model): the click shows the document with exactly text[start:end]
    in a <mark>, the text around it, scrolled into view; a screenshot is kept."""
    from playwright.sync_api import expect, sync_playwright

    with live() as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            page.goto(server.url + "/")
            page.fill("#question", QUESTION)
            page.click("#ask-button")
            cite = page.locator("#turn-1 .answer button.cite").first
            expect(cite).to_be_visible(timeout=30_000)
            cite.click()
            mark = page.locator("#source-text mark")
            expect(mark).to_be_visible()
            citation = page.evaluate("turns[0].answer.citations[0]")
            with httpx.Client(base_url=server.url) as client:
                whole = client.get(f"/v1/documents/{citation['doc_id']}/text").json()["text"]
            assert mark.inner_text() == whole[citation["start"] : citation["end"]] == ANSWER
            body = page.locator("#source-text").inner_text()
            assert body.startswith("US leaves Iraq") and "coalition mission" in body
            expect(page.locator("#source-title")).to_have_text("US leaves Iraq")
            assert page.evaluate(IN_VIEW, "#source-text mark")
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()


FOLLOW_UP = "And when was that?"
FOCUSED = "() => document.activeElement && document.activeElement.id"


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium at /usr/bin/chromium")
def test_a_follow_up_keeps_the_thread_and_carries_its_history(
    live: Callable[..., LiveServer], tmp_path: Path
) -> None:
    """Over fakes: two turns stay on screen, the second request carries the first question
    as history, the first turn's citation still opens its document, and "New conversation"
    empties the thread so the next question goes without history."""
    from playwright.sync_api import Request, expect, sync_playwright

    sent: list[dict[str, object]] = []

    def record(request: Request) -> None:
        if request.method == "POST" and request.url.endswith("/v1/ask"):
            sent.append(request.post_data_json)

    with live() as server, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            page.on("request", record)
            page.goto(server.url + "/")
            expect(page.locator("#thread-box")).to_be_hidden()

            page.fill("#question", QUESTION)
            page.press("#question", "Enter")
            expect(page.locator("#turn-1 .answer button.cite")).to_be_visible(timeout=30_000)
            assert page.input_value("#question") == ""
            page.wait_for_function(f"({FOCUSED})() === 'question'")

            page.fill("#question", FOLLOW_UP)
            page.click("#ask-button")
            expect(page.locator("#turn-2 .answer button.cite")).to_be_visible(timeout=30_000)
            page.wait_for_function(f"({FOCUSED})() === 'question'")

            turns = page.locator("#thread > .turn")
            expect(turns).to_have_count(2)
            expect(turns.nth(0).locator(".asked")).to_have_text(f"You asked: {QUESTION}")
            expect(turns.nth(1).locator(".asked")).to_have_text(f"You asked: {FOLLOW_UP}")
            for i in range(2):
                expect(turns.nth(i).locator(".answer")).to_have_text(f"{ANSWER} [1]")
                expect(turns.nth(i).locator(".cards .card")).to_have_count(1)
            assert [body.get("history") for body in sent] == [[], [QUESTION]]
            # The server searched the follow-up with the question it leans on.
            asked = page.evaluate("turns.map((t) => t.answer.question)")
            assert asked == [QUESTION, f"When was that? (context: {QUESTION})"]
            expect(page.locator("#question")).to_have_attribute("placeholder", "Ask a follow-up…")

            # The earlier turn's citation still opens its document at the span.
            turns.nth(0).locator(".answer button.cite").click()
            expect(page.locator("#source-text mark")).to_have_text(ANSWER)
            expect(page.locator("#turn-1-cite-1")).to_have_class(re.compile(r"\bactive\b"))
            page.screenshot(path=str(tmp_path / "thread.png"), full_page=True)

            new = page.get_by_role("button", name="New conversation")
            new.click()
            expect(page.locator("#thread > .turn")).to_have_count(0)
            expect(page.locator("#thread-box")).to_be_hidden()
            expect(page.locator("#source-box")).to_be_hidden()
            assert page.evaluate(FOCUSED) == "question"

            page.fill("#question", FOLLOW_UP)
            page.press("#question", "Enter")
            expect(page.locator("#turn-1 .answer")).not_to_have_class(re.compile(r"\bdraft\b"))
            expect(page.locator("#thread > .turn")).to_have_count(1)
            assert sent[-1].get("history") == []
        finally:
            browser.close()
