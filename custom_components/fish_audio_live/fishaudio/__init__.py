"""Fish Audio client layer: live sessions, REST calls, errors and audio framing.

Nothing here imports Home Assistant; the integration's modules one level up are
the thin Home Assistant glue on top of it.
"""
