"""A small deterministic byte-level BPE text tokenizer for the offline "tiny" demo model.

It is trained with the ``tokenizers`` library on the built-in English + Chinese snippets
below (a few thousand tokens of vocabulary), uses the Qwen2 pre-tokenizer rules (split
pattern, byte-level alphabet, NFC), and carries ``<|endoftext|>``, ``<|im_start|>``,
``<|im_end|>`` and the eight MiMo tokens as special tokens, added after the learned vocabulary
in that order. Saved in the transformers layout, so ``AutoTokenizer.from_pretrained(out_dir)``
and :func:`mimo_core.text.load_text_tokenizer` load it. Every byte string is encodable (the
initial alphabet holds all 256 bytes); the same call always writes identical files.
"""

from __future__ import annotations

from pathlib import Path

from ..constants import MIMO_SPECIAL_TOKENS

TINY_VOCAB_SIZE = 3000            # upper bound on the learned vocabulary (before special tokens)
CHAT_TOKENS = ("<|endoftext|>", "<|im_start|>", "<|im_end|>")

# Qwen2's pre-tokenizer split pattern: contractions, letter runs with one leading
# non-letter, single digits, punctuation runs, newlines, other whitespace.
_SPLIT_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")

_CORPUS = """
Please convert this text to speech: Hello world, this is a tiny test.
Please transcribe this audio file. Summarize the audio. What is the weather like today?
You are MiMo-Audio, a friendly AI assistant and your response needs to be concise.
Your voice should be: calm, warm and clear. Read this sentence slowly, then a little faster.
Hello, how are you today? I am fine, thank you. Who are you? I am a small demo model.
The quick brown fox jumps over the lazy dog. A journey of a thousand miles begins with one step.
Good morning! Good afternoon. Good evening, everyone. Thank you very much for listening.
This model is tiny and random: everything it says is noise, so please do not trust it.
Speech is sound shaped by the voice; text is speech written down. Audio tokens are numbers.
Convert the timbre of the input speech to target timbre. Remove the background noise.
Translate the input speech into the target language. Change the speaking rate of the voice.
Say it again with a happy voice. Say it again with a sad voice. Speak louder, please.
It was a bright cold day in April, and the clocks were striking thirteen in the old town.
One, two, three, four, five, six, seven, eight, nine, ten. 0 1 2 3 4 5 6 7 8 9 100 2025.
Where is the station? Turn left at the bridge and walk for five minutes along the river.
The weather in Beijing is sunny with a light wind; tomorrow it may rain in the evening.
I cannot get real-time weather, but I can tell you about the climate of many cities.
Music, language and sound: a model that listens can also learn to speak and to sing.
Let's think step by step. First we listen, then we answer, and finally we speak.
What time is it? It's half past seven. Don't worry, we'll be there on time, won't we?
<think>
Let me think about the question before I answer it.
</think>
[Int]: Convert the voice. first example, second example, third example.
请将这段文字转换为语音：今天天气真好。请将这段语音转换为文字。
你需要根据指定的风格指令和文本内容来生成语音。
你需要根据指定的风格指令和文本内容来生成和语音prompt具有相同音色的语音。你的音色应该是：
用小孩子的声音开心的说。用温柔的声音慢慢地说。用低沉的声音严肃地说。
你好，请问你是谁？我是一个很小的演示模型，我说的话都是随机的。
今天是星期一，天气晴朗，我们一起去公园散步吧。明天可能会下雨，记得带伞。
北京的天气怎么样？北京今天晴天，有微风，晚上有点冷。
谢谢你的帮助！不客气，很高兴为你服务。再见，祝你有美好的一天。
声音是由振动产生的，语音是人类交流最自然的方式。文字记录了语音的内容。
请把这句话翻译成英文。请用更快的语速再说一遍。请去掉背景噪音。
一二三四五六七八九十，百千万。春夏秋冬，东南西北，上下左右。
小猫在窗台上睡觉，小狗在院子里跑来跑去，孩子们在树下唱歌。
我们先听一听，再想一想，最后用清楚的声音回答问题。
"""


def _train():
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    tk = Tokenizer(models.BPE())
    tk.normalizer = normalizers.NFC()
    tk.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_SPLIT_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tk.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=TINY_VOCAB_SIZE, min_frequency=1, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), special_tokens=[])
    lines = [line for line in _CORPUS.strip().splitlines()]
    # each line several times, so that frequent words merge before rare ones
    tk.train_from_iterator([line + "\n" for line in lines for _ in range(3)], trainer=trainer)
    tk.add_special_tokens(list(CHAT_TOKENS) + list(MIMO_SPECIAL_TOKENS))
    return tk


def write_tiny_text_tokenizer(out_dir: str | Path) -> Path:
    """Train (deterministically) and save the tiny tokenizer into ``out_dir``; returns the path."""
    from transformers import PreTrainedTokenizerFast

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=_train(),
        eos_token="<|endoftext|>", pad_token="<|endoftext|>",
        additional_special_tokens=list(CHAT_TOKENS[1:]) + list(MIMO_SPECIAL_TOKENS),
        clean_up_tokenization_spaces=False,
    )
    tokenizer.save_pretrained(str(out))
    return out
