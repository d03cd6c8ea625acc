// The page: ask a question, watch the answer stream in, check its citations.
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

function renderCards(items, title) {
  const list = $("cards");
  list.replaceChildren();
  $("cards-title").textContent = title;
  $("cards-box").hidden = items.length === 0;
  items.forEach((item, i) => {
    const n = item.n || i + 1;
    const card = document.createElement("li");
    card.className = "card";
    card.id = item.n ? `cite-${n}` : `hit-${n}`;
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

let shownCitations = [];

function highlight(n) {
  for (const card of document.querySelectorAll(".card.active")) card.classList.remove("active");
  const card = $(`cite-${n}`);
  if (!card) return;
  card.classList.add("active");
  const citation = shownCitations.find((c) => String(c.n) === String(n));
  if (citation) openSource(citation);
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

function renderAnswer(answer) {
  const box = $("answer");
  box.classList.remove("draft");
  box.replaceChildren();
  const known = new Set(answer.citations.map((c) => String(c.n)));
  for (const part of answer.answer.split(/(\[\d+\])/)) {
    const m = /^\[(\d+)\]$/.exec(part);
    if (m && known.has(m[1])) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "cite";
      button.textContent = part;
      button.title = `Show source ${m[1]}`;
      button.addEventListener("click", () => highlight(m[1]));
      box.append(button);
    } else if (part) {
      box.append(document.createTextNode(part));
    }
  }
  shownCitations = answer.citations;
  if (answer.answerable) {
    renderCards(answer.citations, "Citations");
  } else {
    renderCards(answer.related, "Nearest passages (they do not answer it)");
  }
}

// -- asking ----------------------------------------------------------------------

async function ask(question) {
  const box = $("answer");
  box.textContent = "";
  box.classList.add("draft");
  $("answer-box").hidden = false;
  $("cards-box").hidden = true;
  $("source-box").hidden = true;
  setStatus("Searching…");
  const response = await fetch("/v1/ask", {
    method: "POST",
    headers: headers({ "Content-Type": "application/json", Accept: "text/event-stream" }),
    body: JSON.stringify({ question, stream: true }),
  });
  if (!response.ok) throw await failure(response);
  for await (const { event, data } of readEvents(response)) {
    if (event === "sources") {
      setStatus(`Found ${data.sources.length} passages; writing the answer…`);
    } else if (event === "token") {
      box.append(document.createTextNode(data.text));
    } else if (event === "answer") {
      renderAnswer(data);
      const seconds = (data.timings.total_ms / 1000).toFixed(1);
      setStatus(data.answerable ? `Answered in ${seconds} s.` : "The documents do not answer this.");
    } else if (event === "error") {
      throw new Error(data.error.message);
    }
  }
}

$("ask-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const question = $("question").value.trim();
  if (!question) return;
  const button = $("ask-button");
  button.disabled = true;
  try {
    await ask(question);
  } catch (err) {
    setStatus(err.message, true);
  } finally {
    button.disabled = false;
  }
});

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
