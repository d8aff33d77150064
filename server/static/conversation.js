// One conversation with an agent: the session's events drive the captions and the speaker, the microphone
// drives the session. Hands-free uses the server's turn detection; push-to-talk turns it off and commits.

import { AudioIO, microphoneProblem } from "./audio.js";
import { fetchClientSecret } from "./embedded.js";
import { ConnectError, RealtimeConnection, getJSON, memoryBlocks, secretRefusal } from "./realtime.js";
import * as ui from "./ui.js";

/** Counters and sent events, read by the browser tests through `window.confab.stats` (and handy in devtools). */
export const stats = { framesSent: 0, audioReceived: 0, played: 0, buffered: 0, ranDry: 0, sent: [], truncated: [], errors: [] };

const FORMAT = { type: "audio/pcm", rate: 24000 };
const MEMORY_POLL_MS = 10000; // blocks also change in the background (the sleeptime agent), not only at turn ends

function turnDetection(pushToTalk) {
  return pushToTalk ? null : { type: "server_vad" };
}

function decodePCM(base64) {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return new Int16Array(bytes.buffer);
}

function encodePCM(samples) {
  const bytes = new Uint8Array(samples.buffer, samples.byteOffset, samples.byteLength);
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary);
}

function level(samples) {
  let sum = 0;
  for (const sample of samples) sum += sample * sample;
  return Math.sqrt(sum / samples.length) / 0x8000;
}

export class Conversation {
  /** `sessionUrl` (embedded mode) replaces `key`: each session gets its own client secret from the operator's backend. */
  constructor({ agent, key, sessionUrl, caller, pushToTalk, onEnd }) {
    Object.assign(this, { agent, key, sessionUrl, caller, pushToTalk, onEnd });
    this.audio = new AudioIO((frame) => this.microphone(frame), (progress) => this.played(progress));
    this.ready = false;
    this.ended = false;
    this.pressed = false;        // push-to-talk button held
    this.talking = false;        // push-to-talk audio being sent
    this.respondAfterTranscript = false;
    this.responses = new Map();  // response_id -> {itemId, done, pendingTruncate}
    this.flushed = new Set();    // responses whose unplayed audio was dropped
    this.speaking = null;        // the response whose audio was queued last
  }

  /**
   * Check server and key, open the audio and the microphone, then the session (in embedded mode with a
   * client secret fetched last, so it is fresh). Throws ConnectError.
   */
  async start() {
    ui.setStatus("connecting…", "busy");
    if (!this.sessionUrl) await getJSON("/v1/agents", this.key);
    await this.audio.start();
    try {
      await this.audio.openMicrophone();
    } catch (error) {
      throw new ConnectError("microphone", microphoneProblem(error));
    }
    const secret = this.sessionUrl && !this.ended ? await fetchClientSecret(this.sessionUrl, this.caller, this.agent) : null;
    if (this.ended) return;
    // A client secret names the agent and the caller it opens: the URL leaves both to it.
    const target = secret ? { agent: null, key: secret.value, caller: null } : { agent: this.agent, key: this.key, caller: this.caller };
    this.connection = new RealtimeConnection(target, {
      onOpen: () => ui.setStatus("starting the session…", "busy"),
      onEvent: (event) => this.handle(event),
      onClose: (event, opened) => this.closed(event, opened),
    });
  }

  /** Hang up (idempotent). */
  stop() {
    if (this.ended) return;
    this.ended = true;
    clearInterval(this.memoryPoll);
    if (this.connection) this.connection.close();
    this.audio.close();
    this.onEnd();
  }

  send(event) {
    if (event.type !== "input_audio_buffer.append") stats.sent.push(event);
    this.connection.send(event);
  }

  setPushToTalk(pushToTalk) {
    this.pushToTalk = pushToTalk;
    if (this.ready) this.send({ type: "session.update", session: { type: "realtime", audio: { input: { turn_detection: turnDetection(pushToTalk) } } } });
    this.showListening();
  }

  showListening() {
    ui.setStatus(this.pushToTalk ? "connected: hold the button (or Space) to talk" : "connected: listening", "live");
  }

  async closed(event, opened) {
    if (this.ended) return;
    if (opened) {
      ui.showError(`The session ended: ${event.reason || "the connection was lost"} (WebSocket close code ${event.code}).`);
    } else {
      // The handshake failed, and a browser hides why (code 1006): ask the JSON route, which can say 401.
      try {
        if (this.sessionUrl) throw await secretRefusal();
        await getJSON("/v1/agents", this.key);
        ui.showError(`The server refused the session (WebSocket close code ${event.code}).`);
      } catch (error) {
        ui.showError(error.message);
      }
    }
    this.stop();
  }

  microphone(frame) {
    ui.setLevel(level(frame));
    if (!this.ready || (this.pushToTalk && !this.talking)) return;
    this.send({ type: "input_audio_buffer.append", audio: encodePCM(frame) });
    stats.framesSent++;
  }

