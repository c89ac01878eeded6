"""Vietnamese speech: text normaliser, speech engines and the loudness-normalised audio pipeline.

Layers, from the bottom (the first three import nothing from Django, so the reference agent, the
benchmark and a command line can use them alone):

- `normalizer/`: written Vietnamese -> what a careful announcer says.
- `engines/`: espeak-ng, Piper and a generic HTTP service behind one `Engine` interface.
- `dsp.py`: decode, join, loudness-normalise (ITU-R BS.1770), limit the true peak, encode.
- `pipeline.py`: reading text -> normalised sentences -> one finished programme.
- `models.py`, `services.py`, `tasks.py`: settings per unit, content-addressed assets, jobs.
"""
