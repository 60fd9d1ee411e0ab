#!/usr/bin/env bash
# Rebuild the example clips in this folder (all ours, CC0; see LICENSE.md).
# Needs espeak-ng and sox (Debian: apt-get install -y espeak-ng sox).
# Every clip is 24 kHz mono 16-bit FLAC (lossless, half the size of WAV), a few seconds long.
# Pairs 1 and 2 of each few-shot task are the examples; input 3 is the query.
set -euo pipefail
cd "$(dirname "$0")"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# say OUT VOICE TEXT [extra espeak-ng flags...]
say() {
  local out=$1 voice=$2 text=$3; shift 3
  espeak-ng -v "$voice" "$@" -w "$tmp/raw.wav" "$text"
  sox "$tmp/raw.wav" -r 24000 -c 1 -b 16 "$out" norm -3 pad 0.1 0.1
}

# General speech (continuation, ASR, understanding, dialogue)
say speech_fox.flac          en-us   "The quick brown fox jumps over the lazy dog near the river bank."
say speech_weather.flac      en-gb   "Tomorrow will be sunny in the morning, with light rain in the evening."
say question_capital.flac    en-us   "Hello! Could you tell me what the capital of France is?"
say question_story.flac      en+f3   "Please tell me a very short story about a friendly robot."
say voice_prompt_female.flac en+f3   "This is the voice I would like you to speak with."

# Few-shot speech-to-speech pairs: <task>_in_<n>.flac -> <task>_out_<n>.flac (n = 1, 2),
# and <task>_in_3.flac as the query
for n in 1 2 3; do
  case $n in
    1) t="I like to walk in the park on Sunday.";;
    2) t="The train leaves at seven in the morning.";;
    3) t="Please close the window, it is getting cold.";;
  esac
  # voice conversion: male voice -> female voice
  say vc_in_$n.flac  en-us "$t"
  say vc_out_$n.flac en+f3 "$t"
  # speed: normal -> 1.5x faster (same pitch)
  sox vc_in_$n.flac "$tmp/n.wav"; sox "$tmp/n.wav" speed_in_$n.flac
  sox "$tmp/n.wav" speed_out_$n.flac tempo 1.5
  # denoise: white noise added -> clean
  sox -n -r 24000 -c 1 -b 16 "$tmp/noise.wav" synth "$(soxi -D "$tmp/n.wav")" whitenoise vol 0.08
  sox -m "$tmp/n.wav" "$tmp/noise.wav" -b 16 denoise_in_$n.flac norm -3
  sox "$tmp/n.wav" denoise_out_$n.flac
  # emotion: flat and slow -> lively (higher pitch, wider range, faster)
  say emotion_in_$n.flac  en-us "$t" -p 30 -s 140
  say emotion_out_$n.flac en-us "$t" -p 80 -s 190
done
# translation: English -> Mandarin
say translate_in_1.flac  en-us "Good morning."
say translate_out_1.flac cmn   "早上好。"
say translate_in_2.flac  en-us "Thank you very much."
say translate_out_2.flac cmn   "非常感谢。"
say translate_in_3.flac  en-us "See you tomorrow."
say translate_out_3.flac cmn   "明天见。"
rm -f ./*_out_3.flac          # queries have no target
ls -1 ./*.flac | wc -l
