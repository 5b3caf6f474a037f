"""Tests for the Fish Audio live integration."""
