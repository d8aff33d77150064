// Microphone capture: the context's rate in, 20 ms frames of PCM16 at 24 kHz out (posted as ArrayBuffers).
// Resampling is linear interpolation, carrying the fractional read position and the previous block's
// last sample across render quanta so frames join without clicks.

const OUT_RATE = 24000;
const FRAME = OUT_RATE / 50; // 20 ms

class CaptureProcessor extends AudioWorkletProcessor {
  constructor() {
    super();
    this.step = sampleRate / OUT_RATE; // input samples per output sample
    this.pos = 0;                      // next read position, relative to the current block (-1 = previous sample)
    this.previous = 0;
    this.frame = new Int16Array(FRAME);
    this.filled = 0;
  }

  process(inputs) {
    const input = inputs[0] && inputs[0][0];
    if (!input) return true;
    while (this.pos < input.length - 1) {
      const i = Math.floor(this.pos);
      const a = i < 0 ? this.previous : input[i];
      const b = input[i + 1];
      this.push(a + (b - a) * (this.pos - i));
      this.pos += this.step;
    }
    this.pos -= input.length;
    this.previous = input[input.length - 1];
    return true;
  }

  push(sample) {
    const clamped = Math.max(-1, Math.min(1, sample));
    this.frame[this.filled++] = clamped < 0 ? clamped * 0x8000 : clamped * 0x7fff;
    if (this.filled === FRAME) {
      this.port.postMessage(this.frame.buffer, [this.frame.buffer]);
      this.frame = new Int16Array(FRAME);
      this.filled = 0;
    }
  }
}

registerProcessor("confab-capture", CaptureProcessor);
