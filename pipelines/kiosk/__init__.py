"""The kiosk: a face that attends whoever walks up (docs/KIOSK.md). The attendant
greets an arriving visitor and forgets one who left (attendant.py), its greeting and
goodbye come from the persona unless set (greeting_lines.py), visits are counted for
/metrics (visit_metrics.py), and `avatar-forcing kiosk install` writes the systemd
units that start it at boot (systemd_units.py; the command: pipelines/commands/kiosk.py)."""
