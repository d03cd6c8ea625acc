// The page: ask a question, watch the answer stream in, check its citations, ask a
// follow-up (sent with the earlier questions as history), start a new conversation.
// No framework, no build step. Everything the server sends is shown with
// textContent, never parsed as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
const keyInput = $("key");
keyInput.value = localStorage.getItem("rag-key") || "";
keyInput.addEventListener("change", () => {
  localStorage.setItem("rag-key", keyInput.value.trim());
  loadDocs();
});

function headers(extra = {}) {
  const key = keyInput.value.trim();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

function setStatus(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

async function failure(response) {
  let message = `${response.status} ${response.statusText}`;
  try {
    const body = await response.json();
    if (body.error && body.error.message) message = body.error.message;
  } catch (_) { /* not JSON */ }
  if (response.status === 401) $("key-box").open = true;
  return new Error(message);
}

// -- Server-Sent Events over fetch (EventSource cannot POST) -------------------

async function* readEvents(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message";
      const data = [];
      for (const line of block.split("\n")) {
        if (line.startsWith("event:")) event = line.slice(6).trim();
        else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
      }
      if (data.length) yield { event, data: JSON.parse(data.join("\n")) };
    }
  }
}

// -- rendering -------------------------------------------------------------------

// "report.pdf p. 7" for a paged format (PDF), "notes.md:12" otherwise.
function where(source, line, page) {
  const name = source.startsWith("/") ? source.split("/").pop() : source;
  return page ? `${name} p. ${page}` : `${name}:${line}`;
}

// The cards of one turn: its citations, or the nearest passages of an abstention.
function renderCards(turn, items, title) {
  const list = turn.querySelector(".cards");
  const heading = turn.querySelector(".cards-title");
  list.replaceChildren();
  heading.textContent = title;
  heading.hidden = list.hidden = items.length === 0;
  items.forEach((item, i) => {
    const n = item.n || i + 1;
    const card = document.createElement("li");
    card.className = "card";
    card.id = `${turn.id}-${item.n ? "cite" : "hit"}-${n}`;
    card.dataset.n = String(n);
    const head = document.createElement("div");
    const badge = document.createElement("span");
    badge.className = "n";
    badge.textContent = `[${n}]`;
    const name = document.createElement("span");
    name.className = "title";
    name.textContent = item.title;
    head.append(badge, name);
    const quote = document.createElement("blockquote");
    quote.textContent = item.quote || item.text;
    const place = document.createElement("div");
    place.className = "where";
    place.textContent = where(item.source, item.line, item.page) + (item.date ? ` · ${item.date}` : "");
    const open = document.createElement("button");
    open.type = "button";
    open.className = "open";
    open.textContent = "open in document";
    open.addEventListener("click", () => openSource(item));
    place.append(" ", open);
    card.append(head, quote, place);
    list.append(card);
  });
}

// Citation n of a turn: its card marked, its document opened at the span.
function highlight(turn, citation) {
  for (const card of document.querySelectorAll(".card.active")) card.classList.remove("active");
  const card = document.getElementById(`${turn.id}-cite-${citation.n}`);
  if (card) card.classList.add("active");
  openSource(citation);
}

// -- a citation in its document ---------------------------------------------------

const SOURCE_CONTEXT = 4000;  // characters shown each side of the cited span

// The document around the span [start, end) (a citation's, or a passage's), the span
// itself in a <mark>: exactly text[start:end] of the document, scrolled into view.
async function openSource(item) {
  const params = new URLSearchParams({ start: item.start, end: item.end, context: SOURCE_CONTEXT });
  const url = `/v1/documents/${encodeURIComponent(item.doc_id)}/text?${params}`;
  const response = await fetch(url, { headers: headers() });
  if (!response.ok) {
    setStatus((await failure(response)).message, true);
    return;
  }
  const view = await response.json();
  const a = view.start - view.offset;
  const b = view.end - view.offset;
  const mark = document.createElement("mark");
  mark.id = "source-mark";
  mark.textContent = view.text.slice(a, b);
  const body = $("source-text");
  body.replaceChildren(
    document.createTextNode((view.offset > 0 ? "…" : "") + view.text.slice(0, a)),
    mark,
    document.createTextNode(view.text.slice(b) + (view.offset + view.text.length < view.length ? "…" : "")),
  );
  $("source-title").textContent = view.title;
  $("source-where").textContent = where(view.source, item.line || 1, view.page)
    + (view.exact ? "" : " · text rebuilt from the index");
  $("source-box").hidden = false;
  $("source-box").scrollIntoView({ block: "nearest" });
  mark.scrollIntoView({ block: "center" });
}

$("source-close").addEventListener("click", () => { $("source-box").hidden = true; });

function renderAnswer(turn, answer) {
  const box = turn.querySelector(".answer");
  box.classList.remove("draft");
  box.replaceChildren();
  const cited = new Map(answer.citations.map((c) => [String(c.n), c]));
  for (const part of answer.answer.split(/(\[\d+\])/)) {
    const m = /^\[(\d+)\]$/.exec(part);
    if (m && cited.has(m[1])) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "cite";
      button.textContent = part;
      button.title = `Show source ${m[1]}`;
      button.setAttribute("aria-label", `Show source ${m[1]}`);
      button.addEventListener("click", () => highlight(turn, cited.get(m[1])));
      box.append(button);
    } else if (part) {
      box.append(document.createTextNode(part));
    }
  }
  if (answer.answerable) {
    renderCards(turn, answer.citations, "Citations");
  } else {
    renderCards(turn, answer.related, "Nearest passages (they do not answer it)");
  }
}

