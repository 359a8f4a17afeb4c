"""Melodies: a variational autoencoder over monophonic melodies (MIDI in; MIDI, MusicXML, WAV out)."""
