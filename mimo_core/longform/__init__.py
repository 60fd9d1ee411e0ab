"""Long-form speech: pure building blocks to speak a chapter or a script segment by segment.

* :mod:`.split` cuts a long text into segments the model speaks well (``split_text``), and
  checks and reads long texts (``check_long_text``, ``read_text_file``);
* :mod:`.stitch` joins the spoken segments with pauses and short fades (``stitch``);
* :mod:`.script` parses multi-speaker scripts (``[Alice] Hello.``) and speaker-to-voice maps.

No module here needs the model or torch; they are meant to be composed by the task layer.
"""
