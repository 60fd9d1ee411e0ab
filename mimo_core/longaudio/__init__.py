"""Long recordings: stream a file of up to hours in fixed blocks and cut it at pauses.

* :mod:`.blocks` opens a recording, refuses one that is too long from its header, and yields
  24 kHz float32 mono blocks, one at a time (``AudioBlocks``);
* :mod:`.cut` finds speech segments at pauses with a voice-activity detector (``cut_points``)
  and reads each segment's audio back (``segments_audio``).

Peak memory is one block (plus resampler and detector state), whatever the file's length.
"""
