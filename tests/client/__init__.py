"""Tests of the client layer (no Home Assistant) against the emulator."""