// -- the conversation ------------------------------------------------------------

const MAX_HISTORY = 20;  // earlier questions sent with a follow-up (the server takes up to 64)
const PLACEHOLDER = $("question").placeholder;
let turns = [];          // {question, answer}, oldest first; answer is null until it comes
let inFlight = null;     // the AbortController of the question being answered

// The questions a follow-up may lean on: the earlier ones that were answered.
function history() {
  return turns.filter((t) => t.answer).map((t) => t.question).slice(-MAX_HISTORY);
}

function addTurn(question) {
  const turn = document.createElement("li");
  turn.className = "turn";
  turn.id = `turn-${turns.length + 1}`;
  const asked = document.createElement("h3");
  asked.className = "asked";
  const who = document.createElement("span");
  who.className = "sr-only";
  who.textContent = "You asked: ";
  asked.append(who, question);
  const answer = document.createElement("div");
  answer.className = "answer draft";
  const heading = document.createElement("h4");
  heading.className = "cards-title";
  heading.hidden = true;
  const cards = document.createElement("ol");
  cards.className = "cards";
  cards.hidden = true;
  turn.append(asked, answer, heading, cards);
  $("thread").append(turn);
  $("thread-box").hidden = false;
  turn.scrollIntoView({ block: "nearest" });
  return turn;
}

function newConversation() {
  if (inFlight) inFlight.abort();
  inFlight = null;
  turns = [];
  $("thread").replaceChildren();
  $("thread-box").hidden = true;
  $("source-box").hidden = true;
  $("question").placeholder = PLACEHOLDER;
  setStatus("");
  ready();
  $("question").focus();
}

$("new-conversation").addEventListener("click", newConversation);

// -- asking ----------------------------------------------------------------------

async function ask(question, turn, signal) {
  const record = { question, answer: null };
  const earlier = history();
  turns.push(record);
  const box = turn.querySelector(".answer");
  $("source-box").hidden = true;
  setStatus("Searching…");
  const response = await fetch("/v1/ask", {
    method: "POST",
    headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify({ question, history: earlier, stream: true }),
    signal,
  });
  if (!response.ok) throw await failure(response);
  for await (const { event, data } of readEvents(response)) {
    if (event === "sources") {
      setStatus(`Found ${data.sources.length} passages; writing the answer…`);
    } else if (event === "token") {
      box.append(document.createTextNode(data.text));
    } else if (event === "answer") {
      record.answer = data;
      renderAnswer(turn, data);
      const seconds = (data.timings.total_ms / 1000).toFixed(1);
      setStatus(data.answerable ? `Answered in ${seconds} s.` : "The documents do not answer this.");
    } else if (event === "error") {
      throw new Error(data.error.message);
    }
  }
}

$("ask-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const input = $("question");
  const question = input.value.trim();
  if (!question || inFlight) return;
  const button = $("ask-button");
  const controller = new AbortController();
  inFlight = controller;
  button.disabled = true;
  input.value = "";
  const turn = addTurn(question);
  $("thread").setAttribute("aria-busy", "true");
  try {
    await ask(question, turn, controller.signal);
  } catch (err) {
    if (!controller.signal.aborted) {
      const box = turn.querySelector(".answer");
      box.classList.remove("draft");
      box.classList.add("failed");
      box.textContent = `No answer: ${err.message}`;
      setStatus(err.message, true);
      if (!input.value) input.value = question;  // to correct it and ask again
    }
  } finally {
    if (inFlight === controller) inFlight = null;
    if (!inFlight) ready();
  }
});

// Nothing in flight: the form takes the next question, and focus goes back to it.
function ready() {
  const input = $("question");
  const button = $("ask-button");
  $("thread").setAttribute("aria-busy", "false");
  button.disabled = false;
  input.placeholder = turns.length ? "Ask a follow-up…" : PLACEHOLDER;
  const focused = document.activeElement;
  if (!focused || focused === document.body || focused === button) input.focus();
}

// -- documents -------------------------------------------------------------------

async function loadDocs() {
  const list = $("docs");
  const response = await fetch("/v1/documents", { headers: headers() });
  if (!response.ok) {
    list.replaceChildren();
    if (response.status === 401) $("key-box").open = true;
    return;
  }
  const docs = await response.json();
  list.replaceChildren(...docs.map((d) => {
    const item = document.createElement("li");
    item.textContent = `${d.title} `;
    const small = document.createElement("small");
    small.textContent = `(${where(d.source, 1).replace(/:1$/, "")}, ${d.chunks} chunks)`;
    const remove = document.createElement("button");
    remove.type = "button";
    remove.textContent = "delete";
    remove.addEventListener("click", async () => {
      if (!confirm(`Delete "${d.title}" from the index?`)) return;
      const r = await fetch(`/v1/documents/${encodeURIComponent(d.doc_id)}`, {
        method: "DELETE", headers: headers(),
      });
      setStatus(r.ok ? `Deleted ${d.title}.` : (await failure(r)).message, !r.ok);
      loadDocs();
    });
    item.append(small, remove);
    return item;
  }));
}

$("upload-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const files = $("files").files;
  if (!files.length) return;
  const form = new FormData();
  for (const f of files) form.append("files", f, f.name);
  setStatus("Uploading and indexing…");
  const response = await fetch("/v1/documents", { method: "POST", headers: headers(), body: form });
  if (response.ok) {
    const s = await response.json();
    setStatus(`Indexed: ${s.added} added, ${s.updated} updated, ${s.unchanged} unchanged.`);
    $("files").value = "";
    loadDocs();
  } else {
    setStatus((await failure(response)).message, true);
  }
});

loadDocs();
