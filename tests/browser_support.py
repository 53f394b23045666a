"""Driving the pages as a person does (sync and async Playwright), and what a page must never show: an untranslated key,
a raw enum value, words in the other language's script, a console error, a failed request,
button text wrapped onto several lines or a name cut in two at 1366x768."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from enum import StrEnum

from playwright.async_api import Browser as AsyncBrowser
from playwright.async_api import Page as AsyncPage
from playwright.sync_api import Browser, Page

from telemed.demo import USERS
from telemed.i18n import messages
from tests.conftest import PASSWORD

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]
VIEWPORT = {"width": 1366, "height": 768}
# How long to wait for a page or an element: long, because the machines that run the suite are
# sometimes very busy (this is patience, not a measured limit).
TIMEOUT_MS = 120_000
PASSWORDS = {user[0]: user[1] for user in USERS}
HAN = re.compile(r"[\u3400-\u9fff]+")
# Chinese an English page may show: the name of the Chinese language in the language switch.
HAN_ALLOWED = {"中文"}
LATIN_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
# Latin a Chinese page may show: units as people write them, codes and abbreviations clinicians
# use, the name of the English language, the time zone's name.
LATIN_ALLOWED = {
    "mmHg", "kg", "cm", "m", "mmol", "umol", "µmol", "mol", "g", "L", "dL", "mL", "U", "IU", "min", "bpm", "mg",
    "BMI", "HbA1c", "SpO", "pH", "ID", "PDF", "CSV", "ZIP", "XLSX", "HL7", "MLLP", "LOINC", "ICD", "ICD10", "FHIR",
    "fL", "pg", "anti", "a", "e", "hs", "English", "Asia", "Shanghai", "Mindray",
}  # "e": of the hepatitis B e antigen, written so in Chinese (乙肝e抗原)
# Abbreviations (two capitals or more: MCHC, HBsAg, NEUT) and element or antigen symbols (Na, Ag).
CODE_WORD = re.compile(r"(?:[A-Za-z]*[A-Z][A-Za-z]*[A-Z][A-Za-z0-9]*|[A-Z][a-z]?\d*)")
FILE_NAME = re.compile(r"[\w.-]+\.(?:csv|xlsx|pdf|zip)\b")  # a file's name is a code people use
ENUM_MODULES = ("telemed.models", "reports.models", "webrtc.models", "telemed.policy", "custody.models")


def enum_values() -> set[str]:
    found: set[str] = set()
    for name in ENUM_MODULES:
        for value in vars(importlib.import_module(name)).values():
            if isinstance(value, type) and issubclass(value, StrEnum) and value is not StrEnum:
                found.update(member.value for member in value)
    return found


ENUMS = enum_values()
# Values that read as codes wherever they appear (a hyphen or underscore inside a word).
CODE_LIKE = re.compile("|".join(rf"(?<![\w-]){re.escape(v)}(?![\w-])" for v in sorted(ENUMS) if re.search(r"[-_]", v)))

SCAN = """names => {
  const known = new Set(names);
  const out = [];
  const lines = (node) => {
    const range = document.createRange(); range.selectNodeContents(node);
    return new Set([...range.getClientRects()].filter(r => r.width > 0).map(r => Math.round(r.top))).size;
  };
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const text = node.textContent.trim();
    const parent = node.parentElement;
    if (!text || !parent || ["SCRIPT", "STYLE", "CODE", "TEXTAREA"].includes(parent.tagName)) continue;
    if (parent.tagName !== "OPTION" && !parent.checkVisibility()) continue;
    const button = parent.closest("button, a.button, .badge, th");
    const watch = (button && button.textContent.trim().length <= 40) || known.has(text);
    out.push({ text, where: parent.tagName.toLowerCase() + (parent.id ? "#" + parent.id : ""),
               lines: watch && parent.tagName !== "OPTION" ? lines(node) : 1, watch });
  }
  for (const el of document.querySelectorAll("[placeholder], [title], [aria-label]")) {
    for (const attr of ["placeholder", "title", "aria-label"]) {
      const value = el.getAttribute(attr);
      if (value) out.push({ text: value, where: `${el.tagName.toLowerCase()}[${attr}]`, lines: 1, watch: false });
    }
  }
  out.push({ text: document.title, where: "title", lines: 1, watch: false });
  return out;
}"""


@dataclass
class Watch:
    """Everything a page's console and network said that a person would call broken."""

    problems: list[str] = field(default_factory=list)

    def attach(self, page: Page) -> None:
        page.on("console", lambda m: m.type == "error" and self.problems.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self._failed(r))
        page.on("response", lambda r: r.status >= 400 and self.problems.append(f"{r.status} {r.url}"))

    def _failed(self, request) -> None:
        # a navigation away cancels the last page's pending fetches and sockets: not a failure
        if request.failure not in ("net::ERR_ABORTED",):
            self.problems.append(f"failed {request.url}: {request.failure}")


