// Everything the page shows: status, errors, captions, latency, memory blocks. No protocol logic here.

const $ = (id) => document.getElementById(id);

export function setStatus(text, state = "") {
  const status = $("status");
  status.textContent = text;
  status.dataset.state = state;
}

export function showError(message) {
  const box = $("error");
  box.textContent = message;
  box.hidden = false;
}

export function clearError() {
  $("error").hidden = true;
  $("error").textContent = "";
}

export function setAgents(names, selected) {
  const select = $("agent");
  select.replaceChildren(...names.map((name) => new Option(name, name, false, name === selected)));
}

/**
 * Embedded mode: hide what needs the API key (key field, agent list, caller line with "Forget me", memory
 * panel) and say which site hands out the sessions (`site` null when its session URL is unusable).
 */
export function setEmbedded(site) {
  for (const element of document.querySelectorAll(".needs-key")) element.hidden = true;
  const note = $("embedded");
  note.querySelector("code").textContent = site || "(no valid session URL)";
  note.hidden = false;
}

export function setConnected(connected, pushToTalk) {
  $("connect").textContent = connected ? "Disconnect" : "Connect";
  $("talk").disabled = !(connected && pushToTalk);
  for (const id of ["key", "agent"]) $(id).disabled = connected;
}

export function setTalking(talking) {
  $("talk").classList.toggle("active", talking);
}

export function setLevel(level) {
  $("level").style.width = `${Math.min(100, Math.round(level * 300))}%`;
}

function scrollToEnd() {
  const list = $("captions");
  list.scrollTop = list.scrollHeight;
}

/** The live transcript: one caption per conversation item, keyed by item id. */
export const captions = {
  get(itemId, role) {
    let caption = document.querySelector(`#captions [data-item-id="${CSS.escape(itemId)}"]`);
    if (!caption) {
      caption = document.createElement("li");
      caption.className = `caption ${role} pending`;
      caption.dataset.itemId = itemId;
      caption.innerHTML = `<span class="who"></span><span class="text"></span><span class="meta"></span>`;
      caption.querySelector(".who").textContent = role === "user" ? "You" : "Agent";
      $("captions").append(caption);
      scrollToEnd();
    }
    return caption;
  },

  append(itemId, role, delta) {
    const text = this.get(itemId, role).querySelector(".text");
    text.textContent += delta;
    scrollToEnd();
  },

  finish(itemId, role, text) {
    const caption = this.get(itemId, role);
    caption.querySelector(".text").textContent = text;
    caption.classList.remove("pending");
    if (role === "user" && !text) caption.classList.add("empty");
  },

  interrupted(itemId, heardMs) {
    const caption = this.get(itemId, "assistant");
    caption.classList.add("interrupted");
    caption.classList.remove("pending");
    this.meta(itemId, `interrupted after ${(heardMs / 1000).toFixed(1)} s`);
  },

  meta(itemId, note) {
    const meta = this.get(itemId, "assistant").querySelector(".meta");
    meta.textContent = meta.textContent ? `${meta.textContent} · ${note}` : note;
  },
};

/** One turn's latency: the headline is speech end to first audio sent; the title lists every stage. */
export function addLatency(itemId, stages) {
  const firstAudio = stages.first_byte_sent ?? stages.tts_first_audio;
  const detail = Object.entries(stages).map(([stage, ms]) => `${stage} ${Math.round(ms)} ms`).join(", ");
  if (itemId && firstAudio !== undefined) captions.meta(itemId, `first audio ${Math.round(firstAudio)} ms after you stopped`);
  const row = document.createElement("li");
  row.textContent = firstAudio === undefined ? detail : `${Math.round(firstAudio)} ms`;
  row.title = detail;
  $("latency").append(row);
}

/** The agent's memory blocks, or `note` when they could not be read. */
export function setMemory(blocks, note = "") {
  const problem = document.createElement("p");
  problem.className = "note";
  problem.textContent = note;
  $("memory").replaceChildren(...(note ? [problem] : []), ...blocks.map((block) => {
    const section = document.createElement("section");
    section.className = "block";
    section.dataset.label = block.label;
    const heading = document.createElement("h3");
    heading.textContent = `${block.label} `;
    const size = document.createElement("small");
    size.textContent = `${block.value.length}/${block.limit}`;
    heading.append(size);
    const value = document.createElement("pre");
    value.textContent = block.value || "(empty)";
    section.append(heading, value);
    return section;
  }));
}