  handle(event) {
    switch (event.type) {
      case "session.created":
        this.send({ type: "session.update", session: { type: "realtime", output_modalities: ["audio"], audio: {
          input: { format: FORMAT, turn_detection: turnDetection(this.pushToTalk) }, output: { format: FORMAT } } } });
        break;
      case "session.updated":
        if (!this.ready) {
          this.refreshMemory();
          this.memoryPoll = setInterval(() => this.refreshMemory(), MEMORY_POLL_MS);
        }
        this.ready = true;
        this.showListening();
        break;
      case "input_audio_buffer.speech_started":
        ui.captions.get(event.item_id, "user");
        ui.setStatus("hearing you…", "live");
        this.bargeIn(false);
        break;
      case "input_audio_buffer.committed":
        ui.captions.get(event.item_id, "user");
        ui.setStatus("thinking…", "busy");
        break;
      case "conversation.item.input_audio_transcription.completed":
        ui.captions.finish(event.item_id, "user", event.transcript);
        if (this.respondAfterTranscript) {
          // Push-to-talk: the server stores the words once transcribed, so the response is asked for then.
          this.respondAfterTranscript = false;
          if (event.transcript) this.send({ type: "response.create" });
        }
        break;
      case "response.created":
        this.responses.set(event.response.id, { itemId: null, done: false, pendingTruncate: null });
        break;
      case "response.output_item.added":
        this.responses.get(event.response_id).itemId = event.item.id;
        ui.captions.get(event.item.id, "assistant");
        ui.setStatus("speaking…", "live");
        break;
      case "response.output_audio.delta":
        this.play(event);
        break;
      case "response.output_audio_transcript.delta":
      case "response.output_text.delta":
        ui.captions.append(event.item_id, "assistant", event.delta);
        break;
      case "response.output_audio_transcript.done":
        ui.captions.finish(event.item_id, "assistant", event.transcript);
        break;
      case "response.output_text.done":
        ui.captions.finish(event.item_id, "assistant", event.text);
        break;
      case "response.done":
        this.responseDone(event.response);
        break;
      case "conversation.item.truncated":
        stats.truncated.push(event);
        ui.captions.interrupted(event.item_id, event.audio_end_ms);
        break;
      case "confab.turn.latency":
        ui.addLatency((this.responses.get(event.response_id) || {}).itemId, event.stages_ms);
        break;
      case "error":
        stats.errors.push(event.error);
        ui.showError(event.error.message);
        break;
    }
  }

  play(event) {
    if (this.flushed.has(event.response_id)) return; // audio already in flight when the caller barged in
    this.speaking = event.response_id;
    const samples = decodePCM(event.delta);
    stats.audioReceived += samples.length;
    this.audio.play(event.item_id, samples);
  }

  played(progress) {
    stats.played = progress.played;
    stats.buffered = progress.buffered;
    if (progress.buffered === 0) stats.ranDry++;
    if (progress.buffered === 0 && this.ready && !this.pressed) this.showListening();
  }

  responseDone(response) {
    const state = this.responses.get(response.id);
    if (state) {
      state.done = true;
      if (state.pendingTruncate) this.send(state.pendingTruncate);
    }
    if (this.ready && stats.buffered === 0) this.showListening();
    this.refreshMemory();
  }

  /**
   * The caller spoke over the answer: drop the unplayed audio and tell the server how much was heard
   * (`conversation.item.truncate`, in ms of that item's audio). While the server is still cancelling
   * the response the truncate waits for its `response.done`, so it applies to the finished item.
   */
  async bargeIn(cancel) {
    const responseId = this.speaking;
    const response = this.responses.get(responseId);
    if (!response || this.flushed.has(responseId)) return;
    this.flushed.add(responseId);
    const heard = await this.audio.flush(response.itemId);
    if (cancel && !response.done) this.send({ type: "response.cancel" });
    // all that arrived had played: nothing was cut, unless the server was holding the rest (adaptive interruption)
    if (heard === null || (heard.whole && response.done)) return;
    const truncate = { type: "conversation.item.truncate", item_id: response.itemId, content_index: 0, audio_end_ms: Math.floor(heard.heardMs) };
    if (response.done || cancel) this.send(truncate);
    else response.pendingTruncate = truncate;
  }

  /** Push-to-talk pressed: stop the agent if it is talking, then send the microphone. */
  async startTalking() {
    if (!this.ready || !this.pushToTalk || this.pressed) return;
    this.pressed = true;
    ui.setTalking(true);
    ui.setStatus("talking… release to send", "live");
    await this.bargeIn(true);
    this.send({ type: "input_audio_buffer.clear" });
    this.talking = this.pressed;
  }

  /** Push-to-talk released: commit what was said; the response is asked for once it is transcribed. */
  stopTalking() {
    if (!this.pressed) return;
    this.pressed = false;
    ui.setTalking(false);
    if (!this.talking) return;
    this.talking = false;
    this.respondAfterTranscript = true;
    this.send({ type: "input_audio_buffer.commit" });
  }

  async refreshMemory() {
    if (this.sessionUrl) return; // the memory routes need the API key, which an embedded page never holds
    try {
      ui.setMemory(await memoryBlocks(this.agent, this.key, this.caller));
    } catch (error) {
      ui.setMemory([], error.message);
    }
  }
}
