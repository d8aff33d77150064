// The page's audio: one AudioContext, the microphone through the capture worklet, the answer through the
// playback worklet, and the bookkeeping that turns "samples played" into "ms of this item heard".

export const RATE = 24000;
const ITEMS_KEPT = 8;

/** Why the microphone could not be opened, in words a person can act on. */
export function microphoneProblem(error) {
  switch (error && error.name) {
    case "NotAllowedError":
    case "SecurityError":
      return "Microphone permission was denied. Allow this page to use the microphone (the icon in the address bar) and connect again.";
    case "NotFoundError":
    case "OverconstrainedError":
      return "No microphone was found. Plug one in and connect again.";
    case "NotReadableError":
      return "The microphone is busy or unavailable (another program may be using it).";
    default:
      return `The microphone could not be opened: ${error && error.message ? error.message : error}`;
  }
}

export class AudioIO {
  /**
   * Create the context inside the click that connects (browsers only start audio after a gesture).
   * `onFrame(Int16Array)` gets each 20 ms microphone frame at 24 kHz; `onPlayed({played, buffered})`
   * reports playback progress in 24 kHz samples.
   */
  constructor(onFrame, onPlayed) {
    this.context = new AudioContext();
    this.onFrame = onFrame;
    this.onPlayed = onPlayed;
    this.received = 0;           // 24 kHz samples ever queued for playback
    this.items = new Map();      // item_id -> {start, length}: where each item sits in the played timeline
    this.pendingFlush = null;
  }

  /** Start the audio device and load both worklets (playback is ready after this). */
  async start() {
    await this.context.resume();
    await this.context.audioWorklet.addModule("/static/capture-worklet.js");
    await this.context.audioWorklet.addModule("/static/playback-worklet.js");
    this.playback = new AudioWorkletNode(this.context, "confab-playback", { outputChannelCount: [1] });
    this.playback.port.onmessage = (event) => this.fromPlayback(event.data);
    this.playback.connect(this.context.destination);
  }

  /** Open the microphone (echo cancellation on) and start capturing; throws getUserMedia's error. */
  async openMicrophone() {
    this.stream = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true, channelCount: 1 },
    });
    this.capture = new AudioWorkletNode(this.context, "confab-capture", { numberOfOutputs: 0 });
    this.capture.port.onmessage = (event) => this.onFrame(new Int16Array(event.data));
    this.context.createMediaStreamSource(this.stream).connect(this.capture);
  }

  /** Queue one chunk of an item's answer audio (PCM16 at 24 kHz). */
  play(itemId, samples) {
    if (!this.items.has(itemId)) {
      this.items.set(itemId, { start: this.received, length: 0 });
      if (this.items.size > ITEMS_KEPT) this.items.delete(this.items.keys().next().value);
    }
    this.items.get(itemId).length += samples.length;
    this.received += samples.length;
    this.playback.port.postMessage({ type: "push", samples }, [samples.buffer]);
  }

  /**
   * Drop everything not yet played. Resolves to how much of `itemId` was heard, in ms, and whether
   * all of it that arrived had played (`whole`), or null when nothing of it arrived.
   */
  flush(itemId) {
    return new Promise((resolve) => {
      this.pendingFlush = (played) => {
        const item = this.items.get(itemId);
        if (!item) return resolve(null);
        const heard = Math.min(Math.max(0, played - item.start), item.length);
        resolve({ heardMs: heard * 1000 / RATE, whole: heard === item.length });
      };
      this.playback.port.postMessage({ type: "flush" });
    });
  }

  fromPlayback(message) {
    if (message.type === "flushed" && this.pendingFlush) {
      const done = this.pendingFlush;
      this.pendingFlush = null;
      done(message.played);
    } else if (message.type === "played") {
      this.onPlayed(message);
    }
  }

  /** Release the microphone and the audio device. */
  async close() {
    if (this.stream) this.stream.getTracks().forEach((track) => track.stop());
    if (this.context.state !== "closed") await this.context.close();
  }
}
