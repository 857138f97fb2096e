"""Audio in: decoding, speech detection, windows, cleaning, pitch and energy."""
