// Page wiring: the controls, the agent list and the one conversation at a time. With `?session_url=`
// the page is embedded: no key, no agent list, no memory panel; the operator's backend hands out sessions.

import { Conversation, stats } from "./conversation.js";
import { sessionUrl } from "./embedded.js";
import { callerId, forgetMe, listAgents } from "./realtime.js";
import * as ui from "./ui.js";

const $ = (id) => document.getElementById(id);
let conversation = null;

window.confab = { stats };

const key = () => $("key").value.trim();
const pushToTalk = () => $("mode").value === "push-to-talk";
const requestedAgent = new URLSearchParams(location.search).get("agent");
let operator = null;        // the operator's session URL (embedded mode)
let badSessionUrl = null;   // why `?session_url=` is unusable
try {
  operator = sessionUrl();
} catch (error) {
  badSessionUrl = error;
}
const embedded = operator !== null || badSessionUrl !== null;

async function refreshAgents() {
  const wanted = $("agent").value || requestedAgent || "default";
  try {
    ui.setAgents(await listAgents(key()), wanted);
    ui.clearError();
  } catch (error) {
    ui.setAgents([wanted], wanted);
    ui.showError(error.message);
  }
}

async function connect() {
  if (conversation) {
    conversation.stop();
    return;
  }
  ui.clearError();
  if (badSessionUrl) {
    ui.showError(badSessionUrl.message);
    return;
  }
  const current = new Conversation({
    agent: embedded ? requestedAgent : $("agent").value || "default", key: embedded ? null : key(), sessionUrl: operator,
    caller: callerId(), pushToTalk: pushToTalk(),
    onEnd: () => {
      if (conversation === current) conversation = null;
      ui.setConnected(false, false);
      ui.setStatus("disconnected");
    },
  });
  conversation = current;
  ui.setConnected(true, pushToTalk());
  try {
    await current.start();
  } catch (error) {
    ui.showError(error.message);
    current.stop();
  }
}

/** Erase what the agent remembers of this browser's caller; the page then is a new caller. */
async function forget() {
  if (conversation) conversation.stop();
  ui.clearError();
  try {
    const erased = await forgetMe($("agent").value || "default", key(), callerId());
    $("forgotten").textContent = erased ? `Forgotten: ${erased.messages} messages, ${erased.passages} memories.` : "Nothing to forget.";
  } catch (error) {
    ui.showError(error.message);
  }
  $("caller").textContent = callerId();
}

/** Space is the push-to-talk key, unless the focus is in a field (it must not press the focused button). */
function talkKey(event) {
  const typing = ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
  if (event.code !== "Space" || typing || !conversation || !conversation.pushToTalk) return false;
  event.preventDefault();
  return !event.repeat;
}

$("connect").addEventListener("click", connect);
$("forget").addEventListener("click", forget);
$("key").addEventListener("change", refreshAgents);
$("mode").addEventListener("change", () => {
  if (!conversation) return;
  conversation.setPushToTalk(pushToTalk());
  ui.setConnected(true, pushToTalk());
});
$("talk").addEventListener("pointerdown", () => conversation && conversation.startTalking());
for (const end of ["pointerup", "pointerleave", "pointercancel"]) {
  $("talk").addEventListener(end, () => conversation && conversation.stopTalking());
}
document.addEventListener("keydown", (event) => { if (talkKey(event)) conversation.startTalking(); });
document.addEventListener("keyup", (event) => { if (talkKey(event)) conversation.stopTalking(); });

$("caller").textContent = callerId();
if (embedded) {
  ui.setEmbedded(operator && operator.origin);
  if (badSessionUrl) ui.showError(badSessionUrl.message);
} else {
  refreshAgents();
}
