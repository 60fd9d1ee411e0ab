"""MiMo-Audio audio tokenizer: 24 kHz waveform <-> 25 Hz RVQ codes (docs/FORMAT.md section 2)."""

from .config import TokenizerConfig, real_config, tiny_config
from .model import AudioTokenizer, MiMoAudioTokenizerModel, build_model, load_audio_tokenizer
from .streaming import StreamingDecoder

__all__ = ["AudioTokenizer", "MiMoAudioTokenizerModel", "StreamingDecoder", "TokenizerConfig",
           "build_model", "load_audio_tokenizer", "real_config", "tiny_config"]