def login(browser: Browser, base: str, username: str, lang: str, watch: Watch | None = None) -> Page:
    context = browser.new_context(viewport=VIEWPORT, locale="zh-CN" if lang == "zh-CN" else "en-US")
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    if watch is not None:
        watch.attach(page)
    page.goto(f"{base}/lang?to={lang}&next=/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORDS[username])
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(f"{base}/", wait_until="domcontentloaded")
    return page


@dataclass
class Data:
    """What the database holds, i.e. not the pages' own words: names and free text."""

    han: set[str]
    latin: set[str]
    names: list[str]
    exact: set[str]  # stored values (a username "admin" is no raw role)


def wrong_words(text: str, lang: str, data: Data) -> list[str]:
    if lang == "en":
        return [run for run in HAN.findall(text)
                if run not in HAN_ALLOWED and not any(run in known for known in data.han)]
    return [word for word in LATIN_WORD.findall(HAN.sub(" ", FILE_NAME.sub(" ", text)))
            if word not in LATIN_ALLOWED and word not in data.latin and not CODE_WORD.fullmatch(word)]


def page_problems(page: Page, lang: str, data: Data) -> list[str]:
    """What the page shows that it must not (see the module's docstring)."""
    found: list[str] = []
    for item in page.evaluate(SCAN, data.names):
        text, where = item["text"], item["where"]
        if "⟦" in text:
            found.append(f"untranslated {text!r} in {where}")
        meant = text in messages(lang).values()  # "open" is English for an active request, not a raw value
        if text not in data.exact and not meant and (text in ENUMS or CODE_LIKE.search(text)):
            found.append(f"raw value {text!r} in {where}")
        for word in wrong_words(text, lang, data):
            found.append(f"wrong script {word!r} in {text[:60]!r} ({where})")
        if item["watch"] and item["lines"] > 1:
            found.append(f"wrapped over {item['lines']} lines: {text!r} ({where})")
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    if overflow > 0:
        found.append(f"the page is {overflow}px wider than the window")
    return found


# The asynchronous API, for tests that run the server in their own event loop.
async def launch(playwright) -> AsyncBrowser:
    return await playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)


async def signed_in(browser: AsyncBrowser, base: str, user: str, lang: str, viewport: dict | None = None) -> AsyncPage:
    """A new page (browser locale ``lang``) of ``user``, logged in, on the home page."""
    page = await (await browser.new_context(viewport=viewport or VIEWPORT, locale=lang)).new_page()
    await page.goto(f"{base}/lang?to={lang}&next=/login")
    await page.fill("input[name=username]", user)
    await page.fill("input[name=password]", PASSWORD)
    await page.click("button[type=submit]")
    await page.wait_for_url(f"{base}/", wait_until="domcontentloaded")
    return page


def watch(page: AsyncPage) -> list[str]:
    """Script errors, console errors and failed requests of the page (the browser's own favicon
    fetch is not the page's: it raises no response event)."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" and
            not m.text.startswith("Failed to load resource") else None)
    # a navigation away cancels the last page's pending fetches: not a failure
    page.on("requestfailed", lambda r: problems.append(f"failed {r.url}") if r.failure != "net::ERR_ABORTED" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on("response", lambda r: problems.append(f"{r.status} {r.url.split('/', 3)[-1]}") if r.status >= 400 else None)
    return problems
