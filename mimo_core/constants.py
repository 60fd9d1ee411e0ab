"""Fixed facts of the MiMo-Audio format (docs/FORMAT.md section 1). Named, never bare literals."""

SAMPLE_RATE = 24_000          # Hz, everything inside is 24 kHz mono float32
MEL_HOP = 240                 # samples per mel frame (100 Hz)
SAMPLES_PER_FRAME = 960       # samples per codec frame (25 Hz)
CODEC_FRAME_RATE = SAMPLE_RATE / SAMPLES_PER_FRAME   # 25.0
GROUP_SIZE = 4                # codec frames per LM position ("group"/"patch")
GROUP_RATE = CODEC_FRAME_RATE / GROUP_SIZE            # 6.25 LM positions per second
LM_CHANNELS = 8               # RVQ channels the LM uses (of the tokenizer's 20)
STREAMS = LM_CHANNELS + 1     # K: text row + 8 code rows
TEXT_FILLER = -100            # row-0 value in columns 1..3 of a prompt group
MAX_CONTEXT_GROUPS = 8192     # LM context limit in groups

# The eight MiMo special tokens, in the order they are added to a tokenizer that lacks them.
MIMO_SPECIAL_TOKENS = (
    "<|sosp|>", "<|eosp|>", "<|empty|>", "<|Human|>",
    "<|SpeechLM|>", "<|sostm|>", "<|eostm|>", "<|eot|>",
)
