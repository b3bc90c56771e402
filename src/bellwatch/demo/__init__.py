"""The bellwatch demo: a scripted scenario now; the Bella reference service later."""
