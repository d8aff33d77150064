// Answer playback: PCM16 at 24 kHz in (pushed by the page), the context's rate out, through a ring buffer.
// Messages in:  {type: "push", samples: Int16Array} | {type: "flush"}
// Messages out: {type: "played", played, buffered} about every 100 ms while audio plays and once when it
//               runs dry; {type: "flushed", played} after a flush. `played` counts 24 kHz samples played
//               since the node was created, so the page can tell how much of each item was heard.

const IN_RATE = 24000;
const CAPACITY = IN_RATE * 120; // two minutes: the server paces its audio, so this never fills in practice
const REPORT_EVERY = IN_RATE / 10;

class PlaybackProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.ring = new Float32Array(CAPACITY);
    this.written = 0;   // samples ever written
    this.read = 0;      // samples ever consumed (played)
    this.frac = 0;      // fractional position between read and read + 1
    this.step = IN_RATE / sampleRate;
    this.reported = 0;
    this.port.onmessage = (event) => this.receive(event.data);
  }

  receive(message) {
    if (message.type === "push") {
      for (const sample of message.samples) {
        if (this.written - this.read >= CAPACITY) break; // full: drop the rest rather than overwrite unplayed audio
        this.ring[this.written % CAPACITY] = sample / 0x8000;
        this.written++;
      }
    } else if (message.type === "flush") {
      const played = this.read;
      this.read = this.written;
      this.frac = 0;
      this.port.postMessage({ type: "flushed", played });
    }
  }

  process(_inputs, outputs) {
    const channels = outputs[0];
    const out = channels[0];
    const wasPlaying = this.written > this.read;
    for (let n = 0; n < out.length; n++) {
      const available = this.written - this.read;
      if (available === 0) {
        out[n] = 0;
        continue;
      }
      const a = this.ring[this.read % CAPACITY];
      const b = available > 1 ? this.ring[(this.read + 1) % CAPACITY] : a;
      out[n] = a + (b - a) * this.frac;
      this.frac += this.step;
      while (this.frac >= 1) {
        this.frac -= 1;
        this.read++;
      }
    }
    for (let c = 1; c < channels.length; c++) channels[c].set(out);
    const dry = wasPlaying && this.written === this.read;
    if (dry || this.read - this.reported >= REPORT_EVERY) {
      this.reported = this.read;
      this.port.postMessage({ type: "played", played: this.read, buffered: this.written - this.read });
    }
    return true;
  }
}

registerProcessor("confab-playback", PlaybackProcessor);
