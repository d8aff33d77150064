#!/usr/bin/env bash
# Regenerates the held-out turn-taking clips (needs espeak-ng and sox; the tests only read the WAVs).
# Every clip: 16 kHz mono 16-bit, no leading silence, ~100 ms of trailing silence. index.tsv lists them.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# say FILE VOICE TEXT [ESPEAK OPTIONS...]: one espeak-ng utterance, trimmed and resampled.
say() {
  local out=$1 voice=$2 text=$3
  shift 3
  espeak-ng -v "$voice" "$@" -w "$tmp/raw.wav" "$text"
  sox "$tmp/raw.wav" -r 16000 -c 1 -b 16 "$tmp/trim.wav" silence 1 0.01 0.5% reverse silence 1 0.01 0.5% reverse
  sox "$tmp/trim.wav" "$out" pad 0 0.1
}

say backchannel_uhhuh.wav en-us+m3 "uh-huh" -s 150
say backchannel_mmhm.wav en-gb+f2 "[[m'hm]]" -s 150  # phonemes: the spelling "mm-hm" is read out as letters
say backchannel_yeah.wav en-us+m5 "yeah" -s 160
say backchannel_okay.wav en-gb-x-rp+m7 "okay" -s 170
say backchannel_right.wav en-us+f5 "right" -s 160
say interrupt_wait_stop.wav en-gb-scotland+m8 "Wait, stop." -s 165
say interrupt_no_question.wav en-us+f2 "No, that's not what I asked, can you check again?" -s 170
say question_finished.wav en-gb+m3 "What time do you close today?" -s 165
say unfinished_and.wav en-us+m7 "I would like to book a table for two, and" -s 160
say unfinished_um.wav en-gb+f5 "So what I need is, um" -s 160

# The phone number: three groups with 700 ms pauses between them.
say "$tmp/g1.wav" en-us+m4 "My number is four one five." -s 165
say "$tmp/g2.wav" en-us+m4 "five five five." -s 165
say "$tmp/g3.wav" en-us+m4 "two six seven one." -s 165
sox -n -r 16000 -c 1 -b 16 "$tmp/gap.wav" trim 0 0.6  # each group already ends in 100 ms of silence
sox "$tmp/g1.wav" "$tmp/gap.wav" "$tmp/g2.wav" "$tmp/gap.wav" "$tmp/g3.wav" digits_grouped.wav

# A cough-like burst: two 120 ms bursts of band-passed brown noise, sharp attack, fast decay.
sox -n -r 16000 -c 1 -b 16 "$tmp/burst.wav" synth 0.12 brownnoise sinc 300-3500 fade q 0.005 0.12 0.1 gain -n -6
sox -n -r 16000 -c 1 -b 16 "$tmp/short.wav" trim 0 0.08
sox "$tmp/burst.wav" "$tmp/short.wav" "$tmp/burst.wav" "$tmp/two.wav"
sox "$tmp/two.wav" cough.wav pad 0 0.1
